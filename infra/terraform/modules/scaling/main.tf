# Autoscaling of the worker service on shard count: a scheduled function publishes the open shard
# count, target tracking keeps shards per task near a target, the maximum is the shard count (a task
# without a lease does nothing), and a step policy adds tasks when the iterator age says we fall behind.
data "aws_caller_identity" "current" {}

data "archive_file" "shard_count" {
  type        = "zip"
  source_file = "${path.module}/src/shard_count.py"
  output_path = "${path.module}/build/shard_count.zip"
}

resource "aws_cloudwatch_log_group" "shard_count" {
  name              = "/aws/lambda/${var.name_prefix}-shard-count"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_lambda_function" "shard_count" {
  #checkov:skip=CKV_AWS_116:A scheduled, idempotent metric publisher: a failed minute is replaced by the next one; a DLQ would hold nothing actionable.
  #checkov:skip=CKV_AWS_117:It calls only the public Kinesis and CloudWatch APIs and touches no private resource; a VPC would add NAT cost and nothing else.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; the code is 30 lines deployed from this repository by Terraform.
  function_name                  = "${var.name_prefix}-shard-count"
  role                           = aws_iam_role.shard_count.arn
  runtime                        = "python3.12"
  handler                        = "shard_count.handler"
  filename                       = data.archive_file.shard_count.output_path
  source_code_hash               = data.archive_file.shard_count.output_base64sha256
  timeout                        = 30
  reserved_concurrent_executions = 1
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = {
      STREAM_NAME      = var.stream_name
      METRIC_NAMESPACE = var.metric_namespace
    }
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.shard_count]
}

resource "aws_cloudwatch_event_rule" "every_minute" {
  name                = "${var.name_prefix}-shard-count"
  description         = "Publish the detections stream's open shard count"
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "shard_count" {
  rule = aws_cloudwatch_event_rule.every_minute.name
  arn  = aws_lambda_function.shard_count.arn
}

resource "aws_lambda_permission" "events" {
  statement_id  = "AllowEventBridge"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.shard_count.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.every_minute.arn
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "shard_count" {
  name               = "${var.name_prefix}-shard-count"
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

data "aws_iam_policy_document" "shard_count" {
  statement {
    sid       = "CountShards"
    actions   = ["kinesis:ListShards"]
    resources = [var.stream_arn]
  }
  statement {
    sid       = "PublishMetric"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"] # AWS requires "*": PutMetricData has no resource-level permissions; limited by namespace below
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.shard_count.arn}:*"]
  }
  statement {
    sid       = "Tracing"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"] # AWS requires "*": X-Ray write actions have no resource-level permissions
  }
  statement {
    sid       = "UseKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "shard_count" {
  name   = "shard-count"
  role   = aws_iam_role.shard_count.id
  policy = data.aws_iam_policy_document.shard_count.json
}

resource "aws_appautoscaling_target" "workers" {
  service_namespace  = "ecs"
  resource_id        = "service/${var.cluster_name}/${var.service_name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = 1
  max_capacity       = var.max_shards # never more tasks than shards
}

resource "aws_appautoscaling_policy" "shards_per_task" {
  name               = "${var.name_prefix}-shards-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.workers.service_namespace
  resource_id        = aws_appautoscaling_target.workers.resource_id
  scalable_dimension = aws_appautoscaling_target.workers.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.shards_per_task
    scale_in_cooldown  = 300 # a task leaving hands its leases over: do not flap
    scale_out_cooldown = 60

    customized_metric_specification {
      metrics {
        id          = "shards"
        return_data = false
        metric_stat {
          stat = "Maximum"
          metric {
            namespace   = var.metric_namespace
            metric_name = "OpenShardCount"
            dimensions {
              name  = "StreamName"
              value = var.stream_name
            }
          }
        }
      }
      metrics {
        id          = "tasks"
        return_data = false
        metric_stat {
          stat = "Average"
          metric {
            namespace   = "ECS/ContainerInsights"
            metric_name = "RunningTaskCount"
            dimensions {
              name  = "ClusterName"
              value = var.cluster_name
            }
            dimensions {
              name  = "ServiceName"
              value = var.service_name
            }
          }
        }
      }
      metrics {
        id          = "shards_per_task"
        label       = "Open shards per running task"
        expression  = "shards / IF(tasks > 0, tasks, 1)"
        return_data = true
      }
    }
  }
}

resource "aws_appautoscaling_policy" "iterator_age" {
  name               = "${var.name_prefix}-iterator-age"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.workers.service_namespace
  resource_id        = aws_appautoscaling_target.workers.resource_id
  scalable_dimension = aws_appautoscaling_target.workers.scalable_dimension

  step_scaling_policy_configuration {
    adjustment_type         = "ChangeInCapacity"
    cooldown                = 120
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      metric_interval_upper_bound = var.iterator_age_scale_out_ms * 4
      scaling_adjustment          = 1
    }
    step_adjustment {
      metric_interval_lower_bound = var.iterator_age_scale_out_ms * 4
      scaling_adjustment          = 2
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "iterator_age_scale_out" {
  alarm_name          = "${var.name_prefix}-iterator-age-scale-out"
  alarm_description   = "Workers fall behind the detections stream: add tasks (up to one per shard)"
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = var.stream_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  threshold           = var.iterator_age_scale_out_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.iterator_age.arn]
}
