# The worker fleet: an ECR repository, an ECS cluster and a Fargate service whose tasks each run one
# KCL MultiLangDaemon. The service's desired count belongs to Application Auto Scaling (../scaling).
data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account    = data.aws_caller_identity.current.account_id
  table_arn  = "arn:${data.aws_partition.current.partition}:dynamodb:${var.region}:${local.account}:table"
  kcl_tables = [var.application_name, "${var.application_name}-WorkerMetricStats", "${var.application_name}-CoordinatorState"]
  image      = "${aws_ecr_repository.worker.repository_url}:${var.image_tag}"
  grace_ms   = (var.stop_timeout_s - 15) * 1000 # leaves the JVM time to exit after the processors drained
  environment = {
    FACEWATCH_STREAM                       = var.stream_name
    FACEWATCH_APPLICATION                  = var.application_name
    FACEWATCH_LOG_LEVEL                    = var.log_level
    FACEWATCH_CAMERAS                      = var.cameras_json
    FACEWATCH__KINESIS__REGION             = var.region
    FACEWATCH__KINESIS__SHUTDOWN_GRACE_MS  = tostring(local.grace_ms)
    FACEWATCH__WORKER__DAEMON_HEAP_PERCENT = tostring(var.daemon_heap_percent)
    FACEWATCH__OPENSEARCH__URL             = var.opensearch_endpoint
    FACEWATCH__OPENSEARCH__AUTH            = "sigv4"
    FACEWATCH__FIREHOSE__RAW_STREAM        = var.raw_stream_name
    FACEWATCH__FIREHOSE__TRACKS_STREAM     = var.tracks_stream_name
    FACEWATCH__QUARANTINE__BUCKET          = var.quarantine_bucket
    FACEWATCH__ALERTS__SNS_TOPIC_ARN       = var.alert_topic_arn
    FACEWATCH__ALERTS__WEBHOOK_URL         = var.webhook_url
    FACEWATCH_ZONES                        = var.zones_json
    AWS_REGION                             = var.region
  }
  # The replay task (below): the workers' configuration plus the archive it reads with --from-archive,
  # minus every way out it has no permission for (Firehose, SNS, the webhook: replayed alerts are indexed).
  quarantine_prefix = "quarantine/" # worker/config quarantine.prefix; a replay writes <prefix>replay-<generation>/
  replay_environment = merge(local.environment, {
    FACEWATCH__FIREHOSE__ARCHIVE_BUCKET = var.archive_bucket
    FACEWATCH__FIREHOSE__ENABLED        = "false"
    FACEWATCH__QUARANTINE__PREFIX       = local.quarantine_prefix
    FACEWATCH__ALERTS__SNS_TOPIC_ARN    = ""
    FACEWATCH__ALERTS__WEBHOOK_URL      = ""
  })
  replay_tables    = "${var.application_name}-replay-*" # worker/ops/generations.py replay_application, and its KCL 3 tables
  replay_container = "replay"
  replay_example   = ["replay", "run", "--from", "<FROM_ISO8601>", "--until", "<UNTIL_ISO8601>", "--generation", "<NAME>", "--worker-logs", "-"]
  # JSON by hand: jsonencode would write < and > as \u003c and \u003e.
  replay_overrides = "{\"containerOverrides\":[{\"name\":\"${local.replay_container}\",\"command\":[${join(",", [for a in local.replay_example : "\"${a}\""])}]}]}"
  # Read by the ECS agent at task start (the execution role), never stored in the task definition.
  secrets = var.webhook_secret_arn == "" ? [] : [
    { name = "FACEWATCH__ALERTS__WEBHOOK_SECRET", valueFrom = var.webhook_secret_arn },
  ]
}

