#!/usr/bin/env bash
# Builds the agent image from the repository's Dockerfile and runs it, where nothing can be pulled:
#  1. a Debian bookworm base made with debootstrap, carrying this machine's Node (bookworm's nodejs is 18)
#     and a uid-1000 `node` user like the official Node images; cached as a local image between runs;
#  2. the agent compiled (dist/) and its production node_modules pruned from the checkout's, both offline,
#     then `docker build --target prebuilt --build-arg BASE_IMAGE=<that base>`;
#  3. checks in the image: --help as uid 1000, config validate of a mounted config, and a job from a
#     mounted local queue to `finished`. Prints the image size.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
node_major=$(node -p 'process.versions.node.split(".")[0]')
BASE=${LAUNCH_AGENT_CI_BASE:-launch-agent-ci-base:bookworm-node${node_major}}
IMAGE=${LAUNCH_AGENT_CI_IMAGE:-launch-agent:ci}

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  echo "agent-image: making $BASE with debootstrap"
  debootstrap --variant=minbase --include=git,openssh-client,python3,ca-certificates,tini bookworm "$root" http://deb.debian.org/debian >/dev/null
  install -m 0755 "$(command -v node)" "$root/usr/local/bin/node"
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  mkdir -p "$root/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  chroot "$root" useradd --create-home --uid 1000 --user-group --shell /bin/sh node
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/*
  tar -C "$root" -c . | docker import - "$BASE" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi
echo "agent-image: base ready after $(( $(date +%s) - start ))s"

# The agent as the Dockerfile's build and deps stages would make it, from the checkout without the network.
rm -rf .image && mkdir -p .image
# dist/ is current after `npm ci` (its prepare script builds it); compile only when a source is newer.
if node --input-type=module -e 'import { chooseEntry } from "./bin/entry.js"; process.exit(chooseEntry(".").kind === "dist" ? 0 : 1)'; then
  cp -a dist .image/dist
else
  node node_modules/typescript/bin/tsc -p tsconfig.build.json --outDir .image/dist
fi
deps=$(mktemp -d)
cp package.json package-lock.json "$deps/"
cp -al node_modules "$deps/node_modules"
(cd "$deps" \
  && npm pkg delete dependencies.@pulumi/aws dependencies.@pulumi/azure-native dependencies.@pulumi/gcp dependencies.@pulumi/kubernetes dependencies.@pulumi/docker-build dependencies.@pulumi/pulumi dependencies.tsx \
  && npm prune --omit=dev --ignore-scripts --offline --no-audit --no-fund >/dev/null)
mv "$deps/node_modules" .image/node_modules
rm -rf "$deps"
docker build -q --target prebuilt --build-arg BASE_IMAGE="$BASE" -t "$IMAGE" . >/dev/null
rm -rf .image
echo "agent-image: built $IMAGE after $(( $(date +%s) - start ))s"

fail() { echo "agent-image: FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. --help, as the image's user, which must be uid 1000.
[ "$(docker run --rm --entrypoint id "$IMAGE" -u)" = 1000 ] || fail "the image does not run as uid 1000"
docker run --rm "$IMAGE" --help | grep -q '^Usage: launch-agent' || fail "--help did not print the usage"

# 2. config validate of a mounted config.
printf 'queues: [ci]\nmax_jobs: 2\nbuilder:\n  type: noop\n' > "$work/launch-config.yaml"
docker run --rm -v "$work/launch-config.yaml:/home/launch_agent/.config/wandb/launch-config.yaml:ro" "$IMAGE" \
  config validate /home/launch_agent/.config/wandb/launch-config.yaml | grep -q ': valid$' || fail "config validate did not pass"

# 3. A job from a mounted local queue, run to finished (local-process: the example runs with the image's python3).
mkdir -p "$work/queues" && chown 1000:1000 "$work/queues" 2>/dev/null || chmod 0777 "$work/queues"
run() { docker run --rm -v "$work/queues:/queues" -v "$PWD/examples/jobs/hello:/jobs/hello:ro" "$IMAGE" "$@"; }
run local push -q ci --job /jobs/hello --local /queues >/dev/null
run --local /queues -q ci --exit-when-idle 2>"$work/agent.log" || { cat "$work/agent.log" >&2; fail "the agent exited non-zero"; }
state=$(run local list --json --local /queues | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).map(i=>i.state).join(",")))')
[ "$state" = finished ] || { cat "$work/agent.log" >&2; fail "the item ended '$state', not finished"; }

size=$(docker image inspect "$IMAGE" --format '{{.Size}}')
echo "agent-image: ok (--help as uid 1000, config validate, local job finished); image $((size / 1000000)) MB, base $(( $(docker image inspect "$BASE" --format '{{.Size}}') / 1000000 )) MB; $(( $(date +%s) - start ))s"
