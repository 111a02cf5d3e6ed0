import { Command } from "commander";
import { loadAgentConfig, type AgentConfig } from "../config/index.js";
import { errorMessage } from "../errors.js";
import { silentLogger, type Logger } from "../log.js";
import { dockerCliWorks } from "../builders/select.js";
import { environmentFor } from "../environments/index.js";
import { contextStoreFor } from "../storage/index.js";
import { registryFor } from "../registries/index.js";

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** A tag no one pushes: asking for it proves the registry answers and accepts our credentials. */
const PROBE_TAG = "launch-agent-doctor-probe";

/**
 * Checks, without building or running anything, that what the config names is reachable with the
 * agent's credentials: the cloud identity, the build-context store, the registry, the docker CLI.
 * Each check that cannot pass says what to fix.
 */
export async function runChecks(config: AgentConfig, deps: { logger?: Logger; dockerAvailable?: () => Promise<boolean> } = {}): Promise<Check[]> {
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
    await check("docker CLI", async () => {
      const works = await (deps.dockerAvailable ?? dockerCliWorks)();
      if (works) return "docker --version works";
      if (type === "docker") throw new Error("builder.type is docker but `docker --version` fails: install the Docker CLI or choose another builder");
      return "not found: the agent will use the noop builder (code jobs run on a base image)";
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
  return checks;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check that the config's cloud identity, build-context store, registry and docker are usable")
    .option("-c, --config <path>", "agent config file (default: ~/.config/wandb/launch-config.yaml)")
    .option("--json", "print the checks as JSON")
    .action(async (o: { config?: string; json?: boolean }) => {
      const { config, warnings } = await loadAgentConfig({ configPath: o.config, env: process.env });
      const checks = await runChecks(config);
      if (o.json) {
        process.stdout.write(JSON.stringify({ ok: checks.every((c) => c.ok), checks, warnings }, null, 2) + "\n");
      } else {
        for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
        for (const c of checks) process.stdout.write(`${c.ok ? "ok  " : "FAIL"} ${c.name}: ${c.detail}\n`);
        if (checks.length === 0) process.stdout.write("nothing to check: the config names no cloud, store, registry or docker builder\n");
      }
      process.exitCode = checks.every((c) => c.ok) ? 0 : 1;
    });
}
