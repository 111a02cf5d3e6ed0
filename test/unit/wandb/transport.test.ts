import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { WandbApiError, WandbAuthError, WandbUnavailableError } from "../../../agent/backend/wandb/errors.js";
import { backoffDelay, extraHeadersFromEnv, isRetryableStatus, operation, timingsFromEnv, WandbTransport, DEFAULT_TIMINGS } from "../../../agent/backend/wandb/transport.js";

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server | null = null;
const sockets = new Set<Socket>();
const seen: { auth?: string; ua?: string; extra?: string; body: string }[] = [];

async function serve(handlers: Handler[]): Promise<string> {
  let n = 0;
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ auth: req.headers.authorization, ua: req.headers["user-agent"], extra: req.headers["x-proxy-auth"] as string | undefined, body });
      const h = handlers[Math.min(n++, handlers.length - 1)]!;
      h(req, res, body);
    });
  });
  server.on("connection", (s) => (sockets.add(s), s.on("close", () => sockets.delete(s))));
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const s of sockets) s.destroy();
  if (server) await new Promise<void>((r) => server!.close(() => r()));
  server = null;
  seen.length = 0;
});

const json = (status: number, body: unknown): Handler => (_q, res) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
const hang: Handler = () => {};
const Op = operation("LaunchAgent", "query LaunchAgent($agentId: ID!) { launchAgent(id: $agentId) { id stopPolling } }", z.object({ launchAgent: z.object({ id: z.string(), stopPolling: z.boolean() }) }));
const ok = json(200, { data: { launchAgent: { id: "a1", stopPolling: false } } });

function transport(url: string, over: Partial<typeof DEFAULT_TIMINGS> = {}) {
  const sleeps: number[] = [];
  const t = new WandbTransport({
    baseUrl: url,
    apiKey: "secret-key-abc",
    userAgent: "W&B Internal Client test",
    timings: { attemptTimeoutMs: 200, maxAttempts: 5, backoffInitialMs: 2_000, backoffMaxMs: 60_000, random: () => 0.5, sleep: async (ms) => void sleeps.push(ms), ...over },
  });
  return { t, sleeps };
}

