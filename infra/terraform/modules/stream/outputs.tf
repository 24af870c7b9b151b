output "name" {
  value = aws_kinesis_stream.this.name
}

output "arn" {
  value = aws_kinesis_stream.this.arn
}

output "shard_count" {
  description = "Provisioned shard count (the initial count when on demand)."
  value       = var.on_demand ? 4 : var.shard_count
}
