output "alert_topic_arn" {
  value = aws_sns_topic.alerts.arn
}

output "quarantine_bucket" {
  value = module.quarantine.id
}

output "quarantine_bucket_arn" {
  value = module.quarantine.arn
}
