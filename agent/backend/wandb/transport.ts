import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import type { Logger } from "../../log.js";
import type { Dispatcher } from "undici";
import { WandbApiError, WandbAuthError, WandbUnavailableError } from "./errors.js";
import { proxyDispatcher, type ProxySettings } from "./proxy.js";

/** Retry and timeout knobs (reference §7.1); tests shrink them to milliseconds. */
export interface TransportTimings {
  /** Per-attempt timeout of a GraphQL call (WANDB_HTTP_TIMEOUT, default 20 s). */
  attemptTimeoutMs: number;
  /** Per-attempt timeout of a file download, which may be large. */
  downloadTimeoutMs: number;
  /** Attempts per call, the first included. */
  maxAttempts: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** Source of jitter in [0, 1). */
  random: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_TIMINGS: TransportTimings = {
  attemptTimeoutMs: 20_000,
  downloadTimeoutMs: 600_000,
  maxAttempts: 20,
  backoffInitialMs: 2_000,
  backoffMaxMs: 60_000,
  random: Math.random,
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
};

/** WANDB_HTTP_TIMEOUT (seconds) overrides the per-attempt timeout, as in the official client. */
export function timingsFromEnv(env: NodeJS.ProcessEnv, base: TransportTimings = DEFAULT_TIMINGS): TransportTimings {
  const raw = env.WANDB_HTTP_TIMEOUT;
  if (raw === undefined || raw.trim() === "") return base;
  const seconds = Number(raw);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    throw new WandbApiError("config", `WANDB_HTTP_TIMEOUT ${JSON.stringify(raw)} is not a positive number of seconds; unset it or use e.g. 20`);
  }
  return { ...base, attemptTimeoutMs: seconds * 1000 };
}

/** WANDB__EXTRA_HTTP_HEADERS: a JSON object of header names to string values. */
export function extraHeadersFromEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const raw = env.WANDB__EXTRA_HTTP_HEADERS;
  if (raw === undefined || raw.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const headers = z.record(z.string(), z.string()).safeParse(parsed);
  if (!headers.success) {
    throw new WandbApiError("config", 'WANDB__EXTRA_HTTP_HEADERS must be a JSON object of header names to string values, e.g. {"X-Proxy-Auth": "..."}');
  }
  return headers.data;
}

/** Statuses W&B's client never retries (reference §7.1); every other 4xx and 5xx is retried. */
const NON_RETRYABLE = new Set([400, 401, 403, 404, 409, 410, 413, 422, 501]);

export function isRetryableStatus(status: number): boolean {
  return status >= 400 && !NON_RETRYABLE.has(status);
}

/** Exponential backoff with jitter, capped: attempt 1 waits ~initial, then doubles up to max. */
export function backoffDelay(attempt: number, t: Pick<TransportTimings, "backoffInitialMs" | "backoffMaxMs" | "random">): number {
  const base = Math.min(t.backoffMaxMs, t.backoffInitialMs * 2 ** Math.max(0, attempt - 1));
  // ±25 % jitter so a fleet of agents does not retry in lockstep after an outage.
  return Math.min(t.backoffMaxMs, Math.round(base * (0.75 + 0.5 * t.random())));
}

/** A named GraphQL document and the zod schema of its `data`. */
export interface Operation<S extends z.ZodType> {
  readonly name: string;
  readonly document: string;
  readonly data: S;
}

export function operation<S extends z.ZodType>(name: string, document: string, data: S): Operation<S> {
  return { name, document, data };
}

const GraphqlErrorSchema = z.looseObject({ message: z.string() });
const EnvelopeSchema = z.looseObject({
  data: z.unknown().optional(),
  errors: z.array(GraphqlErrorSchema).nullish(),
});

export interface TransportOptions {
  baseUrl: string;
  apiKey: string;
  userAgent: string;
  /** Sent with every GraphQL call (WANDB__EXTRA_HTTP_HEADERS, e.g. for an auth proxy in front of W&B Server). */
  extraHeaders?: Record<string, string>;
  /** Proxies for every request this transport makes (WANDB__PROXIES, HTTP(S)_PROXY; see proxy.ts). */
  proxy?: ProxySettings | null;
  timings?: Partial<TransportTimings>;
  logger?: Logger;
}

export interface CallOptions {
  /** Fewer attempts for calls the loop repeats anyway (pop, heartbeat). */
  maxAttempts?: number;
  /** Told before each retry; a retried mutation may have been applied by the failed attempt. */
  onRetry?: (attempt: number, reason: string, next: RetryInfo) => void;
}

/** When the next attempt comes and how long retrying goes on, for logs a user can act on. */
export interface RetryInfo {
  waitMs: number;
  maxAttempts: number;
  /** The back-off still ahead if every attempt fails (attempt time not included). */
  giveUpInMs: number;
}

/** Sum of the back-offs (without jitter) between attempt `after` and the last one. */
export function remainingBackoffMs(after: number, maxAttempts: number, t: Pick<TransportTimings, "backoffInitialMs" | "backoffMaxMs">): number {
  let total = 0;
  for (let n = after; n < maxAttempts; n++) total += Math.min(t.backoffMaxMs, t.backoffInitialMs * 2 ** Math.max(0, n - 1));
  return total;
}

