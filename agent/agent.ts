import type { AgentConfig } from "./config/index.js";
import { errorMessage } from "./errors.js";
import type { Logger } from "./log.js";
import type { AgentIdentity } from "./backend/types.js";
import { ItemTask, sleep, type ItemDeps, type ItemResult } from "./pipeline.js";
import { quietObserver } from "./observer.js";

export interface AgentOptions extends Omit<ItemDeps, "identity"> {
  /** Exit once every queue is empty and nothing runs (`--exit-when-idle`). */
  exitWhenIdle?: boolean;
  /** Sleep between ticks when nothing was taken or all slots are busy (official: 10 s). */
  pollIntervalMs?: number;
  /** How often the status line is printed; default from verbosity (5 min, or 20 s when verbose). */
  statusIntervalMs?: number;
  /** Longest back-off while the backend is unreachable. */
  maxBackoffMs?: number;
  /** Grace between SIGTERM and SIGKILL for runs cancelled at shutdown is the runner's; this bounds the wait for them. */
  cancelWaitMs?: number;
  /** Called with each finished item (tests, the demo). */
  onItemDone?: (result: ItemResult) => void;
}

/**
 * The agent loop (reference §7.3): queues polled round-robin, at most `max_jobs` runs, one item
 * taken per tick, each item its own task. A backend outage is waited out, never fatal.
 */
export class LaunchAgent {
  private readonly running = new Set<ItemTask>();
  private readonly stopping = new AbortController();
  private readonly wake = new EventTarget();
  private queueOrder: string[];
  private identity: AgentIdentity | null = null;
  private readonly log: Logger;

  constructor(private readonly opts: AgentOptions) {
    this.queueOrder = [...opts.config.queues];
    this.log = opts.logger;
  }

  get config(): AgentConfig {
    return this.opts.config;
  }

  /** Ask the loop to stop polling and shut down (SIGINT/SIGTERM, or stopPolling from the backend). */
  stop(reason: string): void {
    if (this.stopping.signal.aborted) return;
    this.log.info({ reason }, "shutting down: no more items will be taken");
    this.stopping.abort();
  }

  /** Runs until stopped (or idle with exitWhenIdle); resolves with the process exit code. */
  async run(): Promise<number> {
    const { backend, config } = this.opts;
    const observer = this.opts.observer ?? quietObserver;
    // A signal during start-up (e.g. while W&B is retried) ends it at once; start's retries are closed by shutdown().
    const stopped = new Promise<null>((resolve) => {
      if (this.stopping.signal.aborted) resolve(null);
      this.stopping.signal.addEventListener("abort", () => resolve(null), { once: true });
    });
    const starting = backend.start(config.queues);
    const identity = await Promise.race([starting, stopped]);
    if (!identity) {
      starting.catch(() => {}); // it fails as its retries are closed; nothing more to say
      await backend.shutdown().catch((err) => this.log.warn({ err: errorMessage(err) }, "could not report shutdown to the backend"));
      this.log.info("stopped during start-up");
      return 0;
    }
    this.identity = identity;
    observer.started();
    const maxJobs = config.max_jobs === -1 ? Infinity : config.max_jobs;
    const pollMs = this.opts.pollIntervalMs ?? 10_000;
    const statusMs = this.opts.statusIntervalMs ?? (config.verbosity >= 1 ? 20_000 : 300_000);
    let lastStatus = 0;
    let outage: { since: number; failures: number } | null = null;

    this.log.info({ agent: this.identity.name, queues: config.queues, maxJobs: config.max_jobs }, "launch agent started");
    while (!this.stopping.signal.aborted) {
      let took = false;
      let idle = false;
      observer.tick(this.running.size);
      try {
        const { stopPolling } = await backend.heartbeat(this.running.size > 0 ? "RUNNING" : "POLLING");
        if (stopPolling) {
          this.stop("the backend asked this agent to stop polling");
          break;
        }
        if (this.running.size < maxJobs) {
          took = await this.takeOne();
          idle = !took && this.running.size === 0;
        }
        observer.backendOk();
        if (outage) {
          this.log.info({ downForMs: Date.now() - outage.since }, "backend reachable again; polling resumed");
          outage = null;
        }
      } catch (err) {
        observer.backendError();
        // Log once when the outage starts, then back off quietly until it ends.
        if (!outage) {
          outage = { since: Date.now(), failures: 0 };
          this.log.error({ err: errorMessage(err) }, "backend unreachable; retrying with back-off (running jobs continue)");
        }
        outage.failures++;
        const backoff = Math.min(pollMs * 2 ** Math.min(outage.failures - 1, 6), this.opts.maxBackoffMs ?? 60_000);
        await sleep(backoff, this.stopping.signal);
        continue;
      }
      if (idle && this.opts.exitWhenIdle) {
        this.log.info("every queue is empty and nothing runs; exiting (--exit-when-idle)");
        break;
      }
      if (Date.now() - lastStatus >= statusMs) {
        lastStatus = Date.now();
        this.log.info(
          `agent ${this.identity.name} polling on queues ${this.queueOrder.join(",")}, running ${this.running.size} out of a maximum of ${config.max_jobs === -1 ? "unlimited" : config.max_jobs} jobs`,
        );
      }
      // Drain quickly while there is room and work; otherwise wait for a tick or a finished run.
      if (!(took && this.running.size < maxJobs)) await this.pause(pollMs);
    }
    await this.shutdown();
    return 0;
  }

