import { LaunchError } from "../../errors.js";

/**
 * W&B could not be reached or kept failing after every retry (connection errors, timeouts, 5xx,
 * malformed answers). The agent loop treats it as an outage: log, back off, resume. Any error with
 * `transient === true` means the same thing, so the loop need not import this module.
 */
export class WandbUnavailableError extends Error {
  readonly transient = true as const;
  constructor(
    readonly operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "WandbUnavailableError";
  }
}

/** W&B answered, but refused: a non-retryable HTTP status or GraphQL `errors`. Names the operation. */
export class WandbApiError extends LaunchError {
  constructor(
    readonly operation: string,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, "agent", options);
    this.name = "WandbApiError";
  }
}

/** The key was rejected (HTTP 401): nothing will work until the user fixes it. */
export class WandbAuthError extends LaunchError {
  constructor(
    readonly baseUrl: string,
    options?: { cause?: unknown },
  ) {
    super(
      `W&B rejected the API key (invalid API key) for ${baseUrl}: set WANDB_API_KEY to a valid key from ` +
        `${baseUrl.replace("://api.", "://")}/authorize or run \`wandb login --relogin\`.`,
      "agent",
      options,
    );
    this.name = "WandbAuthError";
  }
}

/** True for errors the agent should ride out (an outage) rather than stop on. */
export function isTransientError(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { transient?: unknown }).transient === true;
}
