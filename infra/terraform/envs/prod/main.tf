# One environment of facewatch: cameras -> Rekognition -> detections stream -> worker fleet ->
# OpenSearch, Firehose (S3, Redshift), SNS. Module layout in ../../README.md.
data "aws_caller_identity" "current" {}

locals {
  prefix           = "${var.name}-${var.environment}"
  stream_name      = "${local.prefix}-detections"
  application_name = "${local.prefix}-workers"
  account          = data.aws_caller_identity.current.account_id
  max_shards       = var.on_demand ? var.max_workers_on_demand : var.shard_count
  cameras_json = jsonencode([for c in var.cameras : merge({
    id             = c.id
    stream_arn     = module.cameras.video_stream_arns[c.id]
    site           = c.site
    floor          = c.floor
    zone           = c.zone
    timezone       = c.timezone
    business_hours = c.business_hours
  }, c.alert_rules == null ? {} : { alert_rules = c.alert_rules })])
}

# One customer managed key for every stream, bucket, topic, log group and the domain.
data "aws_iam_policy_document" "key" {
  #checkov:skip=CKV_AWS_111:A key policy's resource "*" is the key itself; the account-root statement is the AWS default that lets IAM policies grant use of the key.
  #checkov:skip=CKV_AWS_356:A key policy's resource "*" is the key itself, not every resource.
  #checkov:skip=CKV_AWS_109:Key administration by the account root is the AWS default key policy; without it the key becomes unmanageable.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account}:root"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:aws:logs:${var.region}:${local.account}:log-group:*"]
    }
  }
  statement {
    sid       = "AlarmsToEncryptedTopics"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
}

resource "aws_kms_key" "main" {
  description             = "${local.prefix}: streams, video, buckets, topics, logs, OpenSearch"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.main.key_id
}

module "access_logs" {
  #checkov:skip=CKV_AWS_145:S3 server access logs can only be delivered to an SSE-S3 bucket.
  source          = "../../modules/bucket"
  name            = "${local.prefix}-access-logs-${local.account}"
  expiration_days = 365
}

module "stream" {
  source          = "../../modules/stream"
  name            = local.stream_name
  on_demand       = var.on_demand
  shard_count     = var.shard_count
  retention_hours = var.stream_retention_hours
  kms_key_arn     = aws_kms_key.main.arn
}

module "cameras" {
  source                = "../../modules/cameras"
  name_prefix           = local.prefix
  cameras               = var.cameras
  collection_ids        = var.collection_ids
  detections_stream_arn = module.stream.arn
  kms_key_arn           = aws_kms_key.main.arn
}

module "alerting" {
  source                 = "../../modules/alerting"
  name_prefix            = local.prefix
  kms_key_arn            = aws_kms_key.main.arn
  quarantine_bucket_name = "${local.prefix}-quarantine-${local.account}"
  access_log_bucket      = module.access_logs.id
  alert_subscriptions    = var.alert_subscriptions
}

module "archive" {
  source             = "../../modules/archive"
  name_prefix        = local.prefix
  raw_stream_name    = "${local.prefix}-raw"
  tracks_stream_name = "${local.prefix}-tracks"
  bucket_name        = "${local.prefix}-archive-${local.account}"
  access_log_bucket  = module.access_logs.id
  kms_key_arn        = aws_kms_key.main.arn
  expiration_days    = var.archive_expiration_days
  redshift           = var.redshift
}

module "workers" {
  source                = "../../modules/workers"
  name_prefix           = local.prefix
  image_tag             = var.image_tag
  cpu                   = var.worker_cpu
  memory                = var.worker_memory
  replay_cpu            = var.replay_cpu
  replay_memory         = var.replay_memory
  vpc_id                = var.vpc_id
  subnet_ids            = var.private_subnet_ids
  region                = var.region
  stream_name           = module.stream.name
  stream_arn            = module.stream.arn
  application_name      = local.application_name
  opensearch_endpoint   = module.opensearch.endpoint
  opensearch_domain_arn = module.opensearch.arn
  delivery_stream_arns  = module.archive.delivery_stream_arns
  raw_stream_name       = "${local.prefix}-raw"
  tracks_stream_name    = "${local.prefix}-tracks"
  quarantine_bucket     = module.alerting.quarantine_bucket
  quarantine_bucket_arn = module.alerting.quarantine_bucket_arn
  archive_bucket        = module.archive.bucket
  archive_bucket_arn    = module.archive.bucket_arn
  alert_topic_arn       = module.alerting.alert_topic_arn
  cameras_json          = local.cameras_json
  zones_json            = jsonencode([for zone in sort(keys(var.restricted_zones)) : { zone = zone, allowed = var.restricted_zones[zone] }])
  webhook_url           = var.alert_webhook_url
  webhook_secret_arn    = var.alert_webhook_secret_arn
  kms_key_arn           = aws_kms_key.main.arn
}

module "opensearch" {
  source                    = "../../modules/opensearch"
  domain_name               = substr(replace(local.prefix, "_", "-"), 0, 28)
  instance_type             = var.opensearch_instance_type
  instance_count            = var.opensearch_instance_count
  volume_gb                 = var.opensearch_volume_gb
  vpc_id                    = var.vpc_id
  subnet_ids                = var.private_subnet_ids
  client_security_group_ids = [module.workers.security_group_id]
  worker_role_arn           = module.workers.task_role_arn
  replay_role_arn           = module.workers.replay_task_role_arn
  admin_role_arn            = var.opensearch_admin_role_arn
  kms_key_arn               = aws_kms_key.main.arn
}

module "scaling" {
  source          = "../../modules/scaling"
  name_prefix     = local.prefix
  stream_name     = module.stream.name
  stream_arn      = module.stream.arn
  cluster_name    = module.workers.cluster_name
  service_name    = module.workers.service_name
  max_shards      = local.max_shards
  shards_per_task = var.shards_per_task
  kms_key_arn     = aws_kms_key.main.arn
}

module "monitoring" {
  source            = "../../modules/monitoring"
  name_prefix       = local.prefix
  region            = var.region
  stream_name       = module.stream.name
  worker_log_group  = module.workers.log_group
  cluster_name      = module.workers.cluster_name
  service_name      = module.workers.service_name
  kms_key_arn       = aws_kms_key.main.arn
  ops_subscriptions = var.ops_subscriptions
}
