import { spawn, type ChildProcess } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pushLocal } from "../../agent/commands/local.js";
import { LocalQueueStore } from "../../agent/backend/local/store.js";
import { composeAgent } from "../../agent/main.js";
import { AgentMetrics } from "../../agent/health/metrics.js";
import { startHealthServer, type HealthServer } from "../../agent/health/server.js";
import { silentLogger } from "../../agent/log.js";
import { startFakeWandb, type FakeWandb } from "../fakes/wandb-server.js";
import { agentConfig, backendFor, until } from "../fakes/wandb/helpers.js";
import { REGISTRY, REGISTRY_PASSWORD, busyboxJob, requireDocker, requireRegistry, tempDockerConfig, uniqueRepository } from "../support/docker.js";
import { shellJob, tempDir } from "../support/local-jobs.js";

const BIN = resolve("bin/launch-agent.js");

/** The value of one sample in Prometheus text format (labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const m = line.match(/^([a-z_:]+)(?:\{([^}]*)\})? (\S+)$/);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[3]);
  }
  return undefined;
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text() };
}

describe("health endpoint of the real CLI (local queue, docker builder, real registry)", () => {
  let child: ChildProcess | null = null;
  const dirs: string[] = [];
  beforeAll(async () => {
    await requireDocker();
    await requireRegistry();
  });
  afterAll(async () => {
    child?.kill("SIGKILL");
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("counts a finished, a failed and a skipped build in /metrics; /healthz and /readyz answer 200", async () => {
    const root = await tempDir("health-cli-");
    const jobDir = await busyboxJob("health-metrics");
    const failing = await shellJob(root, "failing", "exit 3\n");
    dirs.push(root, jobDir);
    const dockerConfig = await tempDockerConfig({ password: REGISTRY_PASSWORD });
    const configFile = join(root, "launch-config.yaml");
    await writeFile(configFile, `builder:\n  type: docker\n  destination: ${REGISTRY}/${uniqueRepository("health")}\n`);
    const queue = join(root, "q");
    // Built and run; the same code again (the build is skipped); a process that exits 3.
    const items = [
      await pushLocal(queue, { queue: "ops", job: jobDir, resource: "local-container" }),
      await pushLocal(queue, { queue: "ops", job: jobDir, resource: "local-container" }),
      await pushLocal(queue, { queue: "ops", job: failing, resource: "local-process" }),
    ];

    child = spawn(process.execPath, [BIN, "--local", queue, "-q", "ops", "-c", configFile, "--health-port", "0"], {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig, HOME: root },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    await until(() => /"port":\d+/.test(stderr), 30_000, () => `the health endpoint's port in the log:\n${stderr}`);
    const port = Number(stderr.match(/"port":(\d+)/)![1]);

    const store = new LocalQueueStore(queue);
    const deadline = Date.now() + 120_000;
    let states: (string | undefined)[] = [];
    while (Date.now() < deadline) {
      states = await Promise.all(items.map(async (i) => (await store.get("ops", i.id))?.state));
      if (states.every((s) => s === "finished" || s === "failed")) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(states, stderr).toEqual(["finished", "finished", "failed"]);
    // Reports reach the store just before the counters move: give the last one a moment.
    let metrics = "";
    for (let i = 0; i < 50; i++) {
      metrics = (await get(port, "/metrics")).body;
      if ((sample(metrics, "launch_agent_items_total", { outcome: "failed", stage: "run" }) ?? 0) >= 1) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(sample(metrics, "launch_agent_items_total", { outcome: "finished", stage: "run" })).toBe(2);
    expect(sample(metrics, "launch_agent_items_total", { outcome: "failed", stage: "run" })).toBe(1);
    expect(sample(metrics, "launch_agent_builds_total", { result: "built" })).toBe(1);
    expect(sample(metrics, "launch_agent_builds_total", { result: "skipped" })).toBe(1);
    expect(sample(metrics, "launch_agent_build_duration_seconds_count", { result: "built" })).toBe(1);
    expect(sample(metrics, "launch_agent_run_duration_seconds_count", { status: "failed" })).toBe(1);
    expect(sample(metrics, "launch_agent_run_duration_seconds_count", { status: "finished" })).toBe(2);
    expect(sample(metrics, "launch_agent_backend_errors_total")).toBe(0);
    expect(sample(metrics, "launch_agent_backend_up")).toBe(1);
    expect(sample(metrics, "process_resident_memory_bytes")).toBeGreaterThan(10e6);
    expect((await get(port, "/healthz")).status).toBe(200);
    expect((await get(port, "/readyz")).status).toBe(200);
    expect((await get(port, "/nope")).status).toBe(404);

    const exited = new Promise<number | null>((r) => child!.once("exit", (code) => r(code)));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    child = null;
  }, 180_000);

  it("refuses a health port that is not a number, before starting", async () => {
    const root = await tempDir("health-bad-");
    dirs.push(root);
    const out = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const c = spawn(process.execPath, [BIN, "--local", root, "-q", "x", "--health-port", "http"], { env: { ...process.env, HOME: root } });
      let stderr = "";
      c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      c.on("exit", (code) => done({ code, stderr }));
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('--health-port (or LAUNCH_AGENT_HEALTH_PORT) must be a port number from 0 to 65535, got "http"');
  });
});

describe("/readyz follows the W&B backend", () => {
  let fake: FakeWandb;
  let health: HealthServer;
  afterEach(async () => {
    await health?.close();
    await fake?.close();
  });

  it("is false before the agent registers and while W&B is down, true once it answers again; outage time is counted", async () => {
    fake = await startFakeWandb();
    fake.addQueue("q1");
    health = await startHealthServer({ port: 0, host: "127.0.0.1", metrics: new AgentMetrics() });
    expect((await get(health.port, "/readyz")).status).toBe(503);
    // Nothing answers yet: the liveness check still passes (the loop is starting, not stuck).
    expect((await get(health.port, "/healthz")).status).toBe(200);

    const { backend, cleanup } = await backendFor(fake);
    const agent = composeAgent({
      config: agentConfig(),
      backend,
      logger: silentLogger,
      overrides: { pollIntervalMs: 30, maxBackoffMs: 60, observer: health.metrics },
    });
    const running = agent.run();
    try {
      await until(() => health.metrics.ready(), 10_000, "the agent to register");
      expect((await get(health.port, "/readyz")).status).toBe(200);

      fake.setOutage({ kind: "status", status: 503 });
      await until(() => !health.metrics.ready(), 10_000, "the outage to be noticed");
      const down = await get(health.port, "/readyz");
      expect(down.status).toBe(503);
      expect(JSON.parse(down.body)).toMatchObject({ ok: false });
      await new Promise((r) => setTimeout(r, 300));
      const during = (await get(health.port, "/metrics")).body;
      expect(sample(during, "launch_agent_backend_up")).toBe(0);
      expect(sample(during, "launch_agent_backend_outage_seconds_total")).toBeGreaterThanOrEqual(0.3);
      expect(sample(during, "launch_agent_backend_errors_total")).toBeGreaterThanOrEqual(1);

      fake.setOutage(null);
      await until(() => health.metrics.ready(), 10_000, "the agent to see W&B again");
      expect((await get(health.port, "/readyz")).status).toBe(200);
      const after = (await get(health.port, "/metrics")).body;
      const outage = sample(after, "launch_agent_backend_outage_seconds_total")!;
      await new Promise((r) => setTimeout(r, 200));
      // The outage is over: its total no longer grows.
      expect(sample((await get(health.port, "/metrics")).body, "launch_agent_backend_outage_seconds_total")).toBe(outage);
    } finally {
      agent.stop("test over");
      await running;
      await cleanup();
    }
  });

  it("/healthz fails when the loop stops turning", async () => {
    let now = 1_000_000;
    health = await startHealthServer({ port: 0, host: "127.0.0.1", staleAfterMs: 60_000, metrics: new AgentMetrics(() => now) });
    health.metrics.tick(0);
    expect((await get(health.port, "/healthz")).status).toBe(200);
    now += 61_000;
    const stale = await get(health.port, "/healthz");
    expect(stale.status).toBe(503);
    expect(JSON.parse(stale.body)).toMatchObject({ ok: false, sinceLastTickMs: 61_000 });
  });
});