/** Thrown inside one attempt to say whether another attempt may help. */
class AttemptError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * POSTs GraphQL documents to `<baseUrl>/graphql` with basic auth `api:<key>` and downloads artifact
 * files, retrying outages the way W&B's own client does. The key is only ever in the auth header.
 */
export class WandbTransport {
  readonly baseUrl: string;
  readonly timings: TransportTimings;
  readonly #auth: string;
  readonly #userAgent: string;
  readonly #extraHeaders: Record<string, string>;
  readonly #logger: Logger | undefined;
  readonly #proxy: ProxySettings | null;
  #dispatcher: Promise<Dispatcher> | null = null;
  #proxyAuthorization: string | undefined;
  /** Aborted by close(): pending retries stop at once so shutdown is not held up by an outage. */
  #inflight = new AbortController();
  #closed = false;

  constructor(opts: TransportOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    this.timings = { ...DEFAULT_TIMINGS, ...opts.timings };
    this.#auth = `Basic ${Buffer.from(`api:${opts.apiKey}`).toString("base64")}`;
    this.#userAgent = opts.userAgent;
    // Header names are case-insensitive: drop any extra header that would add a second auth value.
    this.#extraHeaders = Object.fromEntries(Object.entries(opts.extraHeaders ?? {}).filter(([k]) => k.toLowerCase() !== "authorization"));
    this.#logger = opts.logger;
    this.#proxy = opts.proxy ?? null;
    if (this.#proxy) {
      // Through a proxy, Proxy-Authorization is for the proxy (wandb-core sends it on CONNECT), not for W&B.
      const key = Object.keys(this.#extraHeaders).find((k) => k.toLowerCase() === "proxy-authorization");
      if (key) {
        this.#proxyAuthorization = this.#extraHeaders[key];
        delete this.#extraHeaders[key];
      }
    }
  }

  /** Stop retrying in-flight calls (they reject as unavailable); later calls get one attempt each. */
  close(): void {
    this.#closed = true;
    this.#inflight.abort();
    this.#inflight = new AbortController();
  }

  get closing(): boolean {
    return this.#closed;
  }

  async request<S extends z.ZodType>(op: Operation<S>, variables: Record<string, unknown>, opts: CallOptions = {}): Promise<z.infer<S>> {
    const body = JSON.stringify({ operationName: op.name, query: op.document, variables });
    const json = await this.#withRetries(op.name, opts, async (signal) => {
      const res = await this.#fetch(`${this.baseUrl}/graphql`, {
        method: "POST",
        headers: {
          ...this.#extraHeaders,
          authorization: this.#auth,
          "content-type": "application/json",
          accept: "application/json",
          "user-agent": this.#userAgent,
        },
        body,
        signal,
      });
      const text = await res.text();
      if (res.status === 401) throw new WandbAuthError(this.baseUrl);
      if (!res.ok) {
        throw new AttemptError(`HTTP ${res.status}${graphqlMessages(text)}`, isRetryableStatus(res.status), res.status);
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        // A proxy error page or a truncated body: the next attempt may get a real answer.
        throw new AttemptError(`response is not JSON (${text.slice(0, 80).replace(/\s+/g, " ")})`, true, res.status);
      }
    });
    const envelope = EnvelopeSchema.safeParse(json);
    if (!envelope.success) throw new WandbUnavailableError(op.name, `W&B ${op.name}: malformed response: ${z.prettifyError(envelope.error)}`);
    const errors = envelope.data.errors ?? [];
    if (errors.length > 0) {
      throw new WandbApiError(op.name, `W&B ${op.name} failed: ${errors.map((e) => e.message).join("; ")}`);
    }
    const data = op.data.safeParse(envelope.data.data);
    if (!data.success) {
      throw new WandbUnavailableError(op.name, `W&B ${op.name}: malformed response: ${z.prettifyError(data.error)}`);
    }
    return data.data;
  }

  /**
   * Stream `url` into `dest`, returning the base64 MD5 and size of what was written. The API key is
   * sent only to the W&B host itself, never to the storage behind a signed URL.
   */
  async download(url: string, dest: string, what: string): Promise<{ md5: string; size: number }> {
    const home = new URL(this.baseUrl).origin;
    return this.#withRetries(`download ${what}`, {}, async (signal) => {
      // Redirects are followed here, not by fetch, so the key never follows one off the W&B host (W&B's file
      // handler redirects to storage).
      let target = new URL(url, this.baseUrl);
      let res: Response;
      for (let hops = 0; ; hops++) {
        const sameHost = target.origin === home;
        res = await this.#fetch(target, {
          headers: { "user-agent": this.#userAgent, ...(sameHost ? { authorization: this.#auth } : {}) },
          redirect: "manual",
          signal,
        });
        const location = res.headers.get("location");
        if (res.status >= 300 && res.status < 400 && location && hops < 5) {
          await res.body?.cancel();
          target = new URL(location, target);
          continue;
        }
        if (res.status === 401 && sameHost) throw new WandbAuthError(this.baseUrl);
        break;
      }
      if (!res.ok || !res.body) {
        // Storage says why in a short XML or JSON body (e.g. S3's "<Code>AccessDenied</Code><Message>Request has expired")
        const detail = (await res.text().catch(() => "")).replace(/<\?xml[^>]*>/, "").replace(/\s+/g, " ").trim().slice(0, 200);
        throw new AttemptError(`HTTP ${res.status}${detail ? ` ${detail}` : ""}`, isRetryableStatus(res.status), res.status);
      }
      const hash = createHash("md5");
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, done) {
          hash.update(chunk);
          size += chunk.length;
          done(null, chunk);
        },
      });
      try {
        await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), tap, createWriteStream(dest));
      } catch (err) {
        await rm(dest, { force: true });
        throw new AttemptError(`download interrupted: ${(err as Error).message}`, true);
      }
      return { md5: hash.digest("base64"), size };
    }, this.timings.downloadTimeoutMs);
  }

  /**
   * PUT `body` to a signed upload URL with the headers W&B asked for (run files). As with downloads, the key
   * goes only to the W&B host, never to the storage behind the URL.
   */
  async upload(url: string, body: Buffer, headers: Record<string, string>, what: string, opts: CallOptions = {}): Promise<void> {
    const sameHost = new URL(url, this.baseUrl).origin === new URL(this.baseUrl).origin;
    await this.#withRetries(`upload ${what}`, opts, async (signal) => {
      const res = await this.#fetch(new URL(url, this.baseUrl), {
        method: "PUT",
        headers: { ...headers, "user-agent": this.#userAgent, ...(sameHost ? { authorization: this.#auth } : {}) },
        body,
        signal,
      });
      const text = await res.text();
      if (res.status === 401 && sameHost) throw new WandbAuthError(this.baseUrl);
      if (!res.ok) throw new AttemptError(`HTTP ${res.status} ${text.slice(0, 200).replace(/\s+/g, " ")}`.trim(), isRetryableStatus(res.status), res.status);
    });
  }

  /** fetch, through the configured proxies when there are any (undici is loaded on first use). */
  async #fetch(url: string | URL, init: RequestInit): Promise<Response> {
    if (!this.#proxy) return fetch(url, init);
    this.#dispatcher ??= proxyDispatcher(this.#proxy, this.#proxyAuthorization);
    // Node's fetch takes an undici dispatcher; its RequestInit type does not declare the option.
    return fetch(url, { ...init, dispatcher: await this.#dispatcher } as RequestInit);
  }

  async #withRetries<T>(
    what: string,
    opts: CallOptions,
    attempt: (signal: AbortSignal) => Promise<T>,
    timeoutMs = this.timings.attemptTimeoutMs,
  ): Promise<T> {
    const max = this.closing ? 1 : Math.max(1, opts.maxAttempts ?? this.timings.maxAttempts);
    let last = "";
    const inflight = this.#inflight.signal;
    for (let n = 1; n <= max; n++) {
      const signal = AbortSignal.any([AbortSignal.timeout(timeoutMs), inflight]);
      try {
        return await attempt(signal);
      } catch (err) {
        if (err instanceof WandbAuthError) throw err;
        if (err instanceof AttemptError && !err.retryable) {
          throw new WandbApiError(what, `W&B ${what} failed: ${err.message}`, err.status);
        }
        last = err instanceof AttemptError ? err.message : describeFetchError(err, timeoutMs);
        if (n === max || inflight.aborted) break;
        const wait = backoffDelay(n, this.timings);
        opts.onRetry?.(n, last, { waitMs: wait, maxAttempts: max, giveUpInMs: remainingBackoffMs(n, max, this.timings) });
        this.#logger?.debug({ operation: what, attempt: n, waitMs: wait, reason: last }, "W&B call failed, retrying");
        try {
          await this.timings.sleep(wait, inflight);
        } catch {
          break; // closing: give up now
        }
      }
    }
    throw new WandbUnavailableError(what, `W&B ${what} failed after retries: ${last} (${this.baseUrl})`);
  }
}

function describeFetchError(err: unknown, timeoutMs: number): string {
  if (err instanceof Error) {
    if (err.name === "TimeoutError") return `no answer within ${timeoutMs} ms`;
    if (err.name === "AbortError") return "aborted";
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    if (cause?.code) return `${err.message} (${cause.code})`;
    return err.message;
  }
  return String(err);
}

/** `: msg; msg` from a GraphQL error body, for HTTP errors that carry one. */
function graphqlMessages(text: string): string {
  try {
    const parsed = EnvelopeSchema.safeParse(JSON.parse(text));
    const errors = parsed.success ? (parsed.data.errors ?? []) : [];
    return errors.length ? `: ${errors.map((e) => e.message).join("; ")}` : "";
  } catch {
    return "";
  }
}
