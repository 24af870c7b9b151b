variable "name_prefix" {
  type = string
}

variable "image_tag" {
  description = "Tag of the worker image in this module's ECR repository (make deploy pushes the git commit)."
  type        = string
}

variable "cpu" {
  description = "Fargate task CPU units (1024 = 1 vCPU): the JVM daemon plus one Python process per leased shard."
  type        = number
  default     = 1024
}

variable "memory" {
  description = "Fargate task memory (MiB)."
  type        = number
  default     = 2048
}

variable "daemon_heap_percent" {
  description = "The KCL daemon JVM's share of the task memory (-XX:MaxRAMPercentage); the rest is one Python record processor per shard."
  type        = number
  default     = 40

  validation {
    condition     = var.daemon_heap_percent >= 5 && var.daemon_heap_percent <= 90
    error_message = "daemon_heap_percent must be between 5 and 90."
  }
}

variable "replay_cpu" {
  description = "CPU units of the one-off replay task (1024 = 1 vCPU): `replay run`, its KCL daemons (--workers) and their record processors."
  type        = number
  default     = 2048
}

variable "replay_memory" {
  description = "Memory (MiB) of the one-off replay task (a valid Fargate pairing with replay_cpu)."
  type        = number
  default     = 4096
}

variable "stop_timeout_s" {
  description = "Seconds ECS waits after SIGTERM before SIGKILL (Fargate allows up to 120); the daemon's shutdownGraceMillis is derived from it."
  type        = number
  default     = 120

  validation {
    condition     = var.stop_timeout_s >= 30 && var.stop_timeout_s <= 120
    error_message = "stop_timeout_s must be 30-120 (the Fargate maximum is 120)."
  }
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Private subnets (with a NAT gateway or VPC endpoints for Kinesis, DynamoDB, Firehose, S3, SNS, ECR, Logs)."
  type        = list(string)
}

variable "region" {
  type = string
}

variable "stream_name" {
  type = string
}

variable "stream_arn" {
  type = string
}

variable "application_name" {
  description = "KCL application name: names the lease, worker-metrics and coordinator-state tables."
  type        = string
}

variable "opensearch_endpoint" {
  type = string
}

variable "opensearch_domain_arn" {
  type = string
}

variable "delivery_stream_arns" {
  type = list(string)
}

variable "raw_stream_name" {
  type = string
}

variable "tracks_stream_name" {
  type = string
}

variable "quarantine_bucket" {
  type = string
}

variable "quarantine_bucket_arn" {
  type = string
}

variable "archive_bucket" {
  description = "The Firehose archive bucket: the replay task reads the raw stream's objects there (`replay run --from-archive`)."
  type        = string
}

variable "archive_bucket_arn" {
  type = string
}

variable "alert_topic_arn" {
  type = string
}

variable "webhook_url" {
  description = "HTTPS endpoint that receives signed alerts; empty: no webhook."
  type        = string
  default     = ""
  validation {
    condition     = var.webhook_url == "" || startswith(var.webhook_url, "https://")
    error_message = "webhook_url must be an https:// URL (alerts carry personal data)."
  }
}

variable "webhook_secret_arn" {
  description = "ARN of a Secrets Manager secret (encrypted with the environment's KMS key) holding the webhook's Standard Webhooks secret(s): whsec_<base64>, space-separated during a rotation."
  type        = string
  default     = ""
}

variable "zones_json" {
  description = "Restricted zones as the workers read them (FACEWATCH_ZONES): [{zone, allowed: [ExternalImageId]}]."
  type        = string
  default     = "[]"
}

variable "cameras_json" {
  description = "The camera registry as the workers read it (FACEWATCH_CAMERAS)."
  type        = string
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "log_level" {
  type    = string
  default = "info"
}
