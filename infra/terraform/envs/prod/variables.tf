variable "region" {
  description = "AWS region of the whole system (Rekognition Video stream processors must be available there)."
  type        = string
}

variable "environment" {
  description = "Environment name; part of every resource name."
  type        = string
  default     = "prod"
}

variable "name" {
  description = "System name; with environment it prefixes every resource (facewatch-prod-...)."
  type        = string
  default     = "facewatch"
}

variable "image_tag" {
  description = "Worker image tag in ECR; `make deploy` sets it to the git commit it built and pushed."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the OpenSearch domain and the worker tasks."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (2-3 availability zones) with a route to AWS APIs (NAT or VPC endpoints)."
  type        = list(string)
}

variable "cameras" {
  description = "Every camera: id, site, floor, zone, timezone, business hours, and (optionally) the alert rules that apply there. One video stream, stream processor, output stream and pipe each."
  type = list(object({
    id       = string
    site     = string
    floor    = optional(string, "")
    zone     = optional(string, "")
    timezone = optional(string, "UTC")
    business_hours = optional(object({
      days  = optional(string, "mon-fri")
      start = optional(string, "08:00")
      end   = optional(string, "19:00")
    }), {})
    alert_rules = optional(list(string)) # null: every enabled rule; e.g. ["watchlist"] in a public lobby
  }))
}

variable "collection_ids" {
  description = "Rekognition collections; the first is searched (employees, and watchlist faces enrolled with the wl_ prefix)."
  type        = list(string)
  default     = ["facewatch-faces"]
}

variable "shard_count" {
  description = "Detections stream shards (1 MB/s or 1,000 records/s in each). A camera analysed at 5 fps writes 5 records/s."
  type        = number
  default     = 2
}

variable "on_demand" {
  description = "On-demand detections stream instead of shard_count."
  type        = bool
  default     = false
}

variable "stream_retention_hours" {
  description = "Hours the detections stream keeps records (24-8760; beyond 24 Kinesis bills extended retention, beyond 168 long-term retention). `replay run` reads the stream within this window; an older window is replayed from the S3 raw archive (`replay run --from-archive`)."
  type        = number
  default     = 168

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760
    error_message = "stream_retention_hours must be between 24 (the Kinesis minimum) and 8760 (365 days, the maximum)."
  }
}

variable "max_workers_on_demand" {
  description = "With on_demand, the most worker tasks (on-demand streams start at 4 shards and grow)."
  type        = number
  default     = 8
}

variable "shards_per_task" {
  description = "Target shards per worker task."
  type        = number
  default     = 2
}

variable "worker_cpu" {
  type    = number
  default = 1024
}

variable "worker_memory" {
  type    = number
  default = 2048
}

variable "replay_cpu" {
  description = "CPU units of the one-off replay task (1024 = 1 vCPU): `replay run` and its KCL workers (--workers) share it."
  type        = number
  default     = 2048
}

variable "replay_memory" {
  description = "Memory (MiB) of the one-off replay task."
  type        = number
  default     = 4096
}

variable "opensearch_instance_type" {
  type    = string
  default = "r7g.large.search"
}

variable "opensearch_instance_count" {
  type    = number
  default = 2
}

variable "opensearch_volume_gb" {
  type    = number
  default = 100
}

variable "opensearch_admin_role_arn" {
  description = "IAM role of the operators: fine-grained access control master user of the domain."
  type        = string
}

variable "archive_expiration_days" {
  type    = number
  default = 365
}

variable "redshift" {
  description = "Optional Redshift COPY of closed tracks: { jdbc_url, table, secret_arn }."
  type = object({
    jdbc_url   = string
    table      = string
    secret_arn = string
  })
  default = null
}

variable "alert_subscriptions" {
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []
}

variable "alert_webhook_url" {
  description = "HTTPS endpoint of the security team's alert receiver (Standard Webhooks signatures); empty: none."
  type        = string
  default     = ""
}

variable "alert_webhook_secret_arn" {
  description = "Secrets Manager secret holding the webhook's whsec_ secret(s); create it yourself, encrypted with this environment's KMS key (output kms_key_arn), so it never sits in Terraform state."
  type        = string
  default     = ""
}

variable "restricted_zones" {
  description = "Zone -> ExternalImageIds of the employees allowed there; any other employee seen there raises restricted_zone."
  type        = map(list(string))
  default     = {}
}

variable "ops_subscriptions" {
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []
}
