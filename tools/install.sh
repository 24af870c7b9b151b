#!/usr/bin/env bash
# Installs everything the project needs into ignored folders (.venv, .cache), from PyPI, npm,
# Maven Central and Debian. Each step is skipped when its output is already there, so a second run
# takes seconds. Any failure prints one line: what failed and what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
M2=$CACHE/m2
PY=${PYTHON:-python3}

fail() { echo "install: $*" >&2; exit 1; }
step() { echo "install: $*" >&2; }

command -v java >/dev/null || fail "java not found: install a Java 17 JDK (Debian: apt-get install openjdk-17-jdk-headless)"
command -v mvn >/dev/null || fail "mvn not found: install Maven (Debian: apt-get install maven)"
command -v node >/dev/null || fail "node not found: install Node.js 20 with npm"
command -v npm >/dev/null || fail "npm not found: install Node.js 20 with npm"
mkdir -p "$CACHE"

# 1. Debian: nghttpx, the h2c front of kinesalite (the KCL speaks HTTP/2 only).
if ! command -v nghttpx >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    step "apt-get install nghttp2-proxy"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nghttp2-proxy) \
      >"$CACHE/apt.log" 2>&1 || fail "apt-get install nghttp2-proxy failed; see $CACHE/apt.log"
  else
    fail "nghttpx not found: run 'sudo apt-get install nghttp2-proxy'"
  fi
fi

# 2-3. The Python environment, with amazon-kclpy installed from the KCL jars Maven fetched (tools/kcl_jars.sh,
# the same script the image build runs).
if [ ! -f .venv/.done ] || [ pyproject.toml -nt .venv/.done ]; then
  step "Python virtualenv (.venv) and the KCL jars (Maven, ~35 MB the first time)"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv || fail "python3 -m venv failed: install python3-venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null 2>&1 || true
  bash tools/kcl_jars.sh .venv/bin/python "$CACHE/kcl" "$M2" || fail "the KCL jars step failed (above)"
  .venv/bin/pip install -q -e ".[dev]" >"$CACHE/pip.log" 2>&1 || fail "pip install -e .[dev] failed; see $CACHE/pip.log"
  touch .venv/.done
fi

# 4. kinesalite (npm), in memory.
if [ ! -f "$CACHE/node/.done" ] || [ stack/kinesalite/package-lock.json -nt "$CACHE/node/.done" ]; then
  step "kinesalite (npm)"
  mkdir -p "$CACHE/node"
  cp stack/kinesalite/package.json stack/kinesalite/package-lock.json "$CACHE/node/"
  (cd "$CACHE/node" && npm ci --no-audit --no-fund --ignore-scripts >npm.log 2>&1) \
    || fail "npm ci (kinesalite) failed; see $CACHE/node/npm.log"
  touch "$CACHE/node/.done"
fi

# 5. DynamoDB Local and the OpenSearch runner (Maven), and the launchers that bind them to 127.0.0.1.
for profile in dynamodb opensearch; do
  if [ ! -f "$CACHE/jars/$profile/.done" ] || [ stack/pom.xml -nt "$CACHE/jars/$profile/.done" ]; then
    step "$profile jars (Maven)"
    rm -rf "$CACHE/jars/$profile"
    mvn -B -q -f stack/pom.xml -P"$profile" -Dmaven.repo.local="$M2" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$CACHE/jars/$profile" >"$CACHE/mvn-$profile.log" 2>&1 \
      || fail "Maven could not fetch the $profile jars; see $CACHE/mvn-$profile.log"
    touch "$CACHE/jars/$profile/.done"
  fi
done
if [ ! -f "$CACHE/classes/.done" ] || [ -n "$(find stack/java -newer "$CACHE/classes/.done" -name '*.java')" ]; then
  step "compile the stack launchers"
  mkdir -p "$CACHE/classes"
  javac -d "$CACHE/classes" -cp "$CACHE/jars/dynamodb/*" stack/java/DynamoDbLocalLauncher.java \
    || fail "javac DynamoDbLocalLauncher failed"
  javac -d "$CACHE/classes" -cp "$CACHE/jars/opensearch/*" stack/java/OpenSearchLauncher.java \
    || fail "javac OpenSearchLauncher failed"
  touch "$CACHE/classes/.done"
fi
# 6. The tracker's hot modules compiled by mypyc (worker/native.py), filed under a key of their sources: a no-op
# when this exact source is built, ~1 min otherwise. Without a C compiler the worker runs them as Python.
if command -v cc >/dev/null || command -v gcc >/dev/null; then
  if [ ! -f "$CACHE/native/$(.venv/bin/python -m worker.native key)/.complete" ]; then
    step "compile the tracker (mypyc, ~1 min)"
    .venv/bin/python -m worker.native build >"$CACHE/native.log" 2>&1 \
      || step "WARNING: the mypyc build failed (see $CACHE/native.log); the tracker runs as Python, ~1.8x slower"
  fi
else
  step "WARNING: no C compiler (Debian: apt-get install gcc); the tracker runs as Python, ~1.8x slower"
fi
step "ready"
