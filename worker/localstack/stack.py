"""The embedded local stack: real servers on 127.0.0.1, started and stopped by the project itself.

kinesalite (behind nghttpx: the KCL speaks HTTP/2 with prior knowledge only), DynamoDB Local (leases),
a real OpenSearch node, and moto in server mode (S3, Firehose, SNS, SQS). Each is health-checked
before `up` returns; anything missing or in the way is reported as one line saying what to do.

Only OpenSearch keeps data on disk (`.run/data/opensearch`), and it keeps it across `down`/`up` and
across a crash: the node's `node.lock` is an OS lock that dies with the process, so a node killed
with -9 starts again on its own data. The other servers hold their state in memory. `reset` is the one
thing that deletes the OpenSearch data, and only while the stack is stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from worker.localstack.probes import aws_json_ok, http_ok, port_free, tail
from worker.localstack.processes import alive, data_in_use, in_use_message, pid_from, port_in_use

ROOT = Path(os.environ.get("FACEWATCH_HOME", Path.cwd()))
RUN = ROOT / ".run"
CACHE = ROOT / ".cache"
STACK_ENV = RUN / "stack.env"
LOGS = RUN / "logs"
PIDS = RUN / "pids"

DEFAULT_PORTS = {
    "kinesalite": 4565,
    "kinesis": 4567,
    "dynamodb": 4568,
    "moto": 4569,
    "opensearch": 9200,
    "opensearch_transport": 9300,
}
REGION = "us-east-1"


IN_MEMORY = {
    "kinesalite": "Kinesis streams and records",
    "dynamodb": "DynamoDB Local: the KCL lease tables",
    "moto": "S3 buckets and objects, Firehose delivery streams, SNS topics, SQS queues",
}


class StackError(RuntimeError):
    """One line: what is wrong with the local stack and what to do about it."""


def opensearch_data_dir() -> Path:
    """The only data the stack keeps on disk: OpenSearch's indices, templates and cluster state."""
    return RUN / "data" / "opensearch"


def port(name: str) -> int:
    value = os.environ.get(f"FACEWATCH_PORT_{name.upper()}")
    return int(value) if value else DEFAULT_PORTS[name]


def endpoints() -> dict[str, str]:
    return {
        "KINESIS_ENDPOINT": f"http://127.0.0.1:{port('kinesis')}",
        "DYNAMODB_ENDPOINT": f"http://127.0.0.1:{port('dynamodb')}",
        "OPENSEARCH_URL": f"http://127.0.0.1:{port('opensearch')}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port('moto')}",
    }


def stack_env() -> dict[str, str]:
    """Everything a tool or a worker needs to talk to the local stack."""
    return {
        **endpoints(),
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "FACEWATCH__OPENSEARCH__REPLICAS": "0",
        "FACEWATCH__KINESIS__FAST_LEASE_TIMERS": "true",
    }


@dataclass
class Service:
    name: str
    ports: list[int]
    command: list[str]
    health: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 90.0

    @property
    def log_path(self) -> Path:
        return LOGS / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return PIDS / f"{self.name}.pid"


