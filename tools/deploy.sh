#!/usr/bin/env bash
# Deploy facewatch to an AWS account: preflight, ECR repository, image build and push, terraform plan
# shown, then applied. Nothing is changed before every preflight check has passed.
#
#   tools/deploy.sh preflight|plan|deploy|destroy
#
# Environment:
#   FACEWATCH_ENV           environment folder under infra/terraform/envs (default prod)
#   FACEWATCH_TF_STATE      S3 bucket holding the Terraform state (required: state is never local)
#   FACEWATCH_TF_LOCK_TABLE optional DynamoDB table for state locking
#   AUTO_APPROVE=1          apply without the confirmation prompt (CI)
#   BASE_IMAGE              base of the worker image (default: the Dockerfile's pinned Debian)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ENV_NAME=${FACEWATCH_ENV:-prod}
TF_DIR=$ROOT/infra/terraform/envs/$ENV_NAME
PY=${PY:-$ROOT/.venv/bin/python}
ACTION=${1:-deploy}

fail() { echo "deploy: $*" >&2; exit 1; }
step() { echo "deploy: $*" >&2; }

preflight() {
  [ -d "$TF_DIR" ] || fail "no environment '$ENV_NAME' (infra/terraform/envs/$ENV_NAME); set FACEWATCH_ENV"
  [ -x "$PY" ] || fail "no Python environment; run 'make deps' first"
  case "${AWS_ENDPOINT_URL:-}" in
    *127.0.0.1*|*localhost*) fail "AWS_ENDPOINT_URL points at the local stack ($AWS_ENDPOINT_URL); unset it (and the stack's AWS_* variables) to deploy to AWS" ;;
  esac
  # Credentials first: the most common miss, and the check that says which account would change.
  local why
  why=$(mktemp)
  ACCOUNT=$("$PY" - 2>"$why" <<'PY'
import sys
import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
try:
    session = boto3.Session()
    if session.get_credentials() is None:
        raise NoCredentialsError()
    print(session.client("sts").get_caller_identity()["Account"])
except NoCredentialsError:
    sys.exit("no AWS credentials: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) for the target account")
except (BotoCoreError, ClientError) as exc:
    sys.exit(f"AWS credentials not usable ({exc}); check AWS_PROFILE / AWS_REGION and the network")
PY
  ) || fail "$(tail -n 1 "$why"); nothing was changed"
  rm -f "$why"
  command -v terraform >/dev/null || fail "terraform not found: install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)"
  if [ "$ACTION" = deploy ]; then
    command -v docker >/dev/null || fail "docker not found: install Docker to build the worker image"
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
      || fail "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-default}); start Docker, or 'tools/docker.sh up' here"
  fi
  [ -f "$TF_DIR/terraform.tfvars" ] \
    || fail "no $TF_DIR/terraform.tfvars: copy terraform.tfvars.example next to it and fill it in"
  [ -n "${FACEWATCH_TF_STATE:-}" ] || fail "FACEWATCH_TF_STATE is not set: name the S3 bucket that holds the Terraform state"
  REGION=$(sed -n 's/^region *= *"\(.*\)"/\1/p' "$TF_DIR/terraform.tfvars")
  [ -n "$REGION" ] || fail "region is not set in $TF_DIR/terraform.tfvars"
  step "account $ACCOUNT, region $REGION, environment $ENV_NAME"
}

tf() { terraform -chdir="$TF_DIR" "$@"; }

init() {
  local lock=()
  [ -n "${FACEWATCH_TF_LOCK_TABLE:-}" ] && lock=(-backend-config="dynamodb_table=$FACEWATCH_TF_LOCK_TABLE")
  tf init -input=false -backend-config="bucket=$FACEWATCH_TF_STATE" \
    -backend-config="key=facewatch/$ENV_NAME.tfstate" -backend-config="region=$REGION" \
    -backend-config="encrypt=true" "${lock[@]}"
}

image_tag() {
  local sha
  sha=$(git rev-parse --short=12 HEAD)
  if [ -n "$(git status --porcelain)" ]; then sha="$sha-dirty-$(date +%s)"; fi
  echo "$sha"
}

# Before the service changes: every shard's checkpoint, so a bad deploy can be rolled back with
# `facewatch replay --to-checkpoints FILE` (README, Replay). Nothing deployed or never run: nothing to save.
export_checkpoints() {
  local tag=$1 stream app out why
  stream=$(tf output -raw detections_stream 2>/dev/null) && app=$(tf output -raw application_name 2>/dev/null) \
    || { step "nothing deployed yet: no checkpoints to save"; return 0; }
  out=$ROOT/.run/checkpoints/$app-before-$tag.json
  why=$(mktemp)
  if FACEWATCH_STREAM=$stream FACEWATCH_APPLICATION=$app AWS_REGION=$REGION \
      "$PY" -m worker checkpoints export --out "$out" >/dev/null 2>"$why"; then
    step "checkpoints saved to $out (roll back: facewatch replay --to-checkpoints $out --dry-run, then --execute)"
  elif grep -q "no lease table" "$why"; then
    step "no worker has run yet: no checkpoints to save"
  else
    cat "$why" >&2
    rm -f "$why"
    fail "could not save the checkpoints before changing the service (set SKIP_CHECKPOINT_EXPORT=1 to deploy without)"
  fi
  rm -f "$why"
}

plan_and_apply() {
  local tag=$1
  tf plan -input=false -var "image_tag=$tag" -out=deploy.tfplan
  if [ "${AUTO_APPROVE:-0}" != 1 ]; then
    read -r -p "Apply this plan to account $ACCOUNT? [y/N] " answer
    [ "$answer" = y ] || [ "$answer" = Y ] || fail "not applied"
  fi
  tf apply -input=false deploy.tfplan
}

push_image() {
  local tag=$1 repo
  repo=$(tf output -raw repository_url)
  step "building the worker image $repo:$tag"
  docker build -f docker/Dockerfile ${BASE_IMAGE:+--build-arg BASE_IMAGE="$BASE_IMAGE"} -t "$repo:$tag" .
  "$PY" - "$REGION" <<'PY' | docker login --username AWS --password-stdin "${repo%%/*}"
import base64, sys, boto3
token = boto3.client("ecr", region_name=sys.argv[1]).get_authorization_token()["authorizationData"][0]
print(base64.b64decode(token["authorizationToken"]).decode().split(":", 1)[1])
PY
  docker push "$repo:$tag"
}

case "$ACTION" in
  preflight)
    preflight
    ;;
  plan)
    preflight
    init
    tf plan -input=false -var "image_tag=${IMAGE_TAG:-$(image_tag)}"
    ;;
  deploy)
    preflight
    init
    TAG=$(image_tag)
    # The repository must exist before the image can be pushed; this first apply touches nothing else.
    step "ECR repository (targeted apply)"
    tf apply -input=false -var "image_tag=$TAG" -target=module.workers.aws_ecr_repository.worker \
      ${AUTO_APPROVE:+-auto-approve}
    push_image "$TAG"
    [ "${SKIP_CHECKPOINT_EXPORT:-0}" = 1 ] || export_checkpoints "$TAG"
    plan_and_apply "$TAG"
    step "deployed $TAG; stream processors are created stopped: 'facewatch processors start' starts them"
    ;;
  destroy)
    preflight
    init
    tf destroy -input=false -var "image_tag=${IMAGE_TAG:-$(image_tag)}"
    ;;
  *)
    fail "usage: tools/deploy.sh preflight|plan|deploy|destroy"
    ;;
esac
