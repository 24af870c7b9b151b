variable "name_prefix" {
  description = "Prefix of every resource name (e.g. facewatch-prod)."
  type        = string
}

variable "cameras" {
  description = "One entry per camera: its id (stream names), site, floor and zone. The same list feeds the workers' camera registry."
  type = list(object({
    id       = string
    site     = string
    floor    = optional(string, "")
    zone     = optional(string, "")
    timezone = optional(string, "UTC")
  }))

  validation {
    condition     = length(var.cameras) == length(distinct([for c in var.cameras : c.id]))
    error_message = "cameras: every id must be unique."
  }

  validation {
    condition     = alltrue([for c in var.cameras : can(regex("^[a-zA-Z0-9_.-]{1,64}$", c.id))])
    error_message = "cameras: an id may hold letters, digits, '_', '.', '-' only (1-64 characters); it names streams."
  }
}

variable "collection_ids" {
  description = "Rekognition face collections to create. The first is searched by every stream processor; watchlist faces are enrolled in it with ExternalImageId prefixed by the workers' watchlist prefix (a stream processor searches a single collection)."
  type        = list(string)
}

variable "face_match_threshold" {
  description = "Minimum similarity (%) for Rekognition to report a match."
  type        = number
  default     = 85
}

variable "video_retention_hours" {
  description = "Hours Kinesis Video Streams keeps the video (0 keeps none; the best frames are found by fragment number, so keep some)."
  type        = number
  default     = 24
}

variable "detections_stream_arn" {
  description = "The stream the pipes fan every camera's results into."
  type        = string
}

variable "kms_key_arn" {
  description = "Customer managed key for video, output streams and the stream processors."
  type        = string
}
