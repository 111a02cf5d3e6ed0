#!/usr/bin/env bash
# Starts the real services the integration tests use: the Docker engine (Debian docker.io) and an OCI
# registry (Debian docker-registry) on 127.0.0.1 with htpasswd auth. Idempotent: running it again
# leaves healthy services alone. Needs root on Debian (it installs packages when they are missing).
#
# Settings (the tests read the same variables, with the same defaults, in test/support/docker.ts):
#   LAUNCH_TEST_REGISTRY           host:port of the registry          (default 127.0.0.1:5000)
#   LAUNCH_TEST_REGISTRY_USER      htpasswd user                      (default launch)
#   LAUNCH_TEST_REGISTRY_PASSWORD  htpasswd password (test-only)      (default launch-ci-password)
#   LAUNCH_TEST_TOKEN_REGISTRY     host:port of a second registry with token (Bearer) auth (default 127.0.0.1:5001)
#   LAUNCH_TEST_TOKEN_REALM        host:port where the tests serve its token endpoint     (default 127.0.0.1:5002)
#   LAUNCH_SERVICES_DIR            state: configs, storage, logs      (default /tmp/launch-ci-services)
#   DOCKERD_STORAGE_DRIVER         storage driver for a new dockerd   (default: overlay2, vfs if that fails)
set -euo pipefail

REGISTRY="${LAUNCH_TEST_REGISTRY:-127.0.0.1:5000}"
REG_USER="${LAUNCH_TEST_REGISTRY_USER:-launch}"
REG_PASSWORD="${LAUNCH_TEST_REGISTRY_PASSWORD:-launch-ci-password}"
STATE="${LAUNCH_SERVICES_DIR:-/tmp/launch-ci-services}"
TOKEN_REGISTRY="${LAUNCH_TEST_TOKEN_REGISTRY:-127.0.0.1:5001}"
TOKEN_REALM="${LAUNCH_TEST_TOKEN_REALM:-127.0.0.1:5002}"

log() { echo "services: $*" >&2; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

wait_for() { # wait_for <seconds> <description> <command...>
  local secs="$1" what="$2"; shift 2
  for _ in $(seq 1 $((secs * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

# --- packages -------------------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
[ -x /bin/busybox ] || missing+=(busybox-static) # that it is the static build is checked below
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
command -v openssl >/dev/null 2>&1 || missing+=(openssl) # token-registry key, TLS for the test git server
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v file >/dev/null 2>&1 || missing+=(file)
if [ "${#missing[@]}" -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing packages ${missing[*]}; run as root or: sudo apt-get install -y ${missing[*]}"
  log "installing ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
  }
fi
# busybox must be the static build: it is copied into FROM-scratch test images.
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || \
  ldd /bin/busybox 2>&1 | grep -q 'not a dynamic executable' || \
  die "/bin/busybox is not statically linked; install busybox-static"

mkdir -p "$STATE"

# --- dockerd --------------------------------------------------------------------------------
start_dockerd() { # start_dockerd <driver>
  log "starting dockerd (storage driver $1, log $STATE/dockerd.log)"
  # setsid: the daemon must outlive this script and the shell that ran it.
  setsid -f dockerd --storage-driver "$1" --data-root "/var/lib/docker-$1" \
    --host unix:///var/run/docker.sock --pidfile "$STATE/dockerd.pid" \
    >>"$STATE/dockerd.log" 2>&1 </dev/null
  wait_for 30 dockerd docker info
}

if docker info >/dev/null 2>&1; then
  log "dockerd already running"
else
  [ "$(id -u)" = 0 ] || die "dockerd is not running and only root can start it: sudo bash .ci/services.sh"
  driver="${DOCKERD_STORAGE_DRIVER:-overlay2}"
  if ! start_dockerd "$driver"; then
    [ -f "$STATE/dockerd.pid" ] && kill "$(cat "$STATE/dockerd.pid")" 2>/dev/null || true
    sleep 1
    [ "$driver" = vfs ] && die "dockerd did not start; see $STATE/dockerd.log"
    log "dockerd with $driver did not start; retrying with vfs"
    start_dockerd vfs || die "dockerd did not start; see $STATE/dockerd.log"
  fi
fi

# --- registry -------------------------------------------------------------------------------
registry_auth_ok() {
  curl -fsS -o /dev/null -u "$REG_USER:$REG_PASSWORD" "http://$REGISTRY/v2/" 2>/dev/null
}

if registry_auth_ok; then
  log "registry already running on $REGISTRY"
else
  if curl -sS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; then
    die "something else answers on $REGISTRY and rejects $REG_USER; stop it or set LAUNCH_TEST_REGISTRY"
  fi
  mkdir -p "$STATE/registry-storage"
  # bcrypt (-B) is the only hash docker-registry accepts.
  htpasswd -Bbc "$STATE/htpasswd" "$REG_USER" "$REG_PASSWORD" 2>/dev/null
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry-storage
  delete:
    enabled: true
http:
  addr: $REGISTRY
auth:
  htpasswd:
    realm: launch-ci-registry
    path: $STATE/htpasswd
EOF
  log "starting docker-registry on $REGISTRY (log $STATE/registry.log)"
  setsid -f docker-registry serve "$STATE/registry.yml" >>"$STATE/registry.log" 2>&1 </dev/null
  wait_for 20 registry registry_auth_ok || die "registry did not answer on $REGISTRY; see $STATE/registry.log"
fi

# --- registry with token auth ---------------------------------------------------------------
# Docker Hub, Artifact Registry and ACR answer with a Bearer challenge; this registry does too, so the
# token flow is tested against the real server. The tests serve its token endpoint and sign tokens
# with the key below (the registry trusts its certificate).
token_registry_ok() {
  curl -sS -o /dev/null -D - "http://$TOKEN_REGISTRY/v2/" 2>/dev/null | grep -qi "www-authenticate: Bearer realm=\"http://$TOKEN_REALM/token\""
}
if token_registry_ok; then
  log "token-auth registry already running on $TOKEN_REGISTRY"
else
  mkdir -p "$STATE/token-registry-storage"
  if [ ! -s "$STATE/token-key.pem" ] || [ ! -s "$STATE/token-cert.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=launch-ci-token-issuer" \
      -keyout "$STATE/token-key.pem" -out "$STATE/token-cert.pem" 2>/dev/null
  fi
  cat >"$STATE/token-registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/token-registry-storage
  delete:
    enabled: true
http:
  addr: $TOKEN_REGISTRY
auth:
  token:
    realm: http://$TOKEN_REALM/token
    service: launch-ci-token-registry
    issuer: launch-ci-token-issuer
    rootcertbundle: $STATE/token-cert.pem
EOF
  log "starting token-auth docker-registry on $TOKEN_REGISTRY (log $STATE/token-registry.log)"
  setsid -f docker-registry serve "$STATE/token-registry.yml" >>"$STATE/token-registry.log" 2>&1 </dev/null
  wait_for 20 token-registry token_registry_ok || die "token-auth registry did not answer on $TOKEN_REGISTRY; see $STATE/token-registry.log"
fi

log "ready: docker $(docker version --format '{{.Server.Version}}'), registry http://$REGISTRY (user $REG_USER), token-auth registry http://$TOKEN_REGISTRY"
