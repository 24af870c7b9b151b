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

output "replay_task_definition" {
  description = "Family of the one-off replay task definition (run-task uses its latest revision)."
  value       = aws_ecs_task_definition.replay.family
}

output "replay_task_definition_arn" {
  value = aws_ecs_task_definition.replay.arn
}

output "replay_task_role_arn" {
  value = aws_iam_role.replay.arn
}

output "replay_log_group" {
  value = aws_cloudwatch_log_group.replay.name
}

output "replay_run_command" {
  description = "A ready `aws ecs run-task` of the replay: replace the <...> placeholders (or the whole command list)."
  value = join(" ", [
    "aws ecs run-task --region ${var.region}",
    "--cluster ${aws_ecs_cluster.this.name}",
    "--task-definition ${aws_ecs_task_definition.replay.family}",
    "--launch-type FARGATE",
    "--propagate-tags TASK_DEFINITION",
    "--started-by facewatch-replay",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", var.subnet_ids)}],securityGroups=[${aws_security_group.worker.id}],assignPublicIp=DISABLED}'",
    "--overrides '${local.replay_overrides}'",
  ])
}
