import { randomBytes } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { LaunchError } from "../errors.js";
import type { RunOutcome } from "../backend/types.js";
import { runStreaming, succeeds } from "../builders/docker-cli.js";
import { isLoopbackHost } from "../registries/destination.js";
import type { LaunchRequest, RunHandle, Runner } from "./types.js";

/** Where base-image runs find their code (reference §8.1). */
export const CODE_MOUNT_DIR = "/mnt/wandb";

/**
 * Docker flags a queue submitter may set through `resource_args.local-container` (the official
 * allow-list, reference §7.6/§8.1): resource shaping only, nothing that weakens isolation.
 */
const ALLOWED_ARGS = new Set([
  "command", "cpu", "cpu-period", "cpu-quota", "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems", "e", "env",
  "gpus", "m", "memory", "memory-reservation", "memory-swap", "name", "pids-limit", "platform", "shm-size",
  "ulimit", "w", "workdir",
]);
const REPEATABLE = new Set(["e", "env", "ulimit"]);

/** Turn `resource_args.local-container` into docker flags, refusing anything off the allow-list. */
export function dockerRunArgs(resourceArgs: unknown): string[] {
  if (resourceArgs === undefined || resourceArgs === null) return [];
  if (typeof resourceArgs !== "object" || Array.isArray(resourceArgs)) {
    throw new LaunchError("resource_args.local-container must be a mapping of docker run flags to values", "run");
  }
  const out: string[] = [];
  for (const [raw, value] of Object.entries(resourceArgs)) {
    const name = raw.trim().replace(/^-+/, "").replace(/_/g, "-").toLowerCase();
    if (!ALLOWED_ARGS.has(name)) {
      throw new LaunchError(
        `Unsupported resource_args.local-container option '${name}'. Supported options are: ${[...ALLOWED_ARGS].sort().join(", ")}`,
        "run",
      );
    }
    const values = Array.isArray(value) && REPEATABLE.has(name) ? value : [value];
    if (values.length === 0) throw new LaunchError(`resource_args.local-container option '${name}' requires a value`, "run");
    for (const v of values) {
      if (!(typeof v === "string" || (typeof v === "number" && Number.isFinite(v)))) {
        throw new LaunchError(`resource_args.local-container option '${name}' must be a single string or number, got ${JSON.stringify(v)}`, "run");
      }
      out.push(name.length === 1 ? `-${name}` : `--${name}`, String(v));
    }
  }
  return out;
}

export interface LocalContainerRunnerOptions {
  docker?: string;
  /** DOCKER_CONFIG for pulls of private images; default the agent's environment. */
  dockerConfigDir?: string;
}

/** Runs a job's image with `docker run --rm` on this host (reference §8.1). */
export class LocalContainerRunner implements Runner {
  readonly resource = "local-container";
  private readonly docker: string;

  constructor(private readonly opts: LocalContainerRunnerOptions = {}) {
    this.docker = opts.docker ?? "docker";
  }

  /** The full `docker run` argv for a request. Values of env vars are never in it: `-e NAME` reads them from the CLI's environment. */
  commandFor(request: LaunchRequest, containerName: string): string[] {
    if (!request.image) throw new LaunchError("the local-container runner needs an image; this job has none", "run");
    const args = ["run", "--rm"];
    const userArgs = dockerRunArgs(request.runSpec.resource_args?.["local-container"]);
    if (!userArgs.includes("--name")) args.push("--name", containerName);
    for (const name of Object.keys(request.env).sort()) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new LaunchError(`run environment variable name ${JSON.stringify(name)} is not valid`, "run");
      args.push("-e", name);
    }
    const baseUrl = request.env.WANDB_BASE_URL;
    if (baseUrl && isLoopbackHost(hostOf(baseUrl))) {
      // A W&B server on this host is reachable from the container only through the host network.
      args.push("--network", "host", "--add-host", "host.docker.internal:host-gateway");
    }
    if (request.mountCode) {
      const wd = request.runSpec.overrides?.working_dir;
      args.push("-v", `${request.job.codeDir}:${CODE_MOUNT_DIR}`, "--workdir", wd ? `${CODE_MOUNT_DIR}/${wd}` : CODE_MOUNT_DIR);
    }
    args.push(...userArgs);
    const [first, ...rest] = request.entrypoint;
    if (first !== undefined) args.push("--entrypoint", first);
    args.push(request.image, ...rest, ...request.args);
    return args;
  }

  async run(request: LaunchRequest): Promise<RunHandle> {
    const name = `launch-${request.runId.replace(/[^a-zA-Z0-9_.-]/g, "")}-${randomBytes(3).toString("hex")}`;
    const argv = this.commandFor(request, name);
    const log = request.logger.child({ runId: request.runId, container: name });
    const env = { ...process.env, ...(this.opts.dockerConfigDir ? { DOCKER_CONFIG: this.opts.dockerConfigDir } : {}), ...request.env };
    const started = Date.now();
    let cancelled: "stopped" | "interrupted" | null = null;
    let child: ChildProcess | null = null;
    if (request.job.job.source_type === "image" || request.mountCode) {
      // Images the agent did not build may be stale tags (`:latest`); refresh them like the official
      // agent, and go on with the local copy when the registry cannot be reached.
      const pulled = await runStreaming(this.docker, ["pull", request.image!], { env, tailLines: 5 }).catch(() => null);
      if (pulled?.code !== 0) log.warn({ image: request.image }, "docker pull failed; using the local image if there is one");
    }
    log.info({ image: request.image }, "starting container");
    const done = runStreaming(this.docker, argv, {
      env,
      tailLines: 20,
      onSpawn: (c) => (child = c),
      onLine: (line) => log.info({ output: true }, line),
    }).then(
      (r): RunOutcome => {
        const durationMs = Date.now() - started;
        if (cancelled) return { status: cancelled, exitCode: r.code, durationMs, message: `run ${cancelled} on request` };
        if (r.code === 0) return { status: "finished", exitCode: 0, durationMs };
        return {
          status: "failed",
          exitCode: r.code,
          durationMs,
          message: `container exited with ${r.code ?? r.signal}${r.tail.length ? `; last output:\n${r.tail.join("\n")}` : ""}`,
        };
      },
      (err: Error): RunOutcome => ({ status: "failed", exitCode: null, message: `could not start docker: ${err.message}` }),
    );
    return {
      id: name,
      process: { container: name },
      wait: () => done,
      cancel: async (reason) => {
        cancelled ??= reason;
        // Kill the container itself: killing only the CLI would leave it running.
        const killed = await succeeds(this.docker, ["kill", name], env);
        if (!killed) (child as ChildProcess | null)?.kill("SIGTERM");
        await done;
      },
    };
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}
