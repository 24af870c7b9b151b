# facewatch: KCL consumer workers for Rekognition Video face-search results.
# `make demo` runs the walking skeleton on the local stack; `make test` runs every test.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: help deps stack-up stack-down stack-status demo test test-unit test-integration bench bench-quality bench-throughput faults lint clean

help:
	@echo "make demo        - install, start the local stack, run 2 workers on simulated cameras, summarise"
	@echo "make test        - unit + integration tests (starts and stops the local stack itself)"
	@echo "make deps        - install everything into .venv and .cache (idempotent)"
	@echo "make stack-up    - start the local stack; endpoints in .run/stack.env"
	@echo "make stack-down  - stop the local stack"
	@echo "make bench       - quality (tracker vs ground truth) and throughput benchmarks -> bench/results/"
	@echo "make faults      - the fault suite (kill -9, outages, 429s, Firehose failures, poison, split, scaling)"

deps:
	@bash tools/install.sh

stack-up: deps
	@$(PY) -m worker stack up

stack-down:
	@if [ -x $(PY) ]; then $(PY) -m worker stack down; fi

stack-status: deps
	@$(PY) -m worker stack status

demo: deps
	@$(PY) -m worker demo

test: deps
	@$(PY) -m pytest -q tests

test-unit: deps
	@$(PY) -m pytest -q tests/unit

test-integration: deps
	@$(PY) -m pytest -q tests/integration

bench: bench-quality bench-throughput

bench-quality: deps
	@$(PY) bench/quality.py

bench-throughput: deps
	@$(PY) bench/throughput.py

faults: deps
	@$(PY) bench/faults.py

clean: stack-down
	rm -rf .run
