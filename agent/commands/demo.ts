import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { LocalBackend } from "../backend/local/index.js";
import type { ItemRecord } from "../backend/local/store.js";
import { composeAgent, runUntilStopped } from "../main.js";
import { createLogger } from "../log.js";
import { pushLocal } from "./local.js";
import { packageRoot } from "../version.js";

// From the package root, not this file: compiled, this file is dist/agent/commands/demo.js.
export const EXAMPLE_JOB = join(packageRoot() ?? ".", "examples", "jobs", "hello");

function timeline(record: ItemRecord): string {
  const start = Date.parse(record.history[0]?.at ?? record.createdAt);
  return record.history.map((h) => `${h.state} (+${((Date.parse(h.at) - start) / 1000).toFixed(2)}s)`).join(" → ");
}

/** `npm start`: queue the bundled example job locally, run the agent until idle, and say what happened. */
export async function runDemo(opts: { root?: string; job?: string }): Promise<number> {
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), "launch-agent-demo-")));
  const queue = "demo";
  const pushed = await pushLocal(root, { queue, job: opts.job ?? EXAMPLE_JOB, resource: "local-process", args: ["--steps", "3"] });
  const out = process.stdout;
  out.write(`Queued the example job as item ${pushed.id} on local queue "${queue}" (root ${root}).\n`);
  out.write("Starting the agent on that queue until it is idle...\n\n");

  // Readable on a terminal, JSON lines when piped or redirected (as the agent's own logs).
  const logger = createLogger({ verbosity: 0 });
  const backend = new LocalBackend({ root, logger, stoppedRunTimeoutS: 60 });
  const agent = composeAgent({
    config: { queues: [queue], max_jobs: 1, max_schedulers: 1, verbosity: 0, stopped_run_timeout: 60 },
    backend,
    logger,
    overrides: { exitWhenIdle: true, pollIntervalMs: 200 },
  });
  await runUntilStopped(agent, logger);

  const record = await backend.store.get(queue, pushed.id);
  out.write("\n");
  if (!record) {
    out.write(`item ${pushed.id} is gone from ${root}\n`);
    return 1;
  }
  out.write(`Item ${record.id}: ${timeline(record)}\n`);
  out.write(`Run id ${record.runId ?? "-"}, exit code ${record.exitCode ?? "-"}, duration ${record.durationMs !== undefined ? `${(record.durationMs / 1000).toFixed(2)}s` : "-"}\n`);
  if (record.state === "finished") {
    // `launch-agent` is not on PATH in a checkout; this works from the project root, where npm start runs.
    out.write(`The job finished. Inspect the queue with: node bin/launch-agent.js local list --local ${root}\n`);
    return 0;
  }
  out.write(`The job ended ${record.state}: ${record.message ?? "no message"}\n`);
  return 1;
}

export function registerDemoCommand(program: Command): void {
  program
    .command("demo")
    .description("queue the bundled example job on a temporary local queue and run it (what `npm start` does)")
    .option("--local <dir>", "queue root to use instead of a fresh temporary one")
    .option("--job <dir>", "job directory to run instead of examples/jobs/hello")
    .action(async (o: { local?: string; job?: string }) => {
      process.exitCode = await runDemo({ root: o.local, job: o.job });
    });
}
