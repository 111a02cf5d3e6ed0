import type { FailureStage } from "../errors.js";
import type { JobFile } from "../jobs/job-file.js";
import type { RunSpec } from "../jobs/run-spec.js";

/** One item taken from a queue. `runSpec` is raw: the pipeline validates it so a bad one fails only that item. */
export interface QueueItem {
  /** The backend's id: W&B's runQueueItemId, or the local item's file name. */
  readonly id: string;
  readonly queue: string;
  readonly runSpec: unknown;
}

/** How a launched run ended, as a runner sees it (reference §8 status vocabulary). */
export type RunStatus = "finished" | "failed" | "stopped" | "preempted" | "interrupted";

export interface RunOutcome {
  status: RunStatus;
  exitCode?: number | null;
  /** Why it failed or stopped, for the queue item. */
  message?: string;
  durationMs?: number;
}

/** A job made ready on disk: its `wandb-job.json`, its code, and the string its image tag hashes. */
export interface ResolvedJob {
  /** What users call the job: `entity/project/name:alias` for W&B, the directory for local jobs. */
  readonly name: string;
  readonly job: JobFile;
  /** Directory holding the job's code (artifact jobs: the code artifact; repo jobs: filled by the git source). */
  readonly codeDir: string;
  /** The source string of the image tag (reference §3.1); local jobs also carry a digest of their code. */
  readonly sourceString: string;
  /** Files that came with the job artifact, outside the code, when present. */
  readonly files: { requirementsFrozen?: string; diffPatch?: string };
  /** W&B jobs: qualified names (`entity/project/name:alias`) of the job and code artifacts, for pods that fetch the code themselves. */
  readonly artifacts?: { readonly job: string; readonly code?: string };
  /** Removes whatever the backend downloaded for this job. */
  cleanup(): Promise<void>;
}

export interface AgentIdentity {
  /** The agent's id at the backend (W&B launchAgentId). */
  id: string;
  /** Human-readable name for status lines. */
  name: string;
  entity: string | null;
}

/** Where the W&B host and key come from for the runs (reference §7.10); never logged. */
export interface RunCredentials {
  baseUrl?: string;
  apiKey?: string;
}

/** Where a local run lives, so a recovering agent can stop it if its own agent died. */
export interface RunProcess {
  /** A local process group leader. */
  pid?: number;
  /** A local container's name. */
  container?: string;
}

/**
 * The queue protocol. `local` keeps items in a directory; `wandb` speaks W&B's GraphQL API.
 * The agent loop calls these in order: start → (heartbeat, pop → ack → resolveJob → markRunning →
 * isStopRequested* → complete | fail)* → shutdown.
 */
export interface QueueBackend {
  readonly kind: "local" | "wandb";
  /** Register the agent and check the queues exist; throws a LaunchError that stops the agent. */
  start(queues: readonly string[]): Promise<AgentIdentity>;
  /** Called every tick with what the agent is doing; `stopPolling: true` asks the agent to shut down. */
  heartbeat(status: "POLLING" | "RUNNING"): Promise<{ stopPolling: boolean }>;
  /** Take at most one item from the queue without blocking; null when it is empty. */
  pop(queue: string): Promise<QueueItem | null>;
  /** Acknowledge the item before any work, binding the run id; throws if someone else owns it. */
  ack(item: QueueItem, runId: string): Promise<void>;
  /** Fetch the job the run spec names and lay it out on disk. */
  resolveJob(item: QueueItem, runSpec: RunSpec): Promise<ResolvedJob>;
  /** The run has been handed to a runner. */
  markRunning(item: QueueItem, details: { runId: string; image: string | null; resource?: string; process?: RunProcess }): Promise<void>;
  /** Whether a user asked for this run to stop (W&B: RunStoppedStatus). */
  isStopRequested(item: QueueItem, runSpec: RunSpec, runId: string): Promise<boolean>;
  /** The runner reported an end state; the backend records or reports it (and may requeue a preempted run). */
  complete(item: QueueItem, runSpec: RunSpec, runId: string, outcome: RunOutcome): Promise<void>;
  /**
   * The item failed before or while running, at `stage`, with a message the user can act on. `log` (the
   * error's details: stack, causes, the run's last output) goes into the error log W&B links to the item.
   */
  fail(item: QueueItem, stage: FailureStage, message: string, log?: string): Promise<void>;
  /** A warning the user should see on the item, which does not fail it. */
  warn(item: QueueItem, stage: string, message: string): Promise<void>;
  /** Credentials launched runs receive (WANDB_BASE_URL, WANDB_API_KEY). */
  runCredentials(): RunCredentials;
  /** The agent is stopping: report it (W&B: updateLaunchAgent KILLED). */
  shutdown(): Promise<void>;
}
