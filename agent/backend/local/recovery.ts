// Recovery of items whose agent died (kill -9, OOM, a crash): see "The local backend" in the README.
import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import type { Logger } from "../../log.js";
import { isProcessAlive, type ItemRecord, type ItemState, type LocalQueueStore } from "./store.js";

/** An item is claimed at most this many times; after that a crash leaves it `interrupted`. */
export const MAX_ATTEMPTS = 3;
/** How long an orphaned run gets between SIGTERM and SIGKILL. */
export const ORPHAN_KILL_GRACE_MS = 5_000;

export interface RecoveryDecision {
  to: Extract<ItemState, "queued" | "interrupted" | "stopped">;
  message: string;
}

/** What happens to an item whose agent is gone: stopped if a stop was asked, requeued until the bound, else interrupted. */
export function decideRecovery(record: ItemRecord, state: ItemState, stopRequested: boolean, maxAttempts = MAX_ATTEMPTS): RecoveryDecision {
  const owner = record.claimedBy ? `agent pid ${record.claimedBy.pid} on ${record.claimedBy.host}` : "its agent";
  const when = state === "running" ? "while the run was running" : "before the run started";
  const attempt = `attempt ${record.attempts} of ${maxAttempts}`;
  if (stopRequested) return { to: "stopped", message: `stopped: ${owner} died ${when} and a stop had been requested` };
  if (state === "running" && !record.run?.pid && !record.run?.container) {
    // A run this host cannot see or stop (a Kubernetes Job): requeueing could run it twice at once.
    return { to: "interrupted", message: `${owner} died while the run was running; its run cannot be checked or stopped from here, so the item is not requeued. Check the run (e.g. kubectl get jobs) and push the job again if needed.` };
  }
  if (record.attempts >= maxAttempts) {
    return { to: "interrupted", message: `${owner} died ${when} (${attempt}); not retried again. Push the job again to rerun it.` };
  }
  return { to: "queued", message: `${owner} died ${when} (${attempt}); put back on the queue` };
}

/**
 * Finds the queue's orphans, makes sure no run of theirs is still going (their agent cannot report
 * it any more), and moves each to where decideRecovery says. A run that is still alive is signalled
 * and the item left for a later pass, so an item never runs twice at once.
 */
export class OrphanRecovery {
  private readonly signalled = new Map<number, number>();

  constructor(
    private readonly store: LocalQueueStore,
    private readonly logger: Logger,
    private readonly opts: { maxAttempts?: number; killGraceMs?: number } = {},
  ) {}

  /**
   * Recover the queue's orphans, waiting (at most the kill grace plus a little) for orphaned runs to
   * die, so an agent does not call the queue idle while an item is about to come back to it.
   */
  async recoverAll(queue: string): Promise<number> {
    const deadline = Date.now() + (this.opts.killGraceMs ?? ORPHAN_KILL_GRACE_MS) + 5_000;
    let total = 0;
    for (;;) {
      const { recovered, waiting } = await this.pass(queue);
      total += recovered;
      if (waiting === 0 || Date.now() > deadline) return total;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** One pass: returns how many items moved, and how many wait for their orphaned run to end. */
  async recover(queue: string): Promise<number> {
    return (await this.pass(queue)).recovered;
  }

  private async pass(queue: string): Promise<{ recovered: number; waiting: number }> {
    let recovered = 0;
    let waiting = 0;
    for (const orphan of await this.store.orphans(queue)) {
      const run = orphan.record.run;
      // The recorded run, and any process started for this item that the record does not know of yet
      // (the agent died between starting the run and recording it).
      const live = [run?.pid, ...processesOfItem(orphan.id)].filter((pid): pid is number => pid !== undefined && isProcessAlive(pid));
      if (live.length > 0) {
        for (const pid of new Set(live)) this.stopOrphanProcess(pid, queue, orphan.id);
        waiting++;
        continue;
      }
      if (run?.container) await dockerKill(run.container);
      const marker = this.store.stopMarker(queue, orphan.id);
      const decision = decideRecovery(orphan.record, orphan.state, existsSync(marker), this.opts.maxAttempts);
      const moved = await this.store.recover(queue, orphan, decision.to, (r) => {
        if (decision.to === "queued") r.warnings.push({ stage: "agent", message: decision.message });
        else r.message = decision.message;
      });
      if (!moved) continue; // another agent recovered it first
      if (decision.to !== "queued") await rm(marker, { force: true });
      if (run?.pid !== undefined) this.signalled.delete(run.pid);
      recovered++;
      this.logger.warn({ queue, item: orphan.id, state: decision.to }, `recovered an item whose agent died: ${decision.message}`);
    }
    return { recovered, waiting };
  }

  /** SIGTERM to the orphaned run's process group, then SIGKILL once the grace is over. */
  private stopOrphanProcess(pid: number, queue: string, item: string): void {
    const first = this.signalled.get(pid);
    const now = Date.now();
    if (first === undefined) {
      this.signalled.set(pid, now);
      this.logger.warn({ queue, item, pid }, "the agent of this item died while its run kept going; stopping the run before recovering the item");
      signalGroup(pid, "SIGTERM");
    } else if (now - first >= (this.opts.killGraceMs ?? ORPHAN_KILL_GRACE_MS)) {
      signalGroup(pid, "SIGKILL");
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/**
 * Processes whose environment carries WANDB_LAUNCH_TRACE_ID=<item id>: every run of the item gets it
 * (Linux /proc; processes of other users are unreadable and skipped, as are other systems).
 */
export function processesOfItem(itemId: string): number[] {
  const marker = Buffer.from(`\0WANDB_LAUNCH_TRACE_ID=${itemId}\0`);
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = Buffer.concat([Buffer.from([0]), readFileSync(`/proc/${name}/environ`)]);
      if (env.includes(marker)) pids.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

function dockerKill(container: string): Promise<void> {
  return new Promise((resolve) => execFile("docker", ["kill", container], { timeout: 30_000 }, () => resolve()));
}
