import { spawn } from "node:child_process";
import { LaunchError } from "../errors.js";
import type { RunOutcome } from "../backend/types.js";
import type { LaunchRequest, RunHandle, Runner } from "./types.js";

export interface LocalProcessOptions {
  /** How long a cancelled run gets between SIGTERM and SIGKILL. */
  killGraceMs?: number;
  /** Lines of output kept to explain a failure. */
  tailLines?: number;
}

/**
 * Runs the job's entrypoint as a child process in its code directory, with the run environment
 * added to the agent's own (reference §8.2). No image, no shell: argv goes to execve as given, so
 * nothing needs quoting and nothing is interpreted.
 */
export class LocalProcessRunner implements Runner {
  readonly resource = "local-process";

  constructor(private readonly opts: LocalProcessOptions = {}) {}

  async run(req: LaunchRequest): Promise<RunHandle> {
    if (req.job.job.source_type === "image") throw new LaunchError(imageJobMessage(req.job.name), "run");
    const [command, ...entryArgs] = req.entrypoint;
    if (!command) {
      throw new LaunchError(`job ${req.job.name} has no entrypoint: set source.entrypoint in its wandb-job.json or overrides.entry_point in the run spec`, "run");
    }
    const started = Date.now();
    const child = spawn(command, [...entryArgs, ...req.args], {
      cwd: req.job.codeDir,
      env: { ...process.env, ...req.env },
      stdio: ["ignore", "pipe", "pipe"],
      // Own process group, so a cancel reaches whatever the entrypoint started.
      detached: true,
    });
    const log = req.logger.child({ runId: req.runId });
    const tail: string[] = [];
    const keep = this.opts.tailLines ?? 20;
    const onData = (stream: "stdout" | "stderr") => (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split(/\r?\n/)) {
        if (!line) continue;
        log.info({ stream }, line);
        tail.push(line);
        if (tail.length > keep) tail.shift();
      }
    };
    child.stdout!.on("data", onData("stdout"));
    child.stderr!.on("data", onData("stderr"));

    let cancelledAs: "stopped" | "interrupted" | null = null;
    const outcome = new Promise<RunOutcome>((resolve) => {
      child.once("error", (err) => {
        const hint = (err as NodeJS.ErrnoException).code === "ENOENT" ? ` (is ${command} installed and on PATH?)` : "";
        resolve({ status: "failed", exitCode: null, message: `could not start ${command}: ${err.message}${hint}`, durationMs: Date.now() - started });
      });
      child.once("close", (code, signal) => {
        const durationMs = Date.now() - started;
        if (cancelledAs) return resolve({ status: cancelledAs, exitCode: code, message: `run ${cancelledAs} by the agent`, durationMs });
        if (code === 0) return resolve({ status: "finished", exitCode: 0, durationMs });
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        const last = tail.length ? `; last output:\n${tail.join("\n")}` : "";
        resolve({ status: "failed", exitCode: code, message: `${command} ${how}${last}`, durationMs });
      });
    });

    const grace = this.opts.killGraceMs ?? 3_000;
    return {
      id: String(child.pid ?? "unstarted"),
      ...(child.pid !== undefined ? { process: { pid: child.pid } } : {}),
      wait: () => outcome,
      cancel: async (reason) => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        cancelledAs = reason;
        signalGroup(child.pid, "SIGTERM");
        const timer = setTimeout(() => signalGroup(child.pid!, "SIGKILL"), grace);
        await outcome;
        clearTimeout(timer);
      },
    };
  }
}

/** Also said by `local push`, which checks the same thing before queueing. */
export function imageJobMessage(job: string): string {
  return `job ${job} is an image job; the local-process runner runs code, not images. Use resource "local-container" (or "kubernetes") for image jobs.`;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}
