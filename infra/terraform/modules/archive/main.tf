# The archive: Firehose delivers newline-delimited JSON to S3, compressed and partitioned by the day
# and camera inside each record (not arrival time, so a replay lands where the original did), and
# optionally COPYs closed tracks into Redshift.
data "aws_caller_identity" "current" {}

module "bucket" {
  source            = "../bucket"
  name              = var.bucket_name
  kms_key_arn       = var.kms_key_arn
  access_log_bucket = var.access_log_bucket
  transition_days   = var.transition_days
  expiration_days   = var.expiration_days
}

resource "aws_cloudwatch_log_group" "firehose" {
  name              = "/aws/kinesisfirehose/${var.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_stream" "s3" {
  for_each       = local.partition_queries
  name           = "${each.key}-s3"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

locals {
  # jq over each record: the archive line carries day and camera_id; a closed track its first frame.
  all_queries = {
    (var.raw_stream_name)    = "{day: .day, camera: .camera_id}"
    (var.tracks_stream_name) = "{day: (.first_seen / 1000 | strftime(\"%Y-%m-%d\")), camera: .camera_id}"
  }
  # With Redshift, the tracks stream delivers there instead (Firehose has one destination per stream)
  # and keeps every track in S3 too, as its backup.
  partition_queries = var.redshift == null ? local.all_queries : { (var.raw_stream_name) = local.all_queries[var.raw_stream_name] }
}

resource "aws_kinesis_firehose_delivery_stream" "s3" {
  for_each    = local.partition_queries
  name        = each.key
  destination = "extended_s3"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = var.kms_key_arn
  }

  extended_s3_configuration {
    role_arn            = aws_iam_role.firehose.arn
    bucket_arn          = module.bucket.arn
    kms_key_arn         = var.kms_key_arn
    compression_format  = "GZIP"
    buffering_interval  = var.buffer_seconds
    buffering_size      = var.buffer_mb
    prefix              = "${each.key}/day=!{partitionKeyFromQuery:day}/camera=!{partitionKeyFromQuery:camera}/"
    error_output_prefix = "errors/${each.key}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/"

    dynamic_partitioning_configuration {
      enabled = true
    }

    processing_configuration {
      enabled = true
      processors {
        type = "MetadataExtraction"
        parameters {
          parameter_name  = "MetadataExtractionQuery"
          parameter_value = each.value
        }
        parameters {
          parameter_name  = "JsonParsingEngine"
          parameter_value = "JQ-1.6"
        }
      }
      processors {
        type = "AppendDelimiterToRecord"
      }
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.s3[each.key].name
    }
  }
}

resource "aws_cloudwatch_log_stream" "redshift" {
  count          = var.redshift == null ? 0 : 1
  name           = "${var.tracks_stream_name}-redshift"
  log_group_name = aws_cloudwatch_log_group.firehose.name
}

resource "aws_kinesis_firehose_delivery_stream" "redshift" {
  count       = var.redshift == null ? 0 : 1
  name        = var.tracks_stream_name
  destination = "redshift"

  server_side_encryption {
    enabled  = true
    key_type = "CUSTOMER_MANAGED_CMK"
    key_arn  = var.kms_key_arn
  }

  redshift_configuration {
    role_arn        = aws_iam_role.firehose.arn
    cluster_jdbcurl = var.redshift.jdbc_url
    data_table_name = var.redshift.table
    copy_options    = "FORMAT AS JSON 'auto' GZIP TIMEFORMAT 'epochmillisecs'"
    s3_backup_mode  = "Enabled"

    secrets_manager_configuration {
      enabled    = true
      secret_arn = var.redshift.secret_arn
      role_arn   = aws_iam_role.firehose.arn
    }

    s3_configuration {
      role_arn           = aws_iam_role.firehose.arn
      bucket_arn         = module.bucket.arn
      prefix             = "redshift-staging/"
      compression_format = "GZIP"
      kms_key_arn        = var.kms_key_arn
    }

    s3_backup_configuration {
      role_arn           = aws_iam_role.firehose.arn
      bucket_arn         = module.bucket.arn
      prefix             = "${var.tracks_stream_name}/backup/"
      compression_format = "GZIP"
      kms_key_arn        = var.kms_key_arn
    }

    cloudwatch_logging_options {
      enabled         = true
      log_group_name  = aws_cloudwatch_log_group.firehose.name
      log_stream_name = aws_cloudwatch_log_stream.redshift[0].name
    }
  }
}

data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["firehose.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "firehose" {
  name               = "${var.name_prefix}-firehose"
  assume_role_policy = data.aws_iam_policy_document.trust.json
}

data "aws_iam_policy_document" "firehose" {
  statement {
    sid = "WriteArchive"
    actions = [
      "s3:AbortMultipartUpload", "s3:GetBucketLocation", "s3:GetObject", "s3:ListBucket",
      "s3:ListBucketMultipartUploads", "s3:PutObject",
    ]
    resources = [module.bucket.arn, "${module.bucket.arn}/*"]
  }
  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.firehose.arn}:*"]
  }
  dynamic "statement" {
    for_each = var.redshift == null ? [] : [var.redshift]
    content {
      sid       = "RedshiftCredentials"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value.secret_arn]
    }
  }
}

resource "aws_iam_role_policy" "firehose" {
  name   = "archive"
  role   = aws_iam_role.firehose.id
  policy = data.aws_iam_policy_document.firehose.json
}
