output "max_capacity" {
  value = aws_appautoscaling_target.workers.max_capacity
}

output "shard_count_function" {
  value = aws_lambda_function.shard_count.function_name
}
