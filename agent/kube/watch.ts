import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../log.js";
import { kubeError } from "./client.js";

interface WithMeta {
  metadata?: { resourceVersion?: string; name?: string };
}

export interface WatchedEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: T;
}

export interface WatchOptions<T extends WithMeta> {
  watch: k8s.Watch;
  /** The collection path, e.g. `/apis/batch/v1/namespaces/<ns>/jobs`. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Lists the collection with the same selectors: the starting point, and the resync after a 410. */
  list(): Promise<{ metadata?: { resourceVersion?: string }; items: T[] }>;
  /** The full current state, after each (re)list. */
  onSync(items: T[]): void;
  onEvent(event: WatchedEvent<T>): void;
  signal: AbortSignal;
  logger: Logger;
  /** Server-side watch timeout; the stream is then resumed from the last resourceVersion. */
  timeoutSeconds?: number;
  /** Pause before reconnecting after a failed watch/list (doubles up to 10 s). */
  retryDelayMs?: number;
}

/**
 * List-then-watch that survives what long watches meet in practice: streams the server ends
 * (resumed from the last resourceVersion seen), connection errors (retried with backoff), and a
 * resourceVersion the server no longer has (410 Expired: list again and carry on). Runs until
 * `signal` aborts.
 */
export async function listAndWatch<T extends WithMeta>(opts: WatchOptions<T>): Promise<void> {
  const base = opts.retryDelayMs ?? 1000;
  let delay = base;
  let rv: string | null = null;
  let lastExpiry: number | null = null;
  while (!opts.signal.aborted) {
    if (rv === null) {
      try {
        const list = await opts.list();
        rv = list.metadata?.resourceVersion ?? "0";
        opts.onSync(list.items);
        delay = base;
      } catch (err) {
        opts.logger.warn({ path: opts.path, err: kubeError(err).message }, "kubernetes list failed; retrying");
        await pause(delay, opts.signal);
        delay = Math.min(delay * 2, 10_000);
        continue;
      }
    }
    const streamStarted = Date.now();
    const outcome = await new Promise<{ expired: boolean; error: unknown }>((resolve) => {
      let expired = false;
      let controller: AbortController | null = null;
      const onAbort = () => controller?.abort();
      opts.signal.addEventListener("abort", onAbort, { once: true });
      const query: Record<string, string | number | boolean> = { resourceVersion: rv!, allowWatchBookmarks: true, timeoutSeconds: opts.timeoutSeconds ?? 30 };
      if (opts.labelSelector) query.labelSelector = opts.labelSelector;
      if (opts.fieldSelector) query.fieldSelector = opts.fieldSelector;
      opts.watch
        .watch(
          opts.path,
          query,
          (type: string, object: unknown) => {
            if (type === "ERROR") {
              const status = object as { code?: number; message?: string };
              if (status?.code === 410) expired = true;
              else opts.logger.warn({ path: opts.path, message: status?.message }, "kubernetes watch error event");
              controller?.abort();
              return;
            }
            const obj = object as T;
            const next = obj?.metadata?.resourceVersion;
            if (next) rv = next;
            if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") opts.onEvent({ type, object: obj });
          },
          (err: unknown) => {
            opts.signal.removeEventListener("abort", onAbort);
            const aborted = (err as { name?: string } | null)?.name === "AbortError";
            resolve({ expired: expired || kubeError(err).code === 410, error: aborted ? null : err });
          },
        )
        .then((c) => {
          controller = c;
          if (opts.signal.aborted) c.abort();
        })
        .catch((err: unknown) => resolve({ expired: false, error: err }));
    });
    if (opts.signal.aborted) return;
    const short = Date.now() - streamStarted < 1000;
    if (outcome.expired) {
      opts.logger.debug({ path: opts.path, resourceVersion: rv }, "watch resourceVersion expired (410); listing again");
      rv = null;
      // A server that answers 410 even right after a fresh list must not make this spin.
      if (short && lastExpiry !== null && Date.now() - lastExpiry < 1000) {
        await pause(delay, opts.signal);
        delay = Math.min(delay * 2, 10_000);
      }
      lastExpiry = Date.now();
      continue;
    }
    if (outcome.error) {
      opts.logger.debug({ path: opts.path, err: kubeError(outcome.error).message }, "watch stream failed; reconnecting");
      await pause(delay, opts.signal);
      delay = Math.min(delay * 2, 10_000);
    } else if (short) {
      // A server (or proxy) that ends streams at once must not turn this into a busy loop.
      await pause(delay, opts.signal);
      delay = Math.min(delay * 2, 10_000);
    } else delay = base;
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
