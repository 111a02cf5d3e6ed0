// One shape for every store failure: which store, which operation, what went wrong, what to do.
import { LaunchError } from "../errors.js";
import type { StorageUri } from "../config/uris.js";

export const STORE_KEY = "builder.build-context-store";

/**
 * `<what> (builder.build-context-store: <uri>, operation <op>): <detail>. <fix>` as a build-stage
 * LaunchError. `what` leads so that messages users script against ("Bucket b does not exist") keep
 * their official wording at the start.
 */
export function storeError(
  store: StorageUri,
  operation: string,
  what: string,
  detail: string | null,
  fix: string,
  cause?: unknown,
): LaunchError {
  const where = `(${STORE_KEY}: ${store.uri}, operation ${operation})`;
  const clean = detail?.replace(/[.\s]+$/, "");
  const msg = `${what} ${where}${clean ? `: ${clean}` : ""}. ${fix}`;
  return new LaunchError(msg, "build", cause === undefined ? undefined : { cause });
}

/** First line of an SDK message: storage services append request ids and XML after it. */
export function firstLine(message: unknown): string {
  return String(message ?? "").split(/\r?\n/)[0]!.trim();
}

/** The abort reason as an error, so a cancelled upload is reported as cancelled, not as a store fault. */
export function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error(typeof r === "string" ? r : "The build context upload was aborted.");
  e.name = "AbortError";
  return e;
}

/** Resolves an object URI of this store back to its key; throws when it belongs elsewhere. */
export function keyInStore(store: StorageUri, base: string, uri: string): string {
  const head = `${base}/`;
  if (!uri.startsWith(head) || uri.length === head.length) {
    throw new LaunchError(
      `Cannot delete ${uri}: it is not an object of the build context store ${store.uri} (${STORE_KEY}); expected a URI starting with ${head}.`,
      "build",
    );
  }
  return uri.slice(head.length);
}
