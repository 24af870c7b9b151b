# The detections stream: every camera's face-search results, partitioned by camera, read by the workers.
resource "aws_kinesis_stream" "this" {
  name             = var.name
  shard_count      = var.on_demand ? null : var.shard_count
  retention_period = var.retention_hours
  encryption_type  = "KMS"
  kms_key_id       = var.kms_key_arn

  stream_mode_details {
    stream_mode = var.on_demand ? "ON_DEMAND" : "PROVISIONED"
  }

  # Shard-level metrics feed the iterator-age alarm and the scaling step policy.
  shard_level_metrics = ["IncomingRecords", "IteratorAgeMilliseconds", "ReadProvisionedThroughputExceeded"]
}
