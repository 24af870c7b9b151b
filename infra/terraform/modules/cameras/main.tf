# Per camera: video in (Kinesis Video Streams), a Rekognition face-search stream processor writing its
# own output stream, and an EventBridge Pipe that forwards that stream into the shared detections
# stream with the camera's video stream ARN as partition key (so one camera stays on one shard).
locals {
  cameras = { for c in var.cameras : c.id => c }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

resource "aws_rekognition_collection" "this" {
  for_each      = toset(var.collection_ids)
  collection_id = each.value
}

resource "aws_kinesis_video_stream" "camera" {
  for_each                = local.cameras
  name                    = "${var.name_prefix}-${each.key}"
  data_retention_in_hours = var.video_retention_hours
  kms_key_id              = var.kms_key_arn
  media_type              = "video/h264"
}

resource "aws_kinesis_stream" "results" {
  for_each         = local.cameras
  name             = "${var.name_prefix}-${each.key}-faces"
  shard_count      = 1
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }
}

# Created stopped, as Rekognition creates every stream processor: `facewatch processors start` starts
# them (billing is per minute of video analysed while running).
resource "aws_rekognition_stream_processor" "camera" {
  for_each   = local.cameras
  name       = "${var.name_prefix}-${each.key}"
  role_arn   = aws_iam_role.rekognition.arn
  kms_key_id = var.kms_key_arn

  data_sharing_preference {
    opt_in = false
  }

  input {
    kinesis_video_stream {
      arn = aws_kinesis_video_stream.camera[each.key].arn
    }
  }

  output {
    kinesis_data_stream {
      arn = aws_kinesis_stream.results[each.key].arn
    }
  }

  settings {
    face_search {
      collection_id        = aws_rekognition_collection.this[var.collection_ids[0]].collection_id
      face_match_threshold = var.face_match_threshold
    }
  }
}

resource "aws_pipes_pipe" "camera" {
  for_each           = local.cameras
  name               = "${var.name_prefix}-${each.key}"
  role_arn           = aws_iam_role.pipes.arn
  source             = aws_kinesis_stream.results[each.key].arn
  target             = var.detections_stream_arn
  kms_key_identifier = var.kms_key_arn

  source_parameters {
    kinesis_stream_parameters {
      starting_position      = "TRIM_HORIZON"
      batch_size             = 100
      maximum_retry_attempts = -1 # never drop a result: retry until the detections stream takes it
    }
  }

  target_parameters {
    # Pipes parses a Kinesis record's JSON data; forward the Rekognition record itself, not the envelope.
    input_template = "<$.data>"

    kinesis_stream_parameters {
      partition_key = aws_kinesis_video_stream.camera[each.key].arn
    }
  }
}

# ---- IAM: each role names exactly the streams and key it uses ----
data "aws_iam_policy_document" "rekognition_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["rekognition.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "rekognition" {
  name               = "${var.name_prefix}-rekognition"
  assume_role_policy = data.aws_iam_policy_document.rekognition_trust.json
}

data "aws_iam_policy_document" "rekognition" {
  statement {
    sid       = "ReadVideo"
    actions   = ["kinesisvideo:GetDataEndpoint", "kinesisvideo:GetMedia"]
    resources = [for s in aws_kinesis_video_stream.camera : s.arn]
  }
  statement {
    sid       = "WriteResults"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [for s in aws_kinesis_stream.results : s.arn]
  }
  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "rekognition" {
  name   = "stream-processors"
  role   = aws_iam_role.rekognition.id
  policy = data.aws_iam_policy_document.rekognition.json
}

data "aws_iam_policy_document" "pipes_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["pipes.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "pipes" {
  name               = "${var.name_prefix}-pipes"
  assume_role_policy = data.aws_iam_policy_document.pipes_trust.json
}

data "aws_iam_policy_document" "pipes" {
  statement {
    sid = "ReadResults"
    actions = [
      "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
      "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:SubscribeToShard",
    ]
    resources = [for s in aws_kinesis_stream.results : s.arn]
  }
  statement {
    sid       = "WriteDetections"
    actions   = ["kinesis:PutRecord", "kinesis:PutRecords"]
    resources = [var.detections_stream_arn]
  }
  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "pipes" {
  name   = "camera-pipes"
  role   = aws_iam_role.pipes.id
  policy = data.aws_iam_policy_document.pipes.json
}
