output "bucket" {
  value = module.bucket.id
}

output "bucket_arn" {
  value = module.bucket.arn
}

output "delivery_stream_arns" {
  description = "ARNs of the delivery streams the workers write (raw, tracks)."
  value       = concat([for s in aws_kinesis_firehose_delivery_stream.s3 : s.arn], aws_kinesis_firehose_delivery_stream.redshift[*].arn)
}

output "delivery_stream_names" {
  value = concat([for s in aws_kinesis_firehose_delivery_stream.s3 : s.name], aws_kinesis_firehose_delivery_stream.redshift[*].name)
}
