# syntax=docker/dockerfile:1
# The launch agent image: `docker build -t launch-agent .` (or let the Pulumi stack build and push it).
# Same contract as the official image, so one Deployment fits either: uid 1000, home /home/launch_agent,
# config read from ~/.config/wandb/launch-config.yaml, entrypoint = the agent.
#
# BASE_IMAGE: any Debian-based image with Node 20+ and npm on PATH and a uid-1000 user named `node` (the
# official Node images' layout). CI builds on a Debian root filesystem it makes itself (.ci/agent-image.sh),
# since nothing can be pulled there.
ARG BASE_IMAGE=node:22-bookworm-slim

# --- runtime base: OS packages, the non-root user, the entry point ---
FROM ${BASE_IMAGE} AS runtime-base
# git: git-sourced jobs are cloned into their build context. python3: local-process jobs (sweep schedulers,
# the bundled example) run Python directly. tini: PID 1 that forwards SIGTERM and reaps git/python children.
# A base that already has them (the CI base) needs no package index.
RUN dpkg -s git openssh-client python3 ca-certificates tini >/dev/null 2>&1 \
 || (apt-get update \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git openssh-client python3 ca-certificates tini \
     && rm -rf /var/lib/apt/lists/*)
# The base image's uid 1000 user becomes launch_agent with the official image's home directory.
RUN groupmod -n launch_agent node \
 && usermod -l launch_agent -d /home/launch_agent -m node
WORKDIR /app
# package.json carries "type": "module", which dist/ needs; bin/launch-agent.js runs dist/ when agent/*.ts is absent.
COPY package.json ./
COPY bin ./bin
ENV NODE_ENV=production \
    HOME=/home/launch_agent \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/bin/launch-agent.js"]

# --- prebuilt: dist/ and production node_modules made outside the image (`docker build --target prebuilt`
# with them in .image/, as .ci/agent-image.sh does on machines that cannot reach the npm registry).
# Without .image/ this stage copies only package.json again and is not the default target.
FROM runtime-base AS prebuilt
COPY package.json .image* ./
USER 1000:1000

# --- build: compile agent/ to dist/ ---
FROM ${BASE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts are Pulumi's plugin installer and protobufjs's, neither needed here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY agent ./agent
RUN npm run build

# --- deps: production node_modules for the agent only ---
FROM ${BASE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# The package also ships the Pulumi program, whose SDKs (~400 MB) the agent never imports; tsx only runs
# TypeScript sources, which the image does not contain. Drop them with everything only they pulled in.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm uninstall --no-save --ignore-scripts --no-audit --no-fund \
      @pulumi/aws @pulumi/azure-native @pulumi/gcp @pulumi/kubernetes @pulumi/docker-build @pulumi/pulumi tsx \
 && npm cache clean --force

# --- runtime (the default target) ---
FROM runtime-base AS runtime
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 1000:1000
