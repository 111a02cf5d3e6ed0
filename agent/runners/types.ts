import type { Logger } from "../log.js";
import type { ResolvedJob, RunOutcome, RunProcess } from "../backend/types.js";
import type { RunSpec } from "../jobs/run-spec.js";

export interface LaunchRequest {
  runId: string;
  runSpec: RunSpec;
  job: ResolvedJob;
  /** The image to run (built, reused or the job's own); null for local-process. */
  image: string | null;
  /** The command to start: overrides.entry_point, else the job's entrypoint. */
  entrypoint: string[];
  /** Arguments after the entrypoint: overrides.args, else the job's args. */
  args: string[];
  /** The run environment of reference §7.10. Holds the API key: never log it. */
  env: Record<string, string>;
  /** Base-image runs: the job's code is mounted into the image at /mnt/wandb instead of built into it (§2.8, §8.1). */
  mountCode?: boolean;
  /** The noop builder chose the base image (not the job): the run installs the job's requirements first. */
  autoBaseImage?: boolean;
  logger: Logger;
  /** Posts a warning on the queue item that does not fail it (e.g. a Kubernetes pod that cannot be scheduled). */
  warn?(message: string): Promise<void> | void;
}

/** A run that has been started. `wait` settles once, with the end state. */
export interface RunHandle {
  readonly id: string;
  /** For local runs: the process group or container, recorded so an orphaned run can be stopped. */
  readonly process?: RunProcess;
  wait(): Promise<RunOutcome>;
  /** Ask the run to stop; `wait` then settles with `stopped` (or `interrupted` if the agent is shutting down). */
  cancel(reason: "stopped" | "interrupted"): Promise<void>;
}

export interface Runner {
  readonly resource: string;
  /** Longest value of one run env var before JSON is sharded; default ENV_SHARD_LIMIT (SageMaker: 512). */
  readonly envShardLimit?: number;
  /** Starts the run spec's `additional_services` (only kubernetes, as in the official agent); others refuse such runs. */
  readonly additionalServices?: boolean;
  /** Checks the run spec before anything is built or created; throws a LaunchError that fails the item. */
  check?(runSpec: RunSpec): void;
  run(request: LaunchRequest): Promise<RunHandle>;
}
