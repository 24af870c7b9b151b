output "cluster_name" {
  value = aws_ecs_cluster.this.name
}

output "service_name" {
  value = aws_ecs_service.worker.name
}

output "repository_url" {
  value = aws_ecr_repository.worker.repository_url
}

output "task_role_arn" {
  value = aws_iam_role.task.arn
}

output "security_group_id" {
  value = aws_security_group.worker.id
}

output "log_group" {
  value = aws_cloudwatch_log_group.worker.name
}