resource "aws_ecr_repository" "worker" {
  name                 = "${var.name_prefix}-worker"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "worker" {
  repository = aws_ecr_repository.worker.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 30 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 30 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "this" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = "enabled" # RunningTaskCount per service: the denominator of the shards-per-task metric
  }
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/ecs/${var.name_prefix}-worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_security_group" "worker" {
  name        = "${var.name_prefix}-worker"
  description = "facewatch workers: no inbound; HTTPS out to AWS APIs and OpenSearch"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.worker.id
  description       = "HTTPS to AWS service endpoints and the OpenSearch domain"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name_prefix}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp" # the only writable path: properties file, heartbeats, JVM temp files
  }

  container_definitions = jsonencode([{
    name                   = "worker"
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    stopTimeout            = var.stop_timeout_s
    environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets                = local.secrets
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    healthCheck = {
      command     = ["CMD", "facewatch", "health"]
      interval    = 30
      timeout     = 10
      retries     = 3
      startPeriod = 120
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.worker.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "worker"
      }
    }
  }])

  lifecycle {
    precondition {
      condition     = (var.webhook_url == "") == (var.webhook_secret_arn == "")
      error_message = "An alert webhook needs both webhook_url and webhook_secret_arn (a Secrets Manager secret holding the whsec_ secret); set both or neither."
    }
    precondition {
      condition     = length(var.cameras_json) + length(var.zones_json) < 48000
      error_message = "The camera registry is too large for a container environment variable (ECS allows 64 KiB for all container definitions); split the fleet per site."
    }
  }
}

resource "aws_ecs_service" "worker" {
  name                               = "${var.name_prefix}-worker"
  cluster                            = aws_ecs_cluster.this.id
  task_definition                    = aws_ecs_task_definition.worker.arn
  launch_type                        = "FARGATE"
  desired_count                      = 1
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.worker.id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by Application Auto Scaling
  }
}

# ---- IAM ----
data "aws_iam_policy_document" "ecs_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = "${var.name_prefix}-worker-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_trust.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "PullImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.worker.arn]
  }
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # AWS requires "*": GetAuthorizationToken has no resource-level permissions
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*", "${aws_cloudwatch_log_group.replay.arn}:*"]
  }
  statement {
    sid       = "DecryptImage"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  dynamic "statement" {
    for_each = var.webhook_secret_arn == "" ? [] : [var.webhook_secret_arn]
    content {
      sid       = "WebhookSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-and-log"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name               = "${var.name_prefix}-worker-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_trust.json
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "ReadDetections"
    actions = [
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator",
      "kinesis:ListShards", "kinesis:SubscribeToShard", "kinesis:RegisterStreamConsumer", "kinesis:DescribeStreamConsumer",
    ]
    resources = [var.stream_arn, "${var.stream_arn}/consumer/*"]
  }
  statement {
    sid = "KclTables"
    actions = [
      "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:GetItem", "dynamodb:PutItem",
      "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:DescribeContinuousBackups",
      "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource",
    ]
    resources = flatten([for t in local.kcl_tables : ["${local.table_arn}/${t}", "${local.table_arn}/${t}/index/*"]])
  }
  statement {
    sid       = "KclMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # AWS requires "*": PutMetricData has no resource-level permissions; limited by namespace below
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.application_name, "facewatch"]
    }
  }
  statement {
    sid       = "Archive"
    actions   = ["firehose:PutRecordBatch", "firehose:DescribeDeliveryStream"]
    resources = var.delivery_stream_arns
  }
  statement {
    sid       = "DeadLetters"
    actions   = ["s3:PutObject"]
    resources = ["${var.quarantine_bucket_arn}/*"]
  }
  statement {
    sid       = "Alerts"
    actions   = ["sns:Publish"]
    resources = [var.alert_topic_arn]
  }
  statement {
    sid       = "Index"
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut"]
    resources = ["${var.opensearch_domain_arn}/*"]
  }
  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "worker"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# ---- the replay task ----
