# What an operator watches: alarms on falling behind, dead letters and sink failures, to an operations
# topic; and one dashboard with the stream, the fleet and the sinks side by side.
resource "aws_sns_topic" "ops" {
  name              = "${var.name_prefix}-ops"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "ops" {
  for_each  = { for i, s in var.ops_subscriptions : "${s.protocol}-${i}" => s }
  topic_arn = aws_sns_topic.ops.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

locals {
  # The workers log one JSON object per line (structlog); these events carry the counts.
  log_metrics = {
    QuarantinedRecords = { pattern = "{ $.event = \"records_quarantined\" }", value = "$.count" }
    SinkErrors = {
      pattern = "{ $.event = \"opensearch_unreachable\" || $.event = \"opensearch_busy\" || $.event = \"firehose_unreachable\" || $.event = \"firehose_busy\" || $.event = \"bulk_items_retried\" || $.event = \"firehose_entries_retried\" }"
      value   = "1"
    }
    CheckpointFailures = { pattern = "{ $.event = \"checkpoint_gave_up\" }", value = "1" }
  }
}

resource "aws_cloudwatch_log_metric_filter" "worker" {
  for_each       = local.log_metrics
  name           = "${var.name_prefix}-${each.key}"
  log_group_name = var.worker_log_group
  pattern        = each.value.pattern

  metric_transformation {
    name          = each.key
    namespace     = var.metric_namespace
    value         = each.value.value
    default_value = 0
  }
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${var.name_prefix}-iterator-age"
  alarm_description   = "The workers are more than ${var.iterator_age_alarm_ms / 1000} s behind the detections stream: alerts are late."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = var.stream_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = var.iterator_age_alarm_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "breaching" # no reads at all is worse than slow reads
  alarm_actions       = [aws_sns_topic.ops.arn]
  ok_actions          = [aws_sns_topic.ops.arn]
}

resource "aws_cloudwatch_metric_alarm" "quarantine" {
  alarm_name          = "${var.name_prefix}-quarantine"
  alarm_description   = "Records are being quarantined: `facewatch quarantine list` shows why; re-drive after a fix."
  namespace           = var.metric_namespace
  metric_name         = "QuarantinedRecords"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.quarantine_alarm_records
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.ops.arn]
  depends_on          = [aws_cloudwatch_log_metric_filter.worker]
}

resource "aws_cloudwatch_metric_alarm" "sink_errors" {
  alarm_name          = "${var.name_prefix}-sink-errors"
  alarm_description   = "OpenSearch or Firehose keep failing: the shards wait (no data is skipped) and the iterator age will grow."
  namespace           = var.metric_namespace
  metric_name         = "SinkErrors"
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.sink_error_alarm_count
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.ops.arn]
  depends_on          = [aws_cloudwatch_log_metric_filter.worker]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "Detections stream: records in, iterator age"
          region = var.region
          metrics = [
            ["AWS/Kinesis", "IncomingRecords", "StreamName", var.stream_name, { stat = "Sum" }],
            ["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", var.stream_name, { stat = "Maximum", yAxis = "right" }],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "Fleet: open shards and running tasks"
          region = var.region
          metrics = [
            [var.metric_namespace, "OpenShardCount", "StreamName", var.stream_name, { stat = "Maximum" }],
            ["ECS/ContainerInsights", "RunningTaskCount", "ClusterName", var.cluster_name, "ServiceName", var.service_name, { stat = "Average" }],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title   = "Quarantine, sink errors, checkpoint failures"
          region  = var.region
          metrics = [for m in keys(local.log_metrics) : [var.metric_namespace, m, { stat = "Sum" }]]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "Worker CPU and memory"
          region = var.region
          metrics = [
            ["ECS/ContainerInsights", "CpuUtilized", "ClusterName", var.cluster_name, "ServiceName", var.service_name],
            ["ECS/ContainerInsights", "MemoryUtilized", "ClusterName", var.cluster_name, "ServiceName", var.service_name, { yAxis = "right" }],
          ]
        }
      },
    ]
  })
}
