# Where the workers hand off what a person must see (the alert topic) and what a machine could not
# process (the dead-letter bucket).
resource "aws_sns_topic" "alerts" {
  name              = "${var.name_prefix}-alerts"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "alerts" {
  for_each  = { for i, s in var.alert_subscriptions : "${s.protocol}-${i}" => s }
  topic_arn = aws_sns_topic.alerts.arn
  protocol  = each.value.protocol
  endpoint  = each.value.endpoint
}

module "quarantine" {
  source            = "../bucket"
  name              = var.quarantine_bucket_name
  kms_key_arn       = var.kms_key_arn
  access_log_bucket = var.access_log_bucket
  expiration_days   = var.quarantine_expiration_days
}
