import { cp, mkdir, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { LaunchError, type FailureStage } from "../../errors.js";
import type { RunSpec } from "../../jobs/run-spec.js";
import type { Logger } from "../../log.js";
import type { AgentIdentity, QueueBackend, QueueItem, ResolvedJob, RunCredentials, RunOutcome } from "../types.js";
import { FINAL_STATES, LocalQueueStore, type ItemState } from "./store.js";
import { OrphanRecovery } from "./recovery.js";
import { localSourceString } from "../../jobs/digest.js";
import { readJobDirectory } from "../../jobs/job-dir.js";

export { LocalQueueStore, resolveLocalRoot } from "./store.js";

export interface LocalBackendOptions {
  root: string;
  logger: Logger;
  /** How the source string of a local job is formed; default: its name plus a digest of its code, so an edit changes the tag. */
  sourceString?: (jobDir: string) => Promise<string>;
  env?: NodeJS.ProcessEnv;
  /** The agent's stopped_run_timeout, recorded on claimed items so `local stop` can say when a run will be cancelled. */
  stoppedRunTimeoutS?: number;
  /** Recovery of items whose agent died: claims per item, and the grace between SIGTERM and SIGKILL of an orphaned run. */
  recovery?: { maxAttempts?: number; killGraceMs?: number };
}

/**
 * The embedded queue backend: no W&B account needed. Items live in `root` (see store.ts) and a
 * local job is a directory holding `wandb-job.json` (and, for artifact jobs, the code itself).
 */
export class LocalBackend implements QueueBackend {
  readonly kind = "local" as const;
  readonly store: LocalQueueStore;
  private readonly agentName = `local-agent-${process.pid}`;
  /** State of each item this agent holds, so moves start from the right directory. */
  private readonly held = new Map<string, ItemState>();
  private readonly logger: Logger;
  private readonly recovery: OrphanRecovery;

  constructor(private readonly opts: LocalBackendOptions) {
    this.store = new LocalQueueStore(opts.root);
    this.logger = opts.logger;
    this.recovery = new OrphanRecovery(this.store, opts.logger, opts.recovery);
  }

  /** Checks the root can hold queues (a LaunchError naming the path and the reason otherwise), then recovers orphans. */
  async start(queues: readonly string[]): Promise<AgentIdentity> {
    for (const q of queues) await this.store.ensureQueue(q);
    for (const q of queues) await this.recovery.recoverAll(q);
    return { id: this.agentName, name: this.agentName, entity: null };
  }

  async heartbeat(): Promise<{ stopPolling: boolean }> {
    return { stopPolling: false };
  }

  async pop(queue: string): Promise<QueueItem | null> {
    // Every tick: an agent that died since the last one gets its items recovered within a poll interval.
    await this.recovery.recoverAll(queue);
    for (;;) {
      const claimed = await this.store.claim(queue, this.agentName, this.opts.stoppedRunTimeoutS);
      if (!claimed) return null;
      if (!claimed.record) {
        // Not an item record at all: fail it where users will look, and take the next one.
        const message = `item file is not a valid queue item (expected JSON written by 'launch-agent local push'); first bytes: ${JSON.stringify(claimed.raw.slice(0, 80))}`;
        await this.store.move(queue, claimed.id, "claimed", "failed", (r) => (r.message = message));
        this.logger.error({ queue, item: claimed.id }, message);
        continue;
      }
      this.held.set(claimed.id, "claimed");
      return { id: claimed.id, queue, runSpec: claimed.record.runSpec };
    }
  }

  async ack(item: QueueItem, runId: string): Promise<void> {
    await this.store.update(item.queue, item.id, "claimed", (r) => (r.runId = runId));
  }

  async resolveJob(_item: QueueItem, runSpec: RunSpec): Promise<ResolvedJob> {
    if (!runSpec.job) {
      throw new LaunchError("runSpec.job is missing: a local queue item must name a job directory (launch-agent local push --job DIR)");
    }
    const { dir: jobDir, job, files } = await readJobDirectory(runSpec.job, "runSpec.job");
    // Runs work on a copy, as on a fresh download of a code artifact: they must not write into the
    // user's job directory, and an edit there during a run must not change what runs.
    const workDir = await mkdtemp(join(tmpdir(), "launch-job-"));
    const codeDir = join(workDir, "code");
    if (job.source_type === "artifact") {
      await cp(jobDir, codeDir, { recursive: true, verbatimSymlinks: true });
    } else {
      await mkdir(codeDir); // repo jobs are checked out here; image jobs need no code
    }
    const sourceString = await (this.opts.sourceString ?? localSourceString)(jobDir);
    return {
      name: basename(jobDir),
      job,
      codeDir,
      sourceString,
      files,
      cleanup: () => rm(workDir, { recursive: true, force: true }),
    };
  }

  async markRunning(item: QueueItem, details: { runId: string; image: string | null; resource?: string; process?: { pid?: number; container?: string } }): Promise<void> {
    await this.transition(item, "running", (r) => {
      r.runId = details.runId;
      r.image = details.image;
      if (details.process) r.run = { resource: details.resource ?? "local-process", ...details.process };
    });
  }

  async isStopRequested(item: QueueItem): Promise<boolean> {
    // `launch-agent local stop` drops a marker beside the queue; checked like W&B's RunStoppedStatus.
    // The owner is the only writer of a held record, so the request is recorded here, once.
    if (!existsSync(this.store.stopMarker(item.queue, item.id))) return false;
    const state = this.held.get(item.id);
    if (state) {
      await this.store.update(item.queue, item.id, state, (r) => (r.stopRequestedAt ??= new Date().toISOString()));
    }
    return true;
  }

  async complete(item: QueueItem, _runSpec: RunSpec, _runId: string, outcome: RunOutcome): Promise<void> {
    const to: ItemState =
      outcome.status === "finished" || outcome.status === "interrupted" || outcome.status === "stopped" ? outcome.status : "failed";
    await this.transition(item, to, (r) => {
      r.exitCode = outcome.exitCode ?? null;
      if (outcome.durationMs !== undefined) r.durationMs = outcome.durationMs;
      if (outcome.message) r.message = outcome.message;
      else if (outcome.status !== "finished") r.message = `run ${outcome.status}`;
    });
  }

  async fail(item: QueueItem, stage: FailureStage, message: string): Promise<void> {
    await this.transition(item, "failed", (r) => (r.message = `[${stage}] ${message}`));
  }

  async warn(item: QueueItem, stage: string, message: string): Promise<void> {
    const state = this.held.get(item.id);
    if (!state) return;
    await this.store.update(item.queue, item.id, state, (r) => r.warnings.push({ stage, message }));
  }

  runCredentials(): RunCredentials {
    const env = this.opts.env ?? process.env;
    return { baseUrl: env.WANDB_BASE_URL, apiKey: env.WANDB_API_KEY };
  }

  async shutdown(): Promise<void> {}

  private async transition(item: QueueItem, to: ItemState, patch: Parameters<LocalQueueStore["move"]>[4]): Promise<void> {
    const from = this.held.get(item.id);
    if (!from) throw new Error(`item ${item.id} is not held by this agent`);
    await this.store.move(item.queue, item.id, from, to, patch);
    if (FINAL_STATES.includes(to)) {
      this.held.delete(item.id);
      await rm(this.store.stopMarker(item.queue, item.id), { force: true });
    } else this.held.set(item.id, to);
  }
}
