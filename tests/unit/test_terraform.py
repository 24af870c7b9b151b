"""The Terraform, checked offline (no provider registry here): parsed with python-hcl2, the wiring the
system depends on is asserted, not just the syntax."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from worker.config import ConfigError, load_config
from worker.ops.generations import replay_application

TF = Path(__file__).resolve().parents[2] / "infra" / "terraform"
MODULES = TF / "modules"
ENV = TF / "envs" / "prod"


def _clean(value: Any) -> Any:
    """python-hcl2 keeps the quotes of labels and string literals; drop them, and its bookkeeping keys."""
    if isinstance(value, dict):
        return {_unquote(k): _clean(v) for k, v in value.items() if k not in ("__is_block__", "__comments__")}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str):
        return _unquote(value)
    return value


def _unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def load_dir(path: Path) -> dict[str, list]:
    merged: dict[str, list] = {}
    for file in sorted(path.glob("*.tf")):
        with file.open() as handle:
            for key, items in _clean(hcl2.load(handle)).items():
                merged.setdefault(key, []).extend(items)
    return merged


def resources(parsed: dict, kind: str) -> dict[str, dict]:
    return {
        name: body
        for block in parsed.get("resource", [])
        for k, named in block.items()
        if k == kind
        for name, body in named.items()
    }


def data_sources(parsed: dict, kind: str) -> dict[str, dict]:
    return {
        name: body
        for block in parsed.get("data", [])
        for k, named in block.items()
        if k == kind
        for name, body in named.items()
    }


def modules_called(parsed: dict) -> dict[str, dict]:
    return {name: body for block in parsed.get("module", []) for name, body in block.items()}


def local_values(parsed: dict) -> dict[str, Any]:
    return {k: v for block in parsed.get("locals", []) for k, v in block.items()}


ALL_MODULES = {p.name: load_dir(p) for p in sorted(MODULES.iterdir()) if p.is_dir()}
ROOT = load_dir(ENV)


def test_every_camera_gets_a_processor_an_output_stream_and_a_pipe_into_the_detections_stream():
    cams = ALL_MODULES["cameras"]
    assert local_values(cams)["cameras"] == "${{for c in var.cameras : c.id => c}}"
    per_camera = {
        "aws_kinesis_video_stream": "camera",
        "aws_kinesis_stream": "results",
        "aws_rekognition_stream_processor": "camera",
        "aws_pipes_pipe": "camera",
    }
    for kind, name in per_camera.items():
        assert resources(cams, kind)[name]["for_each"] == "${local.cameras}", kind
    processor = resources(cams, "aws_rekognition_stream_processor")["camera"]
    assert processor["input"][0]["kinesis_video_stream"][0]["arn"] == "${aws_kinesis_video_stream.camera[each.key].arn}"
    assert processor["output"][0]["kinesis_data_stream"][0]["arn"] == "${aws_kinesis_stream.results[each.key].arn}"
    pipe = resources(cams, "aws_pipes_pipe")["camera"]
    assert pipe["source"] == "${aws_kinesis_stream.results[each.key].arn}"
    assert pipe["target"] == "${var.detections_stream_arn}"
    target = pipe["target_parameters"][0]
    # The camera is the partition key (one camera, one shard: its frames stay in order) ...
    assert target["kinesis_stream_parameters"][0]["partition_key"] == "${aws_kinesis_video_stream.camera[each.key].arn}"
    # ... and the record the workers parse is Rekognition's own JSON, not the pipe's envelope.
    assert target["input_template"] == "<$.data>"
    # The root feeds the cameras module the detections stream the workers read.
    assert modules_called(ROOT)["cameras"]["detections_stream_arn"] == "${module.stream.arn}"
    assert modules_called(ROOT)["workers"]["stream_arn"] == "${module.stream.arn}"


def test_autoscaling_never_runs_more_tasks_than_shards():
    scaling = ALL_MODULES["scaling"]
    target = resources(scaling, "aws_appautoscaling_target")["workers"]
    assert target["max_capacity"] == "${var.max_shards}"
    assert target["min_capacity"] == 1
    assert modules_called(ROOT)["scaling"]["max_shards"] == "${local.max_shards}"
    assert local_values(ROOT)["max_shards"] == "${var.on_demand ? var.max_workers_on_demand : var.shard_count}"
    assert modules_called(ROOT)["stream"]["shard_count"] == "${var.shard_count}"
    # Target tracking on open shards per running task; a step policy on iterator age.
    policy = resources(scaling, "aws_appautoscaling_policy")
    spec = policy["shards_per_task"]["target_tracking_scaling_policy_configuration"][0]
    assert spec["target_value"] == "${var.shards_per_task}"
    metrics = {m["id"]: m for m in spec["customized_metric_specification"][0]["metrics"]}
    assert metrics["shards"]["metric_stat"][0]["metric"][0]["metric_name"] == "OpenShardCount"
    assert metrics["tasks"]["metric_stat"][0]["metric"][0]["metric_name"] == "RunningTaskCount"
    assert metrics["shards_per_task"]["return_data"] is True
    assert policy["iterator_age"]["policy_type"] == "StepScaling"
    alarm = resources(scaling, "aws_cloudwatch_metric_alarm")["iterator_age_scale_out"]
    assert alarm["metric_name"] == "GetRecords.IteratorAgeMilliseconds"
    assert alarm["alarm_actions"] == ["${aws_appautoscaling_policy.iterator_age.arn}"]


def test_the_shard_count_function_publishes_the_metric_target_tracking_reads():
    source = (MODULES / "scaling" / "src" / "shard_count.py").read_text()
    assert '"MetricName": "OpenShardCount"' in source
    assert '"AT_LATEST"' in source  # open shards only: closed parents of a split hold no lease work


# Actions AWS offers no resource-level permission for: "*" is the only valid resource.
NO_RESOURCE_LEVEL = {
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
}


def _policy_documents() -> list[tuple[str, str, dict]]:
    docs = [
        (f"modules/{m}", name, body)
        for m, parsed in ALL_MODULES.items()
        for name, body in data_sources(parsed, "aws_iam_policy_document").items()
    ]
    docs += [("envs/prod", name, body) for name, body in data_sources(ROOT, "aws_iam_policy_document").items()]
    return docs


def test_every_iam_policy_names_its_resources():
    docs = _policy_documents()
    assert len(docs) >= 10
    for where, name, body in docs:
        statements = body.get("statement", [])
        statements += [d["content"][0] for d in body.get("dynamic", []) for d in d.values()]
        for statement in statements:
            resources_ = statement.get("resources", [])
            if statement["actions"] == ["sts:AssumeRole"]:
                assert not resources_ and statement["principals"], f"{where} {name}: a trust policy names its principal"
                continue
            if isinstance(resources_, str) or "*" not in resources_:  # a str is an expression naming ARNs
                assert resources_, f"{where} {name}: a statement without resources"
                continue
            if where == "envs/prod" and name == "key":
                continue  # a key policy's "*" is the key itself
            actions = set(statement["actions"])
            assert actions <= NO_RESOURCE_LEVEL, f"{where} {name}: '*' for {actions - NO_RESOURCE_LEVEL}"


def test_every_wildcard_resource_says_why_in_place():
    for file in TF.rglob("*.tf"):
        for number, line in enumerate(file.read_text().splitlines(), 1):
            if re.search(r'resources\s*=\s*\["\*"\]', line):
                assert "AWS requires" in line or "key policy" in line, f"{file}:{number}: '*' without its reason"


def test_every_stream_bucket_topic_domain_and_log_group_is_encrypted():
    for module, parsed in ALL_MODULES.items():
        for name, stream in resources(parsed, "aws_kinesis_stream").items():
            assert stream["encryption_type"] == "KMS" and stream["kms_key_id"], f"{module} stream {name}"
        for name, video in resources(parsed, "aws_kinesis_video_stream").items():
            assert video["kms_key_id"], f"{module} video stream {name}"
        for name, topic in resources(parsed, "aws_sns_topic").items():
            assert topic["kms_master_key_id"], f"{module} topic {name}"
        for name, group in resources(parsed, "aws_cloudwatch_log_group").items():
            assert group["kms_key_id"], f"{module} log group {name}"
        for name, stream in resources(parsed, "aws_kinesis_firehose_delivery_stream").items():
            assert stream["server_side_encryption"][0]["enabled"] is True, f"{module} firehose {name}"
        for name, processor in resources(parsed, "aws_rekognition_stream_processor").items():
            assert processor["kms_key_id"], f"{module} stream processor {name}"
        for _name, repo in resources(parsed, "aws_ecr_repository").items():
            assert repo["encryption_configuration"][0]["encryption_type"] == "KMS"
        # Buckets are made only by the bucket module, which always encrypts.
        if module != "bucket":
            assert not resources(parsed, "aws_s3_bucket"), f"{module} makes a bucket outside modules/bucket"
    bucket = ALL_MODULES["bucket"]
    sse = resources(bucket, "aws_s3_bucket_server_side_encryption_configuration")["this"]
    rule = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert rule["sse_algorithm"] == '${var.kms_key_arn == null ? "AES256" : "aws:kms"}'
    assert resources(bucket, "aws_s3_bucket_public_access_block")["this"]["block_public_acls"] is True
    # Only the access-log bucket (S3 logging cannot deliver to SSE-KMS) goes without the key.
    callers = [
        (name, body)
        for parsed in [ROOT, *ALL_MODULES.values()]
        for name, body in modules_called(parsed).items()
        if body["source"].endswith("/bucket")
    ]
    assert len(callers) == 3
    assert [name for name, body in callers if "kms_key_arn" not in body] == ["access_logs"]
    domain = resources(ALL_MODULES["opensearch"], "aws_opensearch_domain")["this"]
    assert domain["encrypt_at_rest"][0]["enabled"] is True
    assert domain["node_to_node_encryption"][0]["enabled"] is True
    assert domain["domain_endpoint_options"][0]["enforce_https"] is True
    assert domain["advanced_security_options"][0]["enabled"] is True
    assert domain["vpc_options"][0]["subnet_ids"] == "${var.subnet_ids}"


def test_versions_are_pinned():
    terraform = ROOT["terraform"][0]
    assert terraform["required_version"].startswith(">=")
    providers = terraform["required_providers"][0]
    assert set(providers) == {"aws", "archive"}
    assert all(p["version"].startswith("~>") for p in providers.values())


# Values of the expressions the task environments are made of, as a deployment would have them.
ENV_SAMPLES = {
    "var.stream_name": "facewatch-prod-detections",
    "var.application_name": "facewatch-prod-workers",
    "var.log_level": "info",
    "var.region": "eu-west-1",
    "tostring(local.grace_ms)": "105000",
    "tostring(var.daemon_heap_percent)": "40",
    "var.opensearch_endpoint": "https://vpc-facewatch.eu-west-1.es.amazonaws.com",
    "var.raw_stream_name": "facewatch-prod-raw",
    "var.tracks_stream_name": "facewatch-prod-tracks",
    "var.quarantine_bucket": "facewatch-prod-quarantine-123456789012",
    "var.alert_topic_arn": "arn:aws:sns:eu-west-1:123456789012:facewatch-prod-alerts",
    "var.cameras_json": (
        '[{"id": "hq-lobby-1", "stream_arn": "arn:aws:kinesisvideo:eu-west-1:1:stream/hq-lobby-1/1", "site": "hq"}]'
    ),
    "var.webhook_url": "",
    "var.zones_json": '[{"zone": "hq-lab", "allowed": ["emp-0001"]}]',
    "var.archive_bucket": "facewatch-prod-archive-123456789012",
}


def _evaluate_env(env_expr: dict[str, str], samples: dict[str, str]) -> dict[str, str]:
    env = {}
    for key, value in env_expr.items():
        expression = value.removeprefix("${").removesuffix("}") if value.startswith("${") else None
        if expression is not None and expression.startswith("local."):
            expression = local_values(ALL_MODULES["workers"])[expression.removeprefix("local.")]
            env[key] = expression
        else:
            env[key] = samples[expression] if expression else value
    return env


def worker_env(samples: dict[str, str] = ENV_SAMPLES) -> dict[str, str]:
    return _evaluate_env(local_values(ALL_MODULES["workers"])["environment"], samples)


def replay_env(samples: dict[str, str] = ENV_SAMPLES) -> dict[str, str]:
    """local.replay_environment: merge(local.environment, {KEY = value, ...}), evaluated."""
    expression = local_values(ALL_MODULES["workers"])["replay_environment"]
    match = re.fullmatch(r"\$\{merge\(local\.environment, \{(.*)\}\)\}", expression)
    assert match, f"replay_environment is no longer merge(local.environment, {{...}}): {expression}"
    extra = {
        key: (value[1:-1] if value.startswith('"') else "${" + value + "}")
        for key, value in re.findall(r'(\w+) = ("[^"]*"|[\w.]+)', match.group(1))
    }
    return {**worker_env(samples), **_evaluate_env(extra, samples)}


def test_the_task_environment_is_a_configuration_the_worker_accepts():
    """Every FACEWATCH_* variable the task definition sets must be a key load_config knows: a misspelt
    one would stop every task at start."""
    env = worker_env()
    assert env["FACEWATCH__OPENSEARCH__AUTH"] == "sigv4"
    cfg = load_config(env=env, stack_env_file=None)
    assert cfg.kinesis.stream_name == "facewatch-prod-detections"
    assert cfg.application_name == "facewatch-prod-workers"
    assert cfg.kinesis.shutdown_grace_ms == 105000
    assert cfg.worker.daemon_heap_percent == 40  # the JVM sized from the task's memory, not -Xmx256m
    assert cfg.quarantine.bucket == "facewatch-prod-quarantine-123456789012"
    assert cfg.alerts.sns_topic_arn.endswith(":facewatch-prod-alerts")
    assert len(cfg.cameras) == 1
    assert dict(cfg.zones) == {"hq-lab": frozenset({"emp-0001"})}
    with pytest.raises(ConfigError):  # the check above can fail: a misspelt key is refused
        load_config(env={**env, "FACEWATCH__OPENSEARCH__AUTHH": "sigv4"}, stack_env_file=None)


def test_the_webhook_secret_reaches_the_task_as_an_ecs_secret_only_the_execution_role_can_read():
    workers = ALL_MODULES["workers"]
    secrets = local_values(workers)["secrets"]
    assert "FACEWATCH__ALERTS__WEBHOOK_SECRET" in secrets and "valueFrom = var.webhook_secret_arn" in secrets
    assert "WEBHOOK_SECRET" not in str(local_values(workers)["environment"])  # never a plain variable
    container = resources(workers, "aws_ecs_task_definition")["worker"]["container_definitions"]
    assert re.search(r"secrets\W+local\.secrets", container)
    execution = data_sources(workers, "aws_iam_policy_document")["execution"]
    dynamic = [d["statement"] for d in execution.get("dynamic", []) if "statement" in d]
    assert dynamic and dynamic[0]["content"][0]["actions"] == ["secretsmanager:GetSecretValue"]
    assert dynamic[0]["content"][0]["resources"] == ["${statement.value}"]
    task = data_sources(workers, "aws_iam_policy_document")["task"]
    assert "secretsmanager" not in str(task)  # the worker's own role never reads it


def test_stop_timeout_leaves_the_daemon_time_to_drain():
    workers = ALL_MODULES["workers"]
    assert local_values(workers)["grace_ms"] == "${(var.stop_timeout_s - 15) * 1000}"
    container = resources(workers, "aws_ecs_task_definition")["worker"]["container_definitions"]
    assert re.search(r"stopTimeout\W+var\.stop_timeout_s", container)
    assert re.search(r"command\W+\[\W*CMD\W+facewatch\W+health", container)  # the image's health command


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed on this machine")
def test_terraform_fmt_is_clean():
    result = subprocess.run(
        ["terraform", "fmt", "-recursive", "-check", str(TF)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"},
    )
    assert result.returncode == 0, f"terraform fmt would change: {result.stdout}"


def test_the_camera_registry_passes_business_hours_and_per_camera_rules_in_the_keys_the_worker_reads():
    from worker.config.__init__ import CAMERA_KEYS

    expression = local_values(ROOT)["cameras_json"]
    keys = set(re.findall(r"(\w+)\s*=", expression)) - {"c"}
    assert {"business_hours", "alert_rules", "timezone", "zone"} <= keys
    assert keys <= set(CAMERA_KEYS) | {"id"}  # a key the worker does not know would stop every task
    variable = next(v for block in ROOT["variable"] for k, v in block.items() if k == "cameras")
    assert "alert_rules" in str(variable["type"]) and "business_hours" in str(variable["type"])


# ---- the replay task ----


def outputs(parsed: dict) -> dict[str, dict]:
    return {name: body for block in parsed.get("output", []) for name, body in block.items()}


def variables(parsed: dict) -> dict[str, dict]:
    return {name: body for block in parsed.get("variable", []) for name, body in block.items()}


def _statements(document: dict) -> list[dict]:
    statements = list(document.get("statement", []))
    statements += [d["content"][0] for d in document.get("dynamic", []) for d in d.values()]
    return statements


def replay_statements() -> list[dict]:
    return _statements(data_sources(ALL_MODULES["workers"], "aws_iam_policy_document")["replay"])


def test_the_replay_task_runs_the_worker_image_with_its_own_role_and_only_with_a_command_override():
    workers = ALL_MODULES["workers"]
    tasks = resources(workers, "aws_ecs_task_definition")
    replay, worker = tasks["replay"], tasks["worker"]
    assert replay["family"] == "${var.name_prefix}-replay" != worker["family"]
    assert replay["requires_compatibilities"] == ["FARGATE"] and replay["network_mode"] == "awsvpc"
    container, worker_container = replay["container_definitions"], worker["container_definitions"]
    image = re.compile(r"\bimage = local\.image\b")
    assert image.search(container) and image.search(worker_container)  # the very image the fleet runs
    # Its own role; the worker's execution role pulls the image and writes the logs.
    assert replay["task_role_arn"] == "${aws_iam_role.replay.arn}" != worker["task_role_arn"]
    assert replay["execution_role_arn"] == worker["execution_role_arn"]
    assert resources(workers, "aws_iam_role")["replay"]["assume_role_policy"] == (
        "${data.aws_iam_policy_document.ecs_trust.json}"
    )
    # The image's entry point is the daemon: the replay task replaces it with the plain command line,
    # whose default only prints the usage, so nothing happens without a command override.
    assert 'entryPoint = ["/usr/bin/tini", "--", "facewatch"]' in container
    assert 'command = ["replay", "--help"]' in container
    assert "entryPoint" not in worker_container and not re.search(r'command = \[(?!"CMD")', worker_container)
    dockerfile = (TF.parents[1] / "docker" / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["/usr/bin/tini", .*"facewatch", "run"', dockerfile, re.MULTILINE)
    assert "healthCheck" not in container  # `facewatch health` watches a daemon's heartbeats: a replay has none
    assert "secrets" not in container  # no webhook secret: a replay sends no alert
    # A read-only root: the working directory is the writable /tmp (the replay's .run/ for its workers).
    assert "readonlyRootFilesystem = true" in container and 'workingDirectory = "/tmp"' in container
    assert re.search(r"environment = \[for k in sort\(keys\(local\.replay_environment\)\)", container)
    # Its own log group and stream prefix, off the worker log group the fleet's alarms filter.
    assert "awslogs-group = aws_cloudwatch_log_group.replay.name" in container
    assert 'awslogs-stream-prefix = "replay"' in container
    assert resources(workers, "aws_cloudwatch_log_group")["replay"]["kms_key_id"] == "${var.kms_key_arn}"
    logs = next(
        s for s in data_sources(workers, "aws_iam_policy_document")["execution"]["statement"] if s["sid"] == "Logs"
    )
    assert "${aws_cloudwatch_log_group.replay.arn}:*" in logs["resources"]
    # Sized on its own (several KCL daemons in one task), set from the environment.
    assert (replay["cpu"], replay["memory"]) == ("${var.replay_cpu}", "${var.replay_memory}")
    assert variables(workers)["replay_cpu"]["default"] == 2048
    assert variables(workers)["replay_memory"]["default"] == 4096
    call = modules_called(ROOT)["workers"]
    assert (call["replay_cpu"], call["replay_memory"]) == ("${var.replay_cpu}", "${var.replay_memory}")
    assert variables(ROOT)["replay_cpu"]["default"] == 2048 and variables(ROOT)["replay_memory"]["default"] == 4096
    # Never a service: it runs once per `aws ecs run-task`.
    assert all(
        s["task_definition"] != "${aws_ecs_task_definition.replay.arn}"
        for s in resources(workers, "aws_ecs_service").values()
    )


def test_the_replay_environment_is_the_workers_plus_the_archive_and_no_way_to_alert():
    with_webhook = {**ENV_SAMPLES, "var.webhook_url": "https://soc.example.com/facewatch/alerts"}
    env = replay_env(with_webhook)
    live = worker_env(with_webhook)
    assert {k: v for k, v in env.items() if k in live and env[k] != live[k]} == {
        "FACEWATCH__ALERTS__SNS_TOPIC_ARN": "",
        "FACEWATCH__ALERTS__WEBHOOK_URL": "",
    }
    assert set(env) - set(live) == {
        "FACEWATCH__FIREHOSE__ARCHIVE_BUCKET",
        "FACEWATCH__FIREHOSE__ENABLED",
        "FACEWATCH__QUARANTINE__PREFIX",
    }
    assert env["FACEWATCH__FIREHOSE__ARCHIVE_BUCKET"] == "facewatch-prod-archive-123456789012"
    # Loads without the webhook secret the task does not get, though the live fleet has a webhook.
    cfg = load_config(env=env, stack_env_file=None)
    assert cfg.firehose.archive_bucket == "facewatch-prod-archive-123456789012"
    assert cfg.firehose.raw_stream == "facewatch-prod-raw"  # the archive prefix the role may read
    assert cfg.firehose.enabled is False
    assert cfg.alerts.sns_topic_arn == "" and cfg.alerts.webhook_url == ""
    assert cfg.application_name == "facewatch-prod-workers"  # replay_application() derives its own from it
    # The dead-letter prefix the role may write under is the one the workers use.
    assert cfg.quarantine.prefix == load_config(env=worker_env(), stack_env_file=None).quarantine.prefix
    assert local_values(ALL_MODULES["workers"])["quarantine_prefix"] == cfg.quarantine.prefix
    with pytest.raises(ConfigError):  # the check above can fail: a webhook without its secret is refused
        load_config(env={**env, "FACEWATCH__ALERTS__WEBHOOK_URL": "https://soc.example.com/x"}, stack_env_file=None)
    # The root wires the archive the module reads.
    call = modules_called(ROOT)["workers"]
    assert call["archive_bucket"] == "${module.archive.bucket}"
    assert call["archive_bucket_arn"] == "${module.archive.bucket_arn}"


def test_the_replay_role_has_no_firehose_sns_ecs_or_secret_permission():
    statements = replay_statements()
    actions = {a for s in statements for a in s["actions"]}
    assert {"kinesis:GetRecords", "es:ESHttpPut", "s3:GetObject", "dynamodb:CreateTable"} <= actions
    forbidden = ("firehose:", "sns:", "ecs:", "iam:", "secretsmanager:", "lambda:", "kinesis:Put", "*")
    assert not [a for a in actions if a.startswith(forbidden) or a.endswith(":*")], actions
    assert all(s.get("effect", "Allow") == "Allow" for s in statements)
    # Nothing else is attached to the role.
    workers = ALL_MODULES["workers"]
    policies = [
        p for p in resources(workers, "aws_iam_role_policy").values() if p["role"] == "${aws_iam_role.replay.id}"
    ]
    assert policies == [resources(workers, "aws_iam_role_policy")["replay"]]
    assert policies[0]["policy"] == "${data.aws_iam_policy_document.replay.json}"
    assert not resources(workers, "aws_iam_role_policy_attachment")
    # KCL metrics under the replay application's name only, never the live fleet's namespaces.
    metrics = next(s for s in statements if s["actions"] == ["cloudwatch:PutMetricData"])
    (condition,) = metrics["condition"]
    assert condition["variable"] == "cloudwatch:namespace" and condition["values"] == ["${local.replay_tables}"]
    # S3: read the raw archive, write dead letters under the replay prefix; nothing else.
    s3 = {a: s["resources"] for s in statements for a in s["actions"] if a.startswith("s3:")}
    assert s3 == {
        "s3:ListBucket": ["${var.archive_bucket_arn}"],
        "s3:GetObject": ["${var.archive_bucket_arn}/${var.raw_stream_name}/*"],
        "s3:PutObject": ["${var.quarantine_bucket_arn}/${local.quarantine_prefix}replay-*"],
    }
    # The domain lets the replay role in (its access policy names each principal).
    access = data_sources(ALL_MODULES["opensearch"], "aws_iam_policy_document")["access"]
    assert "${var.replay_role_arn}" in access["statement"][0]["principals"][0]["identifiers"]
    assert modules_called(ROOT)["opensearch"]["replay_role_arn"] == "${module.workers.replay_task_role_arn}"


DYNAMODB_READS = {"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query"}
DYNAMODB_DESCRIBES = {"dynamodb:DescribeContinuousBackups"}


def _table_names(resource: str, application: str) -> str:
    """A table ARN expression of the workers module as the table name (pattern) it stands for."""
    replay_tables = local_values(ALL_MODULES["workers"])["replay_tables"]
    resource = resource.replace("${local.replay_tables}", replay_tables).replace("${var.application_name}", application)
    assert resource.startswith("${local.table_arn}/"), resource
    return resource.removeprefix("${local.table_arn}/")


def test_the_replay_role_writes_dynamodb_only_on_replay_tables_and_moves_live_checkpoints_only():
    application = ENV_SAMPLES["var.application_name"]
    live_tables = [application, f"{application}-CoordinatorState", f"{application}-WorkerMetricStats"]
    replay = replay_application(application, "fix_2026_12_01")
    replay_tables = [replay, f"{replay}-CoordinatorState", f"{replay}-WorkerMetricStats"]
    granted: dict[str, set[str]] = {}  # table (pattern) -> actions
    for statement in replay_statements():
        dynamodb = {a for a in statement["actions"] if a.startswith("dynamodb:")}
        if not dynamodb:
            continue
        assert dynamodb == set(statement["actions"]), "DynamoDB actions in a statement of their own"
        for resource in statement["resources"]:
            granted.setdefault(_table_names(resource, application), set()).update(dynamodb)
    writes = {t: a - DYNAMODB_READS - DYNAMODB_DESCRIBES for t, a in granted.items()}
    for pattern, actions in writes.items():
        if not actions:
            continue
        for table in live_tables:
            if fnmatch.fnmatchcase(table, pattern) or fnmatch.fnmatchcase(f"{table}/index/x", pattern):
                # The live lease table: checkpoints export reads it, replay --to-... moves its checkpoints.
                assert table == application and pattern == application, (pattern, actions)
                assert actions == {"dynamodb:UpdateItem"}, actions
    assert granted[application] == {
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
    }
    # Every other write is on the replay application's three tables (and their indexes), which it
    # creates, uses and deletes (replay run when done; replay drop).
    replay_patterns = [p for p in granted if p != application]
    assert replay_patterns and all("-replay-" in p for p in replay_patterns)
    for table in replay_tables:
        assert any(fnmatch.fnmatchcase(table, p) for p in replay_patterns), table
        assert any(fnmatch.fnmatchcase(f"{table}/index/LeaseOwnerToLeaseKeyIndex", p) for p in replay_patterns)
    lease_management = {
        "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable",
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan",
        "dynamodb:Query",
    }  # fmt: skip
    assert all(lease_management <= granted[p] for p in replay_patterns)
    for table in live_tables:  # no pattern of the replay's matches a live table
        assert not any(fnmatch.fnmatchcase(table, p) for p in replay_patterns), table
    # The pattern is the one worker/ops/generations.py replay_application() names its applications by.
    assert local_values(ALL_MODULES["workers"])["replay_tables"] == "${var.application_name}-replay-*"


def test_the_stream_keeps_seven_days_by_default_and_the_root_sets_it():
    variable = variables(ROOT)["stream_retention_hours"]
    assert variable["type"] == "number" and variable["default"] == 168
    (validation,) = variable["validation"]
    assert validation["condition"] == "${var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760}"
    assert "--from-archive" in variable["description"]
    assert modules_called(ROOT)["stream"]["retention_hours"] == "${var.stream_retention_hours}"
    stream = ALL_MODULES["stream"]
    assert variables(stream)["retention_hours"]["default"] == 168
    assert resources(stream, "aws_kinesis_stream")["this"]["retention_period"] == "${var.retention_hours}"
    with (ENV / "terraform.tfvars.example").open() as handle:
        assert hcl2.load(handle)["stream_retention_hours"] == 168


def test_the_replay_run_command_runs_the_replay_task_on_the_worker_network():
    workers = ALL_MODULES["workers"]
    out = outputs(workers)
    assert out["replay_task_definition"]["value"] == "${aws_ecs_task_definition.replay.family}"
    command = out["replay_run_command"]["value"]
    for part in (
        "aws ecs run-task --region ${var.region}",
        "--cluster ${aws_ecs_cluster.this.name}",
        "--task-definition ${aws_ecs_task_definition.replay.family}",
        "--launch-type FARGATE",
        "--overrides '${local.replay_overrides}'",
    ):
        assert part in command, part
    # The network of the worker service: its subnets and security group, no public IP.
    network = resources(workers, "aws_ecs_service")["worker"]["network_configuration"][0]
    vpc = re.search(r"awsvpcConfiguration=\{subnets=\[(.*?)\],securityGroups=\[(.*?)\],assignPublicIp=(\w+)\}", command)
    assert vpc, command
    assert vpc.group(1) == network["subnets"].replace("${var.subnet_ids}", '${join(",", var.subnet_ids)}')
    assert [vpc.group(2)] == network["security_groups"]
    assert vpc.group(3) == "DISABLED" and network["assign_public_ip"] is False
    # The overrides, rendered as Terraform would: JSON naming the replay container and a `replay run`.
    local = local_values(workers)
    rendered = (
        local["replay_overrides"]
        .replace('\\"', '"')
        .replace(
            '${join(",", [for a in local.replay_example : ""${a}""])}',
            ",".join(f'"{a}"' for a in local["replay_example"]),
        )
        .replace("${local.replay_container}", local["replay_container"])
    )
    (override,) = json.loads(rendered)["containerOverrides"]
    assert (
        "name = local.replay_container"
        in resources(workers, "aws_ecs_task_definition")["replay"]["container_definitions"]
    )
    assert override["name"] == local["replay_container"]
    assert override["command"][:2] == ["replay", "run"]
    args = dict(zip(override["command"][2::2], override["command"][3::2], strict=True))
    assert set(args) == {"--from", "--until", "--generation", "--worker-logs"}
    assert args["--worker-logs"] == "-"  # the workers' logs go to the task's log, not a file in it
    # The root prints it.
    root = outputs(ROOT)
    assert root["replay_run_command"]["value"] == "${module.workers.replay_run_command}"
    assert root["replay_task_definition"]["value"] == "${module.workers.replay_task_definition}"