  /** Pop from the queues in order; the queue that gave an item moves to the back (fairness, PR #6418). */
  private async takeOne(): Promise<boolean> {
    let firstError: unknown = null;
    for (const queue of [...this.queueOrder]) {
      let item;
      try {
        item = await this.opts.backend.pop(queue);
      } catch (err) {
        firstError ??= err;
        continue;
      }
      if (!item) continue;
      this.queueOrder = [...this.queueOrder.filter((q) => q !== queue), queue];
      const task = new ItemTask(item, { ...this.opts, identity: this.identity! });
      this.running.add(task);
      void task.done.then((result) => {
        this.running.delete(task);
        this.opts.onItemDone?.(result);
        this.wake.dispatchEvent(new Event("done"));
      });
      return true;
    }
    // Every queue failed: surface it as an outage; some failed: the others were still served.
    if (firstError) throw firstError;
    return false;
  }

  private pause(ms: number): Promise<void> {
    const ac = new AbortController();
    const onWake = () => ac.abort();
    const onStop = () => ac.abort();
    this.wake.addEventListener("done", onWake, { once: true });
    this.stopping.signal.addEventListener("abort", onStop, { once: true });
    return sleep(ms, ac.signal).finally(() => {
      this.wake.removeEventListener("done", onWake);
      this.stopping.signal.removeEventListener("abort", onStop);
    });
  }

  /** Give running jobs `stopped_run_timeout` to end, then cancel them; every item ends in a final state. */
  private async shutdown(): Promise<void> {
    const graceS = this.opts.config.stopped_run_timeout ?? 60;
    if (this.running.size > 0) {
      this.log.info({ active: this.running.size, graceS }, "waiting for active jobs to finish (stopped_run_timeout)");
      await Promise.race([Promise.all([...this.running].map((t) => t.done)), sleep(graceS * 1000)]);
    }
    if (this.running.size > 0) {
      this.log.warn({ active: this.running.size }, "cancelling jobs still running; their items are marked interrupted");
      const tasks = [...this.running];
      await Promise.race([
        Promise.all(tasks.map((t) => t.interrupt().then(() => t.done))),
        sleep(this.opts.cancelWaitMs ?? 4_000),
      ]);
    }
    try {
      await this.opts.backend.shutdown();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, "could not report shutdown to the backend");
    }
  }
}
