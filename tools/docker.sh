#!/usr/bin/env bash
# A private Docker engine for the container test and `make image`, and the local base image it builds on.
#
#   tools/docker.sh up     install docker.io/debootstrap if missing (apt), start dockerd if it is not
#                          answering, make the base image if it is missing; prints `export DOCKER_HOST=...`
#   tools/docker.sh down   stop the dockerd this script started
#   tools/docker.sh check  exit 0 when an engine answers (at $DOCKER_HOST or ours), 1 otherwise
#
# dockerd runs with its data, exec root, pid file and socket under .cache/docker (ignored), no bridge and
# no iptables rules, so it leaves the machine's network alone; builds and containers use --network=host.
# No registry is reachable here, so the base is Debian bookworm made by debootstrap and imported, with the
# host's extra CA certificates (outbound HTTPS goes through a TLS-intercepting proxy).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.cache/docker
SOCK=$STATE/run/docker.sock
export DOCKER_HOST=${DOCKER_HOST:-unix://$SOCK}
BASE_TAG=${FACEWATCH_BASE_IMAGE:-facewatch-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DOCKER=/usr/bin/docker  # Debian's client, same version as its daemon (the machine's newer one has no buildx)
[ -x "$DOCKER" ] || DOCKER=$(command -v docker || echo docker)

fail() { echo "docker.sh: $*" >&2; exit 1; }
step() { echo "docker.sh: $*" >&2; }

answering() { "$DOCKER" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io iptables)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
    || fail "missing ${missing[*]}: install them with 'sudo apt-get install ${missing[*]}'"
  step "apt-get install ${missing[*]}"
  mkdir -p "$STATE"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}") \
    >"$STATE/apt.log" 2>&1 || fail "apt-get install ${missing[*]} failed; see $STATE/apt.log"
  DOCKER=/usr/bin/docker
}

start_engine() {
  answering && return 0
  mkdir -p "$STATE/run" "$STATE/data" "$STATE/exec"
  step "starting dockerd (socket $SOCK, log $STATE/dockerd.log)"
  # setsid: the engine outlives this script (and the make/pytest that called it) until `down`.
  setsid dockerd --host="unix://$SOCK" --pidfile="$STATE/run/dockerd.pid" --data-root="$STATE/data" \
    --exec-root="$STATE/exec" --storage-driver=overlay2 --iptables=false --ip6tables=false --bridge=none \
    >"$STATE/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    answering && return 0
    sleep 1
  done
  fail "dockerd did not answer within 60 s; see $STATE/dockerd.log"
}

make_base() {
  "$DOCKER" image inspect "$BASE_TAG" >/dev/null 2>&1 && return 0
  local rootfs=$STATE/rootfs
  step "making $BASE_TAG: debootstrap bookworm from $MIRROR (~1 min)"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$MIRROR" >"$STATE/debootstrap.log" 2>&1 \
    || fail "debootstrap failed; see $STATE/debootstrap.log"
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >>"$STATE/debootstrap.log" 2>&1 || fail "update-ca-certificates in the base failed"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "$DOCKER" import - "$BASE_TAG" >/dev/null || fail "docker import of the base failed"
  rm -rf "$rootfs"
}

case "${1:-up}" in
  up)
    install_packages
    start_engine
    make_base
    echo "export DOCKER_HOST=$DOCKER_HOST"
    ;;
  down)
    if [ -f "$STATE/run/dockerd.pid" ]; then
      kill "$(cat "$STATE/run/dockerd.pid")" 2>/dev/null || true
      for _ in $(seq 1 30); do [ -f "$STATE/run/dockerd.pid" ] || break; sleep 1; done
    fi
    ;;
  check)
    answering
    ;;
  *)
    fail "usage: tools/docker.sh up|down|check"
    ;;
esac
