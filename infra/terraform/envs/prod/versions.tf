terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.80"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.6"
    }
  }

  # State in S3 with locking; bucket, key and region come from `make deploy` (-backend-config),
  # so one configuration serves every account.
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "facewatch"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
