variable "name_prefix" {
  type = string
}

variable "region" {
  type = string
}

variable "stream_name" {
  type = string
}

variable "worker_log_group" {
  description = "The workers' log group: JSON log lines become the quarantine and sink-error metrics."
  type        = string
}

variable "cluster_name" {
  type = string
}

variable "service_name" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "metric_namespace" {
  type    = string
  default = "facewatch"
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the oldest unread record is older than this."
  type        = number
  default     = 300000
}

variable "quarantine_alarm_records" {
  description = "Alarm when more records than this are quarantined in 5 minutes."
  type        = number
  default     = 10
}

variable "sink_error_alarm_count" {
  description = "Alarm when the sinks report more retried failures than this in 5 minutes."
  type        = number
  default     = 50
}

variable "ops_subscriptions" {
  description = "Subscriptions of the operations topic, e.g. [{ protocol = \"email\", endpoint = \"oncall@example.com\" }]."
  type = list(object({
    protocol = string
    endpoint = string
  }))
  default = []
}
