import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import { Command } from "commander";
import { ConfigError, defaultConfigPath, loadAgentConfig, type AgentConfig } from "../config/index.js";
import { errorMessage } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { dockerCliWorks } from "../builders/select.js";
import { environmentFor } from "../environments/index.js";
import { contextStoreFor } from "../storage/index.js";
import { registryFor } from "../registries/index.js";
import { AGENT_NAMESPACE_RULES, TARGET_NAMESPACE_RULES, type PolicyRule } from "../kube/permissions.js";
import type { KubeClients } from "../kube/client.js";
import { SERVICE_ACCOUNT_NAMESPACE_FILE } from "../kube/paths.js";
import { describeMissing, reviewPermissions } from "./doctor-kube.js";
import { checkWandb, type WandbCheckOptions } from "./doctor-wandb.js";

const run = promisify(execFile);

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** Passed, but something deserves a look (e.g. no config file). */
  warning?: boolean;
}

/** A tag no one pushes: asking for it proves the registry answers and accepts our credentials. */
const PROBE_TAG = "launch-agent-doctor-probe";

/** The Docker daemon's version, or an error saying why it does not answer (`docker --version` only proves the CLI). */
export async function dockerDaemonVersion(docker = "docker"): Promise<string> {
  try {
    const { stdout } = await run(docker, ["version", "--format", "{{.Server.Version}}"], { timeout: 15_000 });
    return stdout.trim();
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    const why = (e.stderr || e.message || String(err)).trim().split("\n").filter(Boolean).pop() ?? "no answer";
    throw new Error(`the Docker daemon does not answer (${why}): start dockerd, or point DOCKER_HOST at a running engine`);
  }
}

export interface DoctorDeps {
  logger?: Logger;
  dockerAvailable?: () => Promise<boolean>;
  dockerDaemon?: () => Promise<string>;
  /** W&B is the backend: check the key and the queues. Unset: not checked (the local backend). */
  wandb?: WandbCheckOptions;
  /** Check Kubernetes permissions in the agent's namespace and these run namespaces. Unset: not checked. */
  kubernetes?: { namespaces: string[]; clients?: KubeClients };
}

/**
 * Checks, without building or running anything, that what the config names is reachable with the
 * agent's credentials: the docker daemon, the cloud identity, the build-context store, the registry,
 * W&B (key and queues) and the Kubernetes permissions. Each check that cannot pass says what to fix.
 */
export async function runChecks(config: AgentConfig, deps: DoctorDeps = {}): Promise<Check[]> {
  const logger = deps.logger ?? silentLogger;
  const checks: Check[] = [];
  const check = async (name: string, fn: () => Promise<string>) => {
    try {
      checks.push({ name, ok: true, detail: await fn() });
    } catch (err) {
      checks.push({ name, ok: false, detail: errorMessage(err) });
    }
  };
  const builder = config.builder ?? {};
  const type = builder.type ?? (Object.keys(builder).length === 0 ? undefined : "unset");

  if (type === undefined || type === "docker") {
    await check("docker", async () => {
      const works = await (deps.dockerAvailable ?? dockerCliWorks)();
      if (!works) {
        if (type === "docker") throw new Error("builder.type is docker but `docker --version` fails: install the Docker CLI or choose another builder");
        return "not found: the agent will use the noop builder (code jobs run on a base image)";
      }
      try {
        return `daemon ${await (deps.dockerDaemon ?? dockerDaemonVersion)()} answers`;
      } catch (err) {
        const lead = type === "docker" ? "builder.type is docker but" : "the docker CLI works, so the agent will build with docker, but";
        throw new Error(`${lead} ${errorMessage(err)}${type === "docker" ? "" : "; or set builder.type: noop"}`);
      }
    });
  }
  if (config.environment) {
    const env = config.environment;
    await check(`${env.type ?? "cloud"} credentials`, async () => {
      const identity = await environmentFor(env).verify();
      return `verified (${JSON.stringify(identity)})`;
    });
  }
  const store = builder["build-context-store"];
  if (typeof store === "string" && store) {
    await check("build-context store", async () => {
      await contextStoreFor(store, { environment: config.environment ?? null, logger }).verify();
      return `${store} is reachable`;
    });
  }
  if (typeof builder.destination === "string" && builder.destination) {
    const destination = builder.destination;
    await check("registry", async () => {
      const registry = registryFor(destination);
      await registry.exists(PROBE_TAG);
      return `${registry.repositoryUri} answers (${registry.kind})`;
    });
  }
  if (deps.wandb) {
    const wandb = deps.wandb;
    let verdict: Awaited<ReturnType<typeof checkWandb>> | null = null;
    await check("W&B API key", async () => {
      verdict = await checkWandb(config, wandb);
      return `valid for ${verdict.user} at ${verdict.baseUrl} (entity ${verdict.entity})`;
    });
    if (verdict) {
      const v: Awaited<ReturnType<typeof checkWandb>> = verdict;
      await check("W&B queues", async () => {
        if (config.queues.length === 0) throw new Error("no queue to poll: set queues in the config or pass -q");
        if (v.missing.length > 0) {
          throw new Error(`not found in ${v.entity}/model-registry: ${v.missing.join(", ")} (available: ${v.available.join(", ") || "none"}); create them in the W&B UI or fix the names`);
        }
        return `${config.queues.join(", ")} found in ${v.entity}/model-registry`;
      });
    }
  }
  if (deps.kubernetes) {
    const kubeDeps = deps.kubernetes;
    let clients = kubeDeps.clients ?? null;
    await check("Kubernetes credentials", async () => {
      if (!clients) {
        const { loadKubeClients } = await import("../kube/client.js");
        clients = loadKubeClients();
      }
      return `cluster ${clients.config.getCurrentCluster()?.server ?? "?"}`;
    });
    if (clients) {
      const { agentNamespace } = await import("../kube/client.js");
      const own = agentNamespace(clients);
      // Kaniko builds (Jobs, their ConfigMaps and Secrets) run in the agent's namespace; runs go to the others.
      const targets = new Map<string, PolicyRule[]>([[own, type === "kaniko" ? [...TARGET_NAMESPACE_RULES, ...AGENT_NAMESPACE_RULES] : TARGET_NAMESPACE_RULES]]);
      for (const ns of kubeDeps.namespaces) if (!targets.has(ns)) targets.set(ns, TARGET_NAMESPACE_RULES);
      let verdicts: Awaited<ReturnType<typeof reviewPermissions>> = [];
      await check("Kubernetes permissions", async () => {
        verdicts = await reviewPermissions(clients!, [...targets].map(([namespace, rules]) => ({ namespace, rules })));
        return `asked the API server (SelfSubjectAccessReview) in ${[...targets.keys()].join(", ")}`;
      });
      for (const v of verdicts) {
        checks.push(
          v.missing.length === 0
            ? { name: `Kubernetes namespace ${v.namespace}`, ok: true, detail: `all ${v.checked} permissions the agent uses are granted` }
            : {
                name: `Kubernetes namespace ${v.namespace}`,
                ok: false,
                detail: `${describeMissing(v)}. Grant them with the LaunchAgent component's Role (components/kubernetes) or a Role like it bound to the agent's ServiceAccount`,
              },
        );
      }
    }
  }
  return checks;
}

