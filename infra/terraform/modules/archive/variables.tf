variable "name_prefix" {
  type = string
}

variable "raw_stream_name" {
  description = "Delivery stream of the raw records (the workers' firehose.raw_stream)."
  type        = string
}

variable "tracks_stream_name" {
  description = "Delivery stream of closed tracks (the workers' firehose.tracks_stream)."
  type        = string
}

variable "bucket_name" {
  type = string
}

variable "access_log_bucket" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "transition_days" {
  description = "Days before archived objects move to Glacier Instant Retrieval."
  type        = number
  default     = 30
}

variable "expiration_days" {
  description = "Days the archive is kept."
  type        = number
  default     = 365
}

variable "buffer_seconds" {
  type    = number
  default = 300
}

variable "buffer_mb" {
  description = "Buffer size (MiB); at least 64 with dynamic partitioning."
  type        = number
  default     = 128
}

variable "log_retention_days" {
  type    = number
  default = 365
}

variable "redshift" {
  description = "Optional: COPY closed tracks into Redshift as well. The cluster must be reachable by Firehose; credentials come from a Secrets Manager secret."
  type = object({
    jdbc_url   = string
    table      = string
    secret_arn = string
  })
  default = null
}
