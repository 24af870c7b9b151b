# The search side: detections, tracks, alerts and quarantine indices. In a VPC, HTTPS only, encrypted at
# rest and between nodes, fine-grained access control with IAM principals (the workers sign with SigV4).
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  domain_arn = "arn:aws:es:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:domain/${var.domain_name}"
}

resource "aws_security_group" "domain" {
  name        = "${var.domain_name}-opensearch"
  description = "OpenSearch domain: HTTPS from the workers only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "https_from_clients" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.domain.id
  description                  = "HTTPS from a client security group"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
}

resource "aws_cloudwatch_log_group" "domain" {
  for_each          = toset(["index-slow", "search-slow", "application", "audit"])
  name              = "/aws/opensearch/${var.domain_name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

data "aws_iam_policy_document" "logs" {
  statement {
    actions   = ["logs:PutLogEvents", "logs:CreateLogStream"]
    resources = [for g in aws_cloudwatch_log_group.domain : "${g.arn}:*"]
    principals {
      type        = "Service"
      identifiers = ["es.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_cloudwatch_log_resource_policy" "domain" {
  policy_name     = "${var.domain_name}-opensearch-logs"
  policy_document = data.aws_iam_policy_document.logs.json
}

data "aws_iam_policy_document" "access" {
  statement {
    actions   = ["es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete"]
    resources = ["${local.domain_arn}/*"]
    principals {
      type        = "AWS"
      identifiers = [var.worker_role_arn, var.replay_role_arn, var.admin_role_arn]
    }
  }
}

resource "aws_opensearch_domain" "this" {
  domain_name     = var.domain_name
  engine_version  = var.engine_version
  access_policies = data.aws_iam_policy_document.access.json

  cluster_config {
    instance_type            = var.instance_type
    instance_count           = var.instance_count
    zone_awareness_enabled   = length(var.subnet_ids) > 1
    dedicated_master_enabled = var.dedicated_master
    dedicated_master_type    = var.dedicated_master ? var.master_instance_type : null
    dedicated_master_count   = var.dedicated_master ? 3 : null

    dynamic "zone_awareness_config" {
      for_each = length(var.subnet_ids) > 1 ? [1] : []
      content {
        availability_zone_count = min(length(var.subnet_ids), 3)
      }
    }
  }

  ebs_options {
    ebs_enabled = true
    volume_type = "gp3"
    volume_size = var.volume_gb
  }

  vpc_options {
    subnet_ids         = var.subnet_ids
    security_group_ids = [aws_security_group.domain.id]
  }

  encrypt_at_rest {
    enabled    = true
    kms_key_id = var.kms_key_arn
  }

  node_to_node_encryption {
    enabled = true
  }

  domain_endpoint_options {
    enforce_https       = true
    tls_security_policy = "Policy-Min-TLS-1-2-2019-07"
  }

  advanced_security_options {
    enabled                        = true
    internal_user_database_enabled = false
    anonymous_auth_enabled         = false
    master_user_options {
      master_user_arn = var.admin_role_arn
    }
  }

  log_publishing_options {
    log_type                 = "INDEX_SLOW_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["index-slow"].arn
  }

  log_publishing_options {
    log_type                 = "SEARCH_SLOW_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["search-slow"].arn
  }

  log_publishing_options {
    log_type                 = "ES_APPLICATION_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["application"].arn
  }

  log_publishing_options {
    log_type                 = "AUDIT_LOGS"
    enabled                  = true
    cloudwatch_log_group_arn = aws_cloudwatch_log_group.domain["audit"].arn
  }

  depends_on = [aws_cloudwatch_log_resource_policy.domain]
}
