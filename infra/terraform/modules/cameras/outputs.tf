output "stream_processor_names" {
  description = "Stream processors by camera id (created stopped)."
  value       = { for id, p in aws_rekognition_stream_processor.camera : id => p.name }
}

output "video_stream_arns" {
  description = "Kinesis Video Stream ARN by camera id: the partition key of its records in the detections stream."
  value       = { for id, s in aws_kinesis_video_stream.camera : id => s.arn }
}

output "collection_ids" {
  value = [for c in aws_rekognition_collection.this : c.collection_id]
}

output "rekognition_role_arn" {
  value = aws_iam_role.rekognition.arn
}
