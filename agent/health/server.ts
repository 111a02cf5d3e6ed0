import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { AgentMetrics } from "./metrics.js";

export interface HealthServerOptions {
  port: number;
  /** Default all interfaces: the kubelet probes the pod IP. */
  host?: string;
  /** /healthz fails when the loop has not turned for this long (default 5 min: above the longest back-off and any backend timeout). */
  staleAfterMs?: number;
  metrics?: AgentMetrics;
}

export interface HealthServer {
  readonly metrics: AgentMetrics;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The opt-in HTTP endpoint (`--health-port`): /healthz (liveness: the loop is turning), /readyz
 * (readiness: the backend was reached, the agent registered with verified credentials, and the
 * last call succeeded) and /metrics (Prometheus text format). Nothing here reveals a secret.
 */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const metrics = opts.metrics ?? new AgentMetrics();
  const staleAfterMs = opts.staleAfterMs ?? 300_000;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(body) + "\n");
    };
    if (req.method !== "GET" && req.method !== "HEAD") return reply(405, { error: "only GET" });
    switch (path) {
      case "/healthz": {
        const since = metrics.sinceLastTick();
        return reply(since <= staleAfterMs ? 200 : 503, { ok: since <= staleAfterMs, sinceLastTickMs: since, staleAfterMs });
      }
      case "/readyz": {
        const ready = metrics.ready();
        return reply(ready ? 200 : 503, { ok: ready, outageSeconds: metrics.outageSeconds() });
      }
      case "/metrics":
        metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { "content-type": metrics.registry.contentType });
            res.end(text);
          },
          (err: Error) => reply(500, { error: err.message }),
        );
        return;
      default:
        return reply(404, { error: "not found; try /healthz, /readyz or /metrics" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => resolve());
  });
  // Never keep the process alive on its own: the agent's exit ends it.
  server.unref();
  return {
    metrics,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
