variable "name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "kms_key_arn" {
  description = "Key for SSE-KMS (null: SSE-S3, only for the access-log bucket, which S3 logging requires)."
  type        = string
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket receiving this bucket's server access logs (null for the log bucket itself)."
  type        = string
  default     = null
}

variable "transition_days" {
  description = "Days before objects move to Glacier Instant Retrieval (null: never)."
  type        = number
  default     = null
}

variable "expiration_days" {
  description = "Days before objects (and old versions) are deleted."
  type        = number
}
