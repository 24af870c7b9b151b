variable "name_prefix" {
  type = string
}

variable "stream_name" {
  type = string
}

variable "stream_arn" {
  type = string
}

variable "cluster_name" {
  type = string
}

variable "service_name" {
  type = string
}

variable "max_shards" {
  description = "Upper bound of open shards (the provisioned count, or what on-demand may reach): the service never runs more tasks than shards."
  type        = number
}

variable "shards_per_task" {
  description = "Target shards per worker task (target tracking on OpenShardCount / RunningTaskCount)."
  type        = number
  default     = 2
}

variable "iterator_age_scale_out_ms" {
  description = "Add tasks when the oldest unread record is older than this (step policy)."
  type        = number
  default     = 60000
}

variable "metric_namespace" {
  type    = string
  default = "facewatch"
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type    = number
  default = 365
}