describe("WandbTransport.request", () => {
  it("POSTs the named operation to /graphql with basic auth api:<key> and a User-Agent", async () => {
    const url = await serve([ok]);
    const { t } = transport(url);
    expect(await t.request(Op, { agentId: "a1" })).toEqual({ launchAgent: { id: "a1", stopPolling: false } });
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from("api:secret-key-abc").toString("base64")}`);
    expect(seen[0]!.ua).toBe("W&B Internal Client test");
    expect(JSON.parse(seen[0]!.body)).toMatchObject({ operationName: "LaunchAgent", variables: { agentId: "a1" } });
  });

  it("retries 5xx, 429 and connection resets with exponential backoff, then succeeds", async () => {
    const reset: Handler = (req) => req.socket.destroy();
    const url = await serve([json(500, {}), json(429, {}), reset, json(502, {}), ok]);
    const { t, sleeps } = transport(url);
    expect((await t.request(Op, { agentId: "a1" })).launchAgent.id).toBe("a1");
    expect(seen).toHaveLength(5);
    expect(sleeps).toEqual([2_000, 4_000, 8_000, 16_000]);
  });

  it("gives up after maxAttempts with a transient error naming the operation and the last failure", async () => {
    const url = await serve([json(503, { errors: [{ message: "maintenance" }] })]);
    const { t, sleeps } = transport(url, { maxAttempts: 3 });
    const err = await t.request(Op, { agentId: "a1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbUnavailableError);
    expect((err as Error).message).toMatch(/LaunchAgent failed after retries: HTTP 503: maintenance/);
    expect(seen).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it.each([400, 403, 404, 409, 410, 413, 422, 501])("never retries HTTP %i", async (status) => {
    const url = await serve([json(status, { errors: [{ message: "nope" }] }), ok]);
    const { t } = transport(url);
    const err = await t.request(Op, { agentId: "a1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbApiError);
    expect((err as WandbApiError).status).toBe(status);
    expect((err as Error).message).toContain(`LaunchAgent failed: HTTP ${status}: nope`);
    expect(seen).toHaveLength(1);
  });

  it("401 is an invalid-API-key error with the fix, never retried, without the key", async () => {
    const url = await serve([json(401, { errors: [{ message: "user is not logged in" }] })]);
    const { t } = transport(url);
    const err = await t.request(Op, { agentId: "a1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbAuthError);
    expect((err as Error).message).toMatch(/invalid API key.*WANDB_API_KEY.*wandb login/);
    expect((err as Error).message).not.toContain("secret-key-abc");
    expect(seen).toHaveLength(1);
  });

  it("times out a hanging attempt and retries it", async () => {
    const url = await serve([hang, ok]);
    const { t, sleeps } = transport(url, { attemptTimeoutMs: 150 });
    const started = Date.now();
    expect((await t.request(Op, { agentId: "a1" })).launchAgent.id).toBe("a1");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(sleeps).toHaveLength(1);
  });

  it("reports a timeout as no answer within the limit", async () => {
    const url = await serve([hang]);
    const { t } = transport(url, { attemptTimeoutMs: 100, maxAttempts: 2 });
    await expect(t.request(Op, { agentId: "a1" })).rejects.toThrow(/no answer within 100 ms/);
  });

  it("surfaces GraphQL errors (HTTP 200) with the operation name, without retrying", async () => {
    const url = await serve([json(200, { data: null, errors: [{ message: "agent not found" }, { message: "second" }] })]);
    const { t } = transport(url);
    await expect(t.request(Op, { agentId: "a1" })).rejects.toThrow("W&B LaunchAgent failed: agent not found; second");
    expect(seen).toHaveLength(1);
  });

  it("rejects a response whose data does not match the schema, naming the field", async () => {
    const url = await serve([json(200, { data: { launchAgent: { id: 7, stopPolling: "yes" } } })]);
    const { t } = transport(url);
    const err = await t.request(Op, { agentId: "a1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbUnavailableError);
    expect((err as Error).message).toMatch(/LaunchAgent: malformed response/);
    expect((err as Error).message).toMatch(/launchAgent\.id/);
  });

  it("retries a body that is not JSON (a proxy page)", async () => {
    const html: Handler = (_q, res) => res.writeHead(200, { "content-type": "text/html" }).end("<html>bad gateway</html>");
    const url = await serve([html, ok]);
    const { t } = transport(url);
    expect((await t.request(Op, { agentId: "a1" })).launchAgent.id).toBe("a1");
    expect(seen).toHaveLength(2);
  });

  it("close() stops pending retries at once and later calls get a single attempt", async () => {
    const url = await serve([json(503, {})]);
    // Real sleeps: a 60 s backoff that close() must cut short.
    const t = new WandbTransport({ baseUrl: url, apiKey: "k", userAgent: "ua", timings: { attemptTimeoutMs: 200, maxAttempts: 50, backoffInitialMs: 60_000, backoffMaxMs: 60_000 } });
    const pending = t.request(Op, { agentId: "a1" }).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 100));
    t.close();
    expect(await pending).toBeInstanceOf(WandbUnavailableError);
    const before = seen.length;
    await t.request(Op, { agentId: "a1" }).catch(() => undefined);
    expect(seen.length - before).toBe(1);
  });
});

describe("retry policy", () => {
  it("classifies statuses as W&B's client does", () => {
    for (const s of [408, 425, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 409, 410, 413, 422, 501]) expect(isRetryableStatus(s)).toBe(false);
  });

  it("backs off exponentially from 2 s to a 60 s cap with ±25 % jitter", () => {
    const t = { backoffInitialMs: 2_000, backoffMaxMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, { ...t, random: () => 0.5 }))).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(backoffDelay(1, { ...t, random: () => 0 })).toBe(1_500);
    expect(backoffDelay(1, { ...t, random: () => 0.999999 })).toBe(2_500);
    expect(backoffDelay(10, { ...t, random: () => 0.999999 })).toBe(60_000);
  });

  it("sends WANDB__EXTRA_HTTP_HEADERS but never lets them replace the auth header", async () => {
    const url = await serve([ok]);
    const extra = extraHeadersFromEnv({ WANDB__EXTRA_HTTP_HEADERS: '{"X-Proxy-Auth": "p1", "Authorization": "Bearer other"}' });
    const t = new WandbTransport({ baseUrl: url, apiKey: "k", userAgent: "ua", extraHeaders: extra });
    await t.request(Op, { agentId: "a1" });
    expect(seen[0]!.extra).toBe("p1");
    expect(seen[0]!.auth).toBe(`Basic ${Buffer.from("api:k").toString("base64")}`);
    expect(() => extraHeadersFromEnv({ WANDB__EXTRA_HTTP_HEADERS: "[1]" })).toThrow(/WANDB__EXTRA_HTTP_HEADERS must be a JSON object/);
  });

  it("reads WANDB_HTTP_TIMEOUT in seconds and rejects nonsense naming the variable", () => {
    expect(timingsFromEnv({}).attemptTimeoutMs).toBe(20_000);
    expect(timingsFromEnv({ WANDB_HTTP_TIMEOUT: "5" }).attemptTimeoutMs).toBe(5_000);
    expect(() => timingsFromEnv({ WANDB_HTTP_TIMEOUT: "soon" })).toThrow(/WANDB_HTTP_TIMEOUT "soon"/);
  });
});
