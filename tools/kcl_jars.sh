#!/usr/bin/env bash
# Fetch the KCL jars for the pinned amazon-kclpy with Maven, from the pom inside its sdist, and install
# amazon-kclpy into a Python environment from that local Maven repository. Used by tools/install.sh and
# by the image build (docker/Dockerfile), so both run exactly the same jar set.
#   tools/kcl_jars.sh <python of the target environment> <dist dir> <maven repo dir>
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$1 DIST=$2 M2=$3
VERSION=$(sed -n 's/.*"amazon-kclpy==\([0-9.]*\)".*/\1/p' pyproject.toml)
[ -n "$VERSION" ] || { echo "kcl_jars: no amazon-kclpy==X pin in pyproject.toml" >&2; exit 1; }
SDIST=$DIST/amazon_kclpy-$VERSION.tar.gz
mkdir -p "$DIST" "$M2"
[ -f "$SDIST" ] || "$PY" -m pip download -q --no-deps --no-binary :all: "amazon-kclpy==$VERSION" -d "$DIST" \
  || { echo "kcl_jars: pip download amazon-kclpy==$VERSION failed: is PyPI reachable?" >&2; exit 1; }
"$PY" tools/kcl_pom.py "$SDIST" "$DIST/pom.xml"
mvn -B -q -f "$DIST/pom.xml" -Dmaven.repo.local="$M2" dependency:resolve -DexcludeTransitive=true >"$DIST/mvn.log" 2>&1 \
  || { echo "kcl_jars: Maven could not fetch the KCL jars; see $DIST/mvn.log" >&2; exit 1; }
# amazon-kclpy's installer copies its jars from the repository named here instead of Maven Central.
KCL_MVN_REPO_SEARCH_URL="file://$M2/" "$PY" -m pip install -q "$SDIST" >"$DIST/pip-kclpy.log" 2>&1 \
  || { echo "kcl_jars: installing amazon-kclpy failed; see $DIST/pip-kclpy.log" >&2; exit 1; }
"$PY" - <<'PY' || { echo "kcl_jars: amazon-kclpy is installed without its jars" >&2; exit 1; }
import pathlib, amazon_kclpy
jars = list((pathlib.Path(amazon_kclpy.__file__).parent / "jars").glob("*.jar"))
assert any(j.name.startswith("amazon-kinesis-client-multilang-") for j in jars), jars
PY
