# facewatch: KCL consumer workers for Rekognition Video face-search results.
# `make demo` runs the walking skeleton on the local stack; `make test` runs every test.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: help deps stack-up stack-down stack-status stack-reset demo test test-unit test-integration test-container bench bench-latest bench-pure bench-processor bench-quality bench-throughput bench-alerts bench-replay bench-heap faults fuzz lint lint-infra image docker-up docker-down plan deploy destroy clean

help:
	@echo "make demo        - install, start the local stack, run 2 workers on simulated cameras, summarise"
	@echo "make test        - unit + integration tests (starts and stops the local stack itself)"
	@echo "make deps        - install everything into .venv and .cache (idempotent)"
	@echo "make stack-up    - start the local stack; endpoints in .run/stack.env"
	@echo "make stack-down  - stop the local stack"
	@echo "make stack-reset - delete the local stack's OpenSearch data (.run/data/opensearch); stack stopped only"
	@echo "make bench       - every layer beside its ceiling (latest.json, charts), quality, alerts, replay -> bench/results/"
	@echo "make bench-latest - pure path, processor vs raw bulk, end to end, CPU split, alerts under load (~15 min)"
	@echo "make bench-alerts - alert recall/precision/latency over a simulated day; a kill; a webhook outage (~12 min)"
	@echo "make bench-replay - replay catch-up (side by side, from the archive) beside the live rate; documents compared"
	@echo "make fuzz        - hostile records through the whole batch path (20000 examples, ~20 min)"
	@echo "make faults      - the fault suite (kill -9, outages, 429s, Firehose failures, poison, split, scaling)"
	@echo "make image       - build the worker image (starts a local Docker engine and base image if needed)"
	@echo "make test-container - build the image and run it against the local stack (starts the engine here)"
	@echo "make lint        - ruff check, ruff format --check, mypy (configured in pyproject.toml)"
	@echo "make lint-infra  - terraform fmt -check, checkov, hadolint (offline)"
	@echo "make plan / deploy / destroy - Terraform + ECR for an AWS account (see README, Deploy)"

deps:
	@bash tools/install.sh

stack-up: deps
	@$(PY) -m worker stack up

stack-down:
	@if [ -x $(PY) ]; then $(PY) -m worker stack down; fi

# Deletes .run/data/opensearch only (the other servers keep their state in memory); refuses while the stack runs.
stack-reset:
	@if [ -x $(PY) ]; then $(PY) -m worker stack reset; else echo "stack-reset: no $(PY); run make deps first" >&2; exit 1; fi

stack-status: deps
	@$(PY) -m worker stack status

demo: deps
	@$(PY) -m worker demo

test: deps lint lint-infra
	@$(PY) -m pytest -q tests

test-unit: deps
	@$(PY) -m pytest -q tests/unit

test-integration: deps
	@$(PY) -m pytest -q tests/integration

bench: bench-latest bench-quality bench-alerts bench-replay

# Every layer beside its ceiling, in one run: bench/results/latest.json and the charts in docs/img/.
bench-latest: deps
	@$(PY) bench/latest.py

bench-pure: deps
	@$(PY) bench/pure_path.py

bench-processor: deps
	@$(PY) bench/processor.py

bench-quality: deps
	@$(PY) bench/quality.py

bench-throughput: deps
	@$(PY) bench/throughput.py

bench-alerts: deps
	@$(PY) bench/alerts.py

bench-replay: deps
	@$(PY) bench/replay.py

# The daemon JVM's heap as the image sizes it, with maxRecords 10000 on two shards (issue 22).
bench-heap: deps
	@$(PY) bench/daemon_heap.py

faults: deps
	@$(PY) bench/faults.py

# The hostile-input property test of the batch path, longer than in `make test` (FACEWATCH_FUZZ_EXAMPLES).
fuzz: deps
	@HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_batch_hostile.py

# ---- containers: a private engine (tools/docker.sh) and the worker image ----
DOCKER_ENV = eval "$$(bash tools/docker.sh up)" && export DOCKER_BUILDKIT=1

docker-up:
	@bash tools/docker.sh up

docker-down:
	@bash tools/docker.sh down

image: deps
	@$(DOCKER_ENV) && /usr/bin/docker build --network=host -f docker/Dockerfile \
		--build-arg BASE_IMAGE=$${FACEWATCH_BASE_IMAGE:-facewatch-base:bookworm} -t facewatch-worker:dev .

test-container: deps
	@$(DOCKER_ENV) && FACEWATCH_CONTAINER_TEST=1 $(PY) -m pytest -q -s tests/integration/test_container.py

# ---- Python lint and type gates (the rules are in pyproject.toml; .pre-commit-config.yaml runs the same) ----
LINT_PATHS = worker tests bench tools infra/terraform/modules/scaling/src

lint: deps
	@.venv/bin/ruff check $(LINT_PATHS)
	@.venv/bin/ruff format --check $(LINT_PATHS)
	@.venv/bin/mypy

# ---- infrastructure, checked offline ----
CHECKOV = .cache/checkov/bin/checkov

$(CHECKOV):
	@python3 -m venv .cache/checkov && .cache/checkov/bin/pip install -q "checkov==3.3.30" >.cache/checkov.log 2>&1 \
		|| (echo "lint-infra: pip install checkov failed; see .cache/checkov.log" >&2; exit 1)

lint-infra: deps $(CHECKOV)
	@if command -v terraform >/dev/null; then TF_CLI_CONFIG_FILE=/dev/null terraform fmt -recursive -check infra/terraform && echo "terraform fmt: clean"; \
	else echo "terraform not installed: fmt check skipped (checkov and the HCL tests still run)"; fi
	@$(CHECKOV) -d infra/terraform --framework terraform --compact --quiet --skip-download
	@.venv/bin/hadolint docker/Dockerfile && echo "hadolint: clean"

# ---- AWS (tools/deploy.sh checks credentials, terraform and docker before changing anything) ----
plan: deps
	@bash tools/deploy.sh plan

deploy: deps
	@bash tools/deploy.sh deploy

destroy: deps
	@bash tools/deploy.sh destroy

clean: stack-down
	rm -rf .run