/** The config file doctor read: where, or that there is none and what that means. */
function configCheck(path: string | null, warnings: string[]): Check {
  if (path === null) {
    return {
      name: "config",
      ok: true,
      warning: true,
      detail: `no config file at ${defaultConfigPath()}: the agent runs on defaults (docker builder when docker works, else noop) and needs -q; pass -c FILE or create it`,
    };
  }
  return { name: "config", ok: true, detail: `${path} is valid${warnings.length > 0 ? ` (${warnings.length} warning${warnings.length === 1 ? "" : "s"})` : ""}` };
}

interface DoctorFlags {
  config?: string;
  json?: boolean;
  local?: string | boolean;
  queue?: string[];
  namespace?: string[];
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check the config, docker, cloud identity, build-context store, registry, W&B key and queues, and Kubernetes permissions")
    .option("-c, --config <path>", "agent config file (default: ~/.config/wandb/launch-config.yaml)")
    .option("-q, --queue <name>", "a queue the agent will poll (repeatable; replaces the config's queues)", collect)
    .option("--local [dir]", "the agent will use the embedded local queue: skip the W&B checks")
    .option("-n, --namespace <ns>", "a namespace runs go to: check the agent's Kubernetes permissions there too (repeatable)", collect)
    .option("--json", "print the checks as JSON")
    .action(async (o: DoctorFlags) => {
      let loaded;
      try {
        loaded = await loadAgentConfig({ configPath: o.config, env: process.env, overrides: { queues: o.queue } });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        const failed: Check = { name: "config", ok: false, detail: err.message };
        process.stdout.write(o.json ? JSON.stringify({ ok: false, checks: [failed], warnings: [] }, null, 2) + "\n" : `FAIL config: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      const { config, warnings, path } = loaded;
      const namespaces = o.namespace ?? [];
      // Kubernetes is checked when the agent will use it: kaniko builds, named run namespaces, or running in a pod.
      const kube = config.builder?.type === "kaniko" || namespaces.length > 0 || existsSync(SERVICE_ACCOUNT_NAMESPACE_FILE);
      const local = o.local !== undefined && o.local !== false;
      const checks = [
        configCheck(path, warnings),
        ...(await runChecks(config, {
          ...(local ? {} : { wandb: { env: process.env } }),
          ...(kube ? { kubernetes: { namespaces } } : {}),
        })),
      ];
      if (o.json) {
        process.stdout.write(JSON.stringify({ ok: checks.every((c) => c.ok), checks, warnings }, null, 2) + "\n");
      } else {
        for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
        for (const c of checks) process.stdout.write(`${!c.ok ? "FAIL" : c.warning ? "warn" : "ok  "} ${c.name}: ${c.detail}\n`);
      }
      process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
    });
}
