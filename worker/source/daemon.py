"""Start the KCL MultiLangDaemon (Java) that leases shards and runs one processor child per shard.

The properties file is generated from the one configuration object: the daemon silently ignores a
misspelled key, so keys are written from this single table and never by hand.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from worker.config import Config, ConfigError

MAIN_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"
LOGBACK = Path(__file__).with_name("logback.xml")


def jars_dir() -> Path:
    import amazon_kclpy

    path = Path(amazon_kclpy.__file__).parent / "jars"
    if not any(path.glob("amazon-kinesis-client-multilang-*.jar")):
        raise ConfigError(f"KCL jars: none in {path}; reinstall with `make deps` (it fetches them with Maven)")
    return path


def properties(cfg: Config, python: str = sys.executable) -> dict[str, str]:
    k = cfg.kinesis
    props: dict[str, str] = {
        "executableName": f"{python} -m worker processor",
        "streamName": k.stream_name,
        "applicationName": cfg.application_name,
        "workerId": cfg.worker_id,
        "regionName": k.region,
        "AwsCredentialsProvider": "DefaultCredentialsProvider",
        "initialPositionInStream": k.initial_position,
        "retrievalMode": k.retrieval_mode,
        "maxRecords": str(k.max_records),
        "idleTimeBetweenReadsInMillis": str(k.idle_time_between_reads_ms),
        # A heartbeat on idle shards lets the processor close idle work by record time.
        "callProcessRecordsEvenForEmptyRecordList": "true",
        "shutdownGraceMillis": str(k.shutdown_grace_ms),
        "metricsLevel": "NONE" if k.endpoint else "SUMMARY",
    }
    if k.initial_position == "AT_TIMESTAMP":
        # KCL's configurator refuses `initialPositionInStream = AT_TIMESTAMP` ("Invalid InitialPosition"):
        # the timestamp property alone says it (epoch seconds).
        del props["initialPositionInStream"]
        props["initialPositionInStreamExtended"] = str(int(k.initial_timestamp or 0))
    if k.endpoint:
        props["kinesisEndpoint"] = k.endpoint
    if k.dynamodb_endpoint:
        props["dynamoDBEndpoint"] = k.dynamodb_endpoint
    if k.fast_lease_timers:
        # Defaults make the first record arrive ~130 s after start; these bring it to seconds.
        props.update(
            shardSyncIntervalMillis="1000",
            leaseAssignmentIntervalMillis="2000",
            workerMetricsReporterFreqInMillis="2000",
            failoverTimeMillis="5000",
        )
    return props


def write_properties(cfg: Config, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{key} = {value}" for key, value in properties(cfg).items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def java_command(cfg: Config, props_file: Path) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise ConfigError("java: not found on PATH; install a Java 17+ runtime (e.g. openjdk-17-jre-headless)")
    cmd = [java, f"-Dlogback.configurationFile={LOGBACK}"]
    if cfg.kinesis.endpoint:
        # kinesalite answers broken CBOR above ~16 KB; JSON works with every server, AWS included.
        cmd.append("-Daws.cborEnabled=false")
    # Sized from the container's memory (cgroup limit; the host's RAM outside a container): a fixed -Xmx
    # 256m ran out of heap with maxRecords 10000 (MessageWriter.writeProcessRecordsMessage holds a whole
    # batch as JSON). FACEWATCH_DAEMON_HEAP=<size> pins it instead, e.g. for a benchmark.
    heap = os.environ.get("FACEWATCH_DAEMON_HEAP")
    cmd.append(f"-Xmx{heap}" if heap else f"-XX:MaxRAMPercentage={cfg.worker.daemon_heap_percent:g}")
    cmd += ["-cp", f"{jars_dir()}/*", MAIN_CLASS, "--properties-file", str(props_file)]
    return cmd


def run(cfg: Config, props_file: Path, env: dict[str, str]) -> None:
    """Replace this process by the daemon, so signals (SIGTERM from ECS or tini) reach the JVM."""
    write_properties(cfg, props_file)
    cmd = java_command(cfg, props_file)
    sys.stderr.flush()
    os.execve(cmd[0], cmd, env)
