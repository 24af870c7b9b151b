variable "name_prefix" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "quarantine_bucket_name" {
  type = string
}

variable "access_log_bucket" {
  type = string
}

variable "quarantine_expiration_days" {
  description = "Days dead letters are kept in S3 (long enough to fix and re-drive)."
  type        = number
  default     = 90
}

variable "alert_subscriptions" {
  description = "Optional SNS subscriptions of the alert topic, e.g. [{ protocol = \"email\", endpoint = \"soc@example.com\" }]."
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []
}
