import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import type { Logger } from "../log.js";
import { NoopBuilder } from "./noop.js";
import type { Builder } from "./types.js";

const run = promisify(execFile);

/** `docker --version` exits 0: the official rule for "a working docker CLI". */
export async function dockerCliWorks(docker = "docker"): Promise<boolean> {
  try {
    await run(docker, ["--version"], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export interface BuilderDeps {
  logger: Logger;
  /** Whether a docker CLI works; injectable for tests. */
  dockerAvailable?: () => Promise<boolean>;
  /** Creates the docker builder; injectable so callers that never build do not load it. */
  createDocker?: (config: AgentConfig, logger: Logger) => Promise<Builder>;
}

function isEmptyBlock(block: unknown): boolean {
  return block === null || block === undefined || (typeof block === "object" && Object.keys(block).length === 0);
}

/**
 * Pick the builder the way the official agent does (reference §2.1): no builder block → docker
 * when `docker --version` works, else noop; otherwise the named type. Like the official agent this is
 * decided per job, so a misconfigured builder fails the job with a message rather than the agent.
 */
export async function selectBuilder(config: AgentConfig, deps: BuilderDeps): Promise<Builder> {
  const block = config.builder;
  const createDocker = deps.createDocker ?? defaultCreateDocker;
  if (isEmptyBlock(block)) {
    const works = await (deps.dockerAvailable ?? dockerCliWorks)();
    return works ? createDocker(config, deps.logger) : new NoopBuilder();
  }
  const type = block!.type;
  switch (type) {
    case "docker":
      return createDocker(config, deps.logger);
    case "noop":
      return new NoopBuilder();
    case "kaniko": {
      const { KanikoBuilder } = await import("./kaniko.js");
      return new KanikoBuilder({ config, logger: deps.logger });
    }
    case undefined:
      throw new LaunchError("Could not create builder from config. Builder type not specified: set builder.type to docker, kaniko or noop", "build");
    default:
      throw new LaunchError(`Could not create builder from config. Invalid builder type: ${String(type)} (use docker, kaniko or noop)`, "build");
  }
}

async function defaultCreateDocker(config: AgentConfig, logger: Logger): Promise<Builder> {
  const { DockerBuilder } = await import("./docker.js");
  return new DockerBuilder({ config, logger });
}