# A one-off task (`aws ecs run-task`, output replay_run_command), never a service: `facewatch replay run`
# with its own KCL workers as processes inside it (its own application, <application>-replay-<NAME>,
# whose three lease tables it creates and deletes), into the indices of generation NAME; and the other
# replay commands (replay promote|drop, replay --to-..., checkpoints export) with another command.
# Its own log group: a replay's sink retries and dead letters must not raise the live fleet's alarms
# (../monitoring filters the worker log group).
resource "aws_cloudwatch_log_group" "replay" {
  name              = "/ecs/${var.name_prefix}-replay"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_ecs_task_definition" "replay" {
  family                   = "${var.name_prefix}-replay"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.replay_cpu
  memory                   = var.replay_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.replay.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  volume {
    name = "tmp" # the only writable path, and the working directory: .run/ (workers' properties, logs), JVM temp files
  }

  # The image's entry point runs the daemon (`facewatch run`); this one runs the command given, and the
  # default command only prints the usage: the task does nothing without a command override.
  container_definitions = jsonencode([{
    name                   = local.replay_container
    image                  = local.image
    essential              = true
    readonlyRootFilesystem = true
    user                   = "10001:10001"
    entryPoint             = ["/usr/bin/tini", "--", "facewatch"]
    command                = ["replay", "--help"]
    workingDirectory       = "/tmp"
    stopTimeout            = var.stop_timeout_s
    environment            = [for k in sort(keys(local.replay_environment)) : { name = k, value = local.replay_environment[k] }]
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.replay.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "replay"
      }
    }
  }])
}

resource "aws_iam_role" "replay" {
  name               = "${var.name_prefix}-replay-task"
  assume_role_policy = data.aws_iam_policy_document.ecs_trust.json
}

# What the replay needs and nothing more: no Firehose (the archive holds every record once), no SNS
# (replayed alerts are indexed, not sent), no ECS; DynamoDB writes on the live application's lease
# table only to move its checkpoints (UpdateItem), every other table write on <application>-replay-*.
data "aws_iam_policy_document" "replay" {
  statement {
    sid = "ReadDetections" # the replay's KCL workers, checkpoints export and rewind positions
    actions = [
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator",
      "kinesis:ListShards", "kinesis:SubscribeToShard", "kinesis:RegisterStreamConsumer", "kinesis:DescribeStreamConsumer",
    ]
    resources = [var.stream_arn, "${var.stream_arn}/consumer/*"]
  }
  statement {
    sid = "ReplayTables" # the replay application's lease, coordinator-state and worker-metrics tables
    actions = [
      "dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:GetItem",
      "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:Query",
      "dynamodb:DescribeContinuousBackups", "dynamodb:UpdateContinuousBackups", "dynamodb:TagResource",
    ]
    resources = ["${local.table_arn}/${local.replay_tables}", "${local.table_arn}/${local.replay_tables}/index/*"]
  }
  statement {
    sid       = "LiveLeases" # checkpoints export reads them; replay --to-... moves their checkpoints
    actions   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem"]
    resources = ["${local.table_arn}/${var.application_name}"]
  }
  statement {
    sid       = "KclMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # AWS requires "*": PutMetricData has no resource-level permissions; limited by namespace below
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = [local.replay_tables] # KCL publishes under the application name; never the live fleet's namespaces
    }
  }
  statement {
    sid       = "ListArchive" # replay run --from-archive: the raw stream's objects only
    actions   = ["s3:ListBucket"]
    resources = [var.archive_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.raw_stream_name}/*"]
    }
  }
  statement {
    sid       = "ReadArchive"
    actions   = ["s3:GetObject"]
    resources = ["${var.archive_bucket_arn}/${var.raw_stream_name}/*"]
  }
  statement {
    sid       = "DeadLetters" # a replay's dead letters, apart from the live fleet's
    actions   = ["s3:PutObject"]
    resources = ["${var.quarantine_bucket_arn}/${local.quarantine_prefix}replay-*"]
  }
  statement {
    sid       = "Index" # generations: indices, templates, aliases (promote), deletes (drop); live camera states (rewind)
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"]
    resources = ["${var.opensearch_domain_arn}/*"]
  }
  statement {
    sid       = "UseKey" # decrypt the stream and the archive; encrypt dead letters
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "replay" {
  name   = "replay"
  role   = aws_iam_role.replay.id
  policy = data.aws_iam_policy_document.replay.json
}
