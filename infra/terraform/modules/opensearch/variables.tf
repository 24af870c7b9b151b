variable "domain_name" {
  description = "OpenSearch domain name (3-28 lowercase characters)."
  type        = string
}

variable "engine_version" {
  type    = string
  default = "OpenSearch_2.17"
}

variable "instance_type" {
  description = "Data node type; the main cost driver with instance_count."
  type        = string
  default     = "r7g.large.search"
}

variable "instance_count" {
  description = "Data nodes, spread over the subnets' availability zones."
  type        = number
  default     = 2
}

variable "dedicated_master" {
  description = "Three dedicated cluster-manager nodes (AWS recommends them for production; off only for a test domain)."
  type        = bool
  default     = true
}

variable "master_instance_type" {
  type    = string
  default = "m7g.large.search"
}

variable "volume_gb" {
  type    = number
  default = 100
}

variable "vpc_id" {
  type = string
}

variable "subnet_ids" {
  description = "Private subnets, one per availability zone used."
  type        = list(string)
}

variable "client_security_group_ids" {
  description = "Security groups allowed to reach the domain over HTTPS (the workers')."
  type        = list(string)
}

variable "worker_role_arn" {
  description = "Task role of the workers: mapped to the domain and allowed es:ESHttp* on it."
  type        = string
}

variable "replay_role_arn" {
  description = "Task role of the one-off replay task (`replay run|promote|drop`, rewinds): allowed es:ESHttp* on the domain; map it in fine-grained access control to a role that manages the facewatch-* indices, aliases and templates."
  type        = string
}

variable "admin_role_arn" {
  description = "IAM role that is the fine-grained access control master user (operators)."
  type        = string
}

variable "kms_key_arn" {
  type = string
}

variable "log_retention_days" {
  type    = number
  default = 365
}
