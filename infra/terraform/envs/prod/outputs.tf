output "repository_url" {
  description = "ECR repository `make deploy` pushes the worker image to."
  value       = module.workers.repository_url
}

output "detections_stream" {
  value = module.stream.name
}

output "application_name" {
  description = "The workers' KCL application (its lease table): `facewatch checkpoints export` reads it."
  value       = local.application_name
}

output "stream_processors" {
  description = "Stream processor by camera id; created stopped (`facewatch processors start`)."
  value       = module.cameras.stream_processor_names
}

output "collections" {
  value = module.cameras.collection_ids
}

output "opensearch_endpoint" {
  value = module.opensearch.endpoint
}

output "archive_bucket" {
  value = module.archive.bucket
}

output "quarantine_bucket" {
  value = module.alerting.quarantine_bucket
}

output "alert_topic_arn" {
  value = module.alerting.alert_topic_arn
}

output "ops_topic_arn" {
  value = module.monitoring.ops_topic_arn
}

output "cluster_name" {
  value = module.workers.cluster_name
}

output "service_name" {
  value = module.workers.service_name
}

output "max_workers" {
  description = "Autoscaling maximum: the shard count."
  value       = module.scaling.max_capacity
}

output "worker_task_role_arn" {
  description = "Map this role as a backend role of an OpenSearch security role that may write the facewatch-* indices (fine-grained access control)."
  value       = module.workers.task_role_arn
}

output "kms_key_arn" {
  description = "Encrypt the alert webhook's secret with this key (the task's execution role may decrypt it)."
  value       = aws_kms_key.main.arn
}

output "stream_retention_hours" {
  description = "How far back `replay run` reads the stream; an older window needs `replay run --from-archive`."
  value       = var.stream_retention_hours
}

output "replay_task_definition" {
  description = "The one-off replay task (`facewatch replay ...` with a command override)."
  value       = module.workers.replay_task_definition
}

output "replay_run_command" {
  description = "`aws ecs run-task` of a side-by-side replay: fill in --from, --until and --generation (README, Replay)."
  value       = module.workers.replay_run_command
}

output "replay_task_role_arn" {
  description = "Map this role as a backend role of an OpenSearch security role that may manage the facewatch-* indices, templates and aliases (fine-grained access control)."
  value       = module.workers.replay_task_role_arn
}

output "replay_log_group" {
  value = module.workers.replay_log_group
}
