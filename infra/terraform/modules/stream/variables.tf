variable "name" {
  description = "Name of the detections stream."
  type        = string
}

variable "on_demand" {
  description = "On-demand capacity instead of a provisioned shard count."
  type        = bool
  default     = false
}

variable "shard_count" {
  description = "Provisioned shards (one worker task reads at most shards_per_task of them)."
  type        = number
  default     = 2

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 500
    error_message = "shard_count must be between 1 and 500."
  }
}

variable "retention_hours" {
  description = "How long records stay readable (24-8760 hours): the window `replay run` reads from the stream; older records are replayed from the S3 archive (`replay run --from-archive`)."
  type        = number
  default     = 168

  validation {
    condition     = var.retention_hours >= 24 && var.retention_hours <= 8760
    error_message = "retention_hours must be between 24 (the Kinesis minimum) and 8760 (365 days, the maximum)."
  }
}

variable "kms_key_arn" {
  description = "Customer managed key for server-side encryption."
  type        = string
}
