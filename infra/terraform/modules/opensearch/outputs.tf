output "endpoint" {
  description = "https://... endpoint for the workers' opensearch.url (SigV4)."
  value       = "https://${aws_opensearch_domain.this.endpoint}"
}

output "arn" {
  value = aws_opensearch_domain.this.arn
}

output "domain_name" {
  value = aws_opensearch_domain.this.domain_name
}