def _need(tool: str, fix: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise StackError(f"{tool} not found on PATH: {fix}")
    return path


def _need_file(path: Path, what: str) -> Path:
    if not path.exists():
        raise StackError(f"{what} is not installed ({path} is missing): run `make deps`")
    return path


def _opensearch_status() -> str | None:
    try:
        url = f"http://127.0.0.1:{port('opensearch')}/_cluster/health"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return json.loads(resp.read()).get("status")
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _opensearch_ok() -> bool:
    return _opensearch_status() in ("green", "yellow")


def services() -> list[Service]:
    java = _need("java", "install a Java 17 JDK (Debian: openjdk-17-jdk-headless)")
    node = _need("node", "install Node.js 20 (Debian: nodejs)")
    nghttpx = _need("nghttpx", "install it with `apt-get install nghttp2-proxy` (`make deps` does)")
    node_modules = _need_file(CACHE / "node" / "node_modules", "kinesalite (npm)")
    classes = _need_file(CACHE / "classes", "the stack's Java launchers")
    ddb_jars = _need_file(CACHE / "jars" / "dynamodb", "DynamoDB Local (Maven)")
    os_jars = _need_file(CACHE / "jars" / "opensearch", "OpenSearch runner (Maven)")
    moto = _need_file(Path(sys.executable).with_name("moto_server"), "moto server (pip)")
    data = opensearch_data_dir()
    return [
        Service(
            "kinesalite",
            [port("kinesalite")],
            [node, str(ROOT / "stack" / "kinesalite" / "server.js"), str(port("kinesalite"))],
            health=lambda: port_in_use(port("kinesalite")),
            env={"NODE_PATH": str(node_modules)},
        ),
        Service(
            "kinesis-h2c",
            [port("kinesis")],
            [
                nghttpx,
                "--conf=/dev/null",
                f"--frontend=127.0.0.1,{port('kinesis')};no-tls",
                f"--backend=127.0.0.1,{port('kinesalite')}",
                "--workers=1",
                "--no-via",
                "--no-ocsp",
                "--backend-read-timeout=5m",
                "--frontend-read-timeout=5m",
                "--backend-keep-alive-timeout=5m",
            ],
            health=lambda: aws_json_ok(
                endpoints()["KINESIS_ENDPOINT"], "Kinesis_20131202.ListStreams", "application/x-amz-json-1.1"
            ),
        ),
        Service(
            "dynamodb",
            [port("dynamodb")],
            [
                java,
                "-Xmx384m",
                f"-Dsqlite4java.library.path={ddb_jars}",
                "-cp",
                f"{classes}:{ddb_jars}/*",
                "DynamoDbLocalLauncher",
                str(port("dynamodb")),
            ],
            health=lambda: aws_json_ok(
                endpoints()["DYNAMODB_ENDPOINT"], "DynamoDB_20120810.ListTables", "application/x-amz-json-1.0"
            ),
        ),
        Service(
            "opensearch",
            [port("opensearch"), port("opensearch_transport")],
            [
                java,
                "-Xms512m",
                "-Xmx512m",
                "-XX:+UseG1GC",
                "-cp",
                f"{classes}:{os_jars}/*",
                "OpenSearchLauncher",
                str(port("opensearch")),
                str(port("opensearch_transport")),
                str(data),
            ],
            health=_opensearch_ok,
            start_timeout_s=180.0,
        ),
        Service(
            "moto",
            [port("moto")],
            [str(moto), "-H", "127.0.0.1", "-p", str(port("moto"))],
            health=lambda: http_ok(f"{endpoints()['AWS_ENDPOINT_URL']}/moto-api/"),  # data.json grows with the state
        ),
    ]


def _pid(service: Service) -> int | None:
    return pid_from(service.pid_path)


def _running() -> dict[str, int]:
    """Every service of the stack whose recorded process is alive (no tool needs to be installed)."""
    if not PIDS.is_dir():
        return {}
    found = {path.stem: pid_from(path) for path in sorted(PIDS.glob("*.pid"))}
    return {name: pid for name, pid in found.items() if pid is not None}


_OPENSEARCH_DATA_ERRORS = (
    "cannot downgrade a node",
    "IndexFormatTooNewException",
    "IndexFormatTooOldException",
    "CorruptIndexException",
    "CorruptStateException",
    "TranslogCorruptedException",
    "failed to read [id:",
)


def _start_failure_hint(service: Service) -> str:
    if service.name != "opensearch":
        return ""
    try:
        text = service.log_path.read_text(errors="replace")
    except OSError:
        return ""
    data = opensearch_data_dir()
    if "failed to obtain node locks" in text:
        return f" (another OpenSearch node holds {data}: `ss -ltnp` and `ps` show it; stop it)"
    if any(marker in text for marker in _OPENSEARCH_DATA_ERRORS):
        return (
            f" (this OpenSearch cannot read the data in {data}; if you do not need it,"
            f" `python -m worker stack reset` deletes it, then start the stack again)"
        )
    return ""


def is_up() -> bool:
    try:
        return all(_pid(s) and s.health() for s in services())
    except StackError:
        return False


def up(log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> dict[str, str]:
    """Start every service that is not running, wait until all are healthy, write `.run/stack.env`."""
    all_services = services()
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    started: list[tuple[Service, subprocess.Popen]] = []
    for service in all_services:
        if _pid(service) is not None:
            continue
        for number in service.ports:
            if not port_free(number):
                raise StackError(
                    f"port {number} for {service.name} is taken: stop what holds it"
                    f" (`ss -ltnp 'sport = :{number}'`) or choose another with"
                    f" FACEWATCH_PORT_{_port_name(number).upper()}=<port>"
                )
        if service.name == "opensearch":
            # Never delete the data here: after a crash the node recovers it (the translog replays
            # what was acknowledged). Only a live node on the same folder would stop it from starting.
            data = opensearch_data_dir()
            in_use = data_in_use(data)
            if in_use:
                raise StackError(in_use_message(data, in_use))
            if data.exists():
                log(f"stack: opensearch keeps its data in {data} (`python -m worker stack reset` deletes it)")
        with service.log_path.open("wb") as out:
            proc = subprocess.Popen(
                service.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **service.env},
                cwd=ROOT,
                start_new_session=True,
            )
        service.pid_path.write_text(str(proc.pid))
        started.append((service, proc))
        log(f"stack: starting {service.name} (pid {proc.pid}, port {service.ports[0]})")
    for service in all_services:
        deadline = time.monotonic() + service.start_timeout_s
        child = next((p for s, p in started if s is service), None)
        while not service.health():
            if child is not None and child.poll() is not None:
                raise StackError(
                    f"{service.name} exited with code {child.returncode} during start-up{_start_failure_hint(service)};"
                    f" its log {service.log_path} ends: {tail(service.log_path)}"
                )
            if time.monotonic() > deadline:
                red = ""
                if service.name == "opensearch" and _opensearch_status() == "red":
                    red = (
                        f" (the cluster is red: an index in {opensearch_data_dir()} did not recover;"
                        f" `curl '{endpoints()['OPENSEARCH_URL']}/_cat/indices?health=red'` names it:"
                        f" delete that index, or `python -m worker stack reset` after `stack down`)"
                    )
                raise StackError(
                    f"{service.name} not healthy after {service.start_timeout_s:.0f} s{red};"
                    f" see {service.log_path}: {tail(service.log_path)}"
                )
            time.sleep(0.3)
        log(f"stack: {service.name} healthy")
    env = stack_env()
    STACK_ENV.write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    log(f"stack: up; endpoints in {STACK_ENV}")
    return env


def _port_name(number: int) -> str:
    return next((name for name in DEFAULT_PORTS if port(name) == number), "name")


def down(log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> None:
    """Stop every service of the stack (SIGTERM, then SIGKILL after 20 s)."""
    if not PIDS.is_dir():
        log("stack: not running")
        return
    pids: dict[str, int] = {}
    for pid_file in PIDS.glob("*.pid"):
        try:
            pids[pid_file.stem] = int(pid_file.read_text().strip())
        except ValueError:
            pass
        pid_file.unlink(missing_ok=True)
    for _name, pid in pids.items():
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            continue
    deadline = time.monotonic() + 20
    for name, pid in pids.items():
        while time.monotonic() < deadline:
            if not alive(pid):  # reaps it if it is our own child (tests start the stack)
                break
            time.sleep(0.2)
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        log(f"stack: stopped {name}")
    STACK_ENV.unlink(missing_ok=True)


def reset(log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> list[Path]:
    """Delete the data the stack keeps between runs: `.run/data/opensearch`, nothing else.

    Refuses while any service of the stack runs (and while any other process holds the OpenSearch
    folder's lock) instead of stopping it: the stack may be serving someone's demo, test or bench
    right now, and files deleted under a live node would corrupt it. Stop it first (`stack down`).
    Returns what was deleted."""
    data = opensearch_data_dir()
    running = _running()
    if running:
        names = ", ".join(f"{name} (pid {pid})" for name, pid in running.items())
        raise StackError(
            f"stack reset refused: the stack is running ({names}); stop it first with"
            f" `python -m worker stack down` (or `make stack-down`), then reset. Nothing was deleted"
        )
    in_use = data_in_use(data)
    if in_use:
        raise StackError(f"stack reset refused: {in_use_message(data, in_use)}")
    deleted: list[Path] = []
    if data.exists() or data.is_symlink():
        log(
            f"stack reset: deleting {data} (OpenSearch: every index and document, the index templates,"
            f" aliases and the cluster state)"
        )
        if data.is_symlink() or not data.is_dir():
            data.unlink()
        else:
            shutil.rmtree(data)
        deleted.append(data)
    else:
        log(f"stack reset: {data} does not exist: no OpenSearch data to delete")
    memory = "; ".join(f"{name} ({what})" for name, what in IN_MEMORY.items())
    log(
        f"stack reset: nothing else is on disk to delete: {memory} keep their state in memory only, and it"
        f" is gone whenever they stop. Kept: {LOGS} and the rest of {RUN}"
    )
    return deleted


def status() -> dict[str, bool]:
    return {s.name: bool(_pid(s)) and s.health() for s in services()}
