/** Where in the life of a queue item an error happened; W&B's failRunQueueItem uses the same words. */
export type FailureStage = "agent" | "build" | "run";

/**
 * An error a user can act on. `stage` decides how the item is reported; `message` must say what is
 * wrong and what to do (name the config key, the file or the resource).
 */
export class LaunchError extends Error {
  constructor(
    message: string,
    readonly stage: FailureStage = "agent",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LaunchError";
  }
}

/** The message of anything thrown, without a stack, for reporting to a queue. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export function errorStage(err: unknown): FailureStage {
  return err instanceof LaunchError ? err.stage : "agent";
}
