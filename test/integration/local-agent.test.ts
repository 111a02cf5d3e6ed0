import { spawn } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalBackend } from "../../agent/backend/local/index.js";
import { LocalQueueStore } from "../../agent/backend/local/store.js";
import { localRunSpec, pushLocal } from "../../agent/commands/local.js";
import { composeAgent } from "../../agent/main.js";
import { silentLogger } from "../../agent/log.js";
import type { ItemResult } from "../../agent/pipeline.js";
import { shellJob, tempDir } from "../support/local-jobs.js";

const BIN = resolve("bin/launch-agent.js");

function startAgent(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<{ code: number | null; output: string }>((res) => child.on("close", (code) => res({ code, output })));
  return { child, exited, output: () => output };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("agent on the local queue", () => {
  it("two agents on one queue run each of 20 items exactly once", async () => {
    const root = await tempDir();
    const out = join(root, "ran.txt");
    const job = await shellJob(root, "count", `echo "$WANDB_LAUNCH_TRACE_ID $WANDB_RUN_ID" >> "$RAN_FILE"\n`);
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push((await pushLocal(join(root, "q"), { queue: "shared", job })).id);
    const env = { RAN_FILE: out };
    const args = ["--local", join(root, "q"), "-q", "shared", "-j", "3", "--exit-when-idle"];
    const [a, b] = [startAgent(args, env), startAgent(args, env)];
    const results = await Promise.all([a.exited, b.exited]);
    expect(results.map((r) => r.code), results.map((r) => r.output).join("\n")).toEqual([0, 0]);

    const lines = (await readFile(out, "utf8")).trim().split("\n");
    const traceIds = lines.map((l) => l.split(" ")[0]);
    expect(traceIds.sort()).toEqual([...ids].sort());
    const items = await new LocalQueueStore(join(root, "q")).list("shared");
    expect(items.map((i) => i.state)).toEqual(Array(20).fill("finished"));
    // Both agents took part (claimedBy differs) unless one was much faster; at least the records say who.
    expect(items.every((i) => i.claimedBy?.pid)).toBe(true);
  });

  it("SIGTERM while a job runs: exits within stopped_run_timeout + 5 s and marks the item interrupted", async () => {
    const root = await tempDir();
    const job = await shellJob(root, "sleepy", "echo started; sleep 120\n");
    const config = join(root, "launch-config.yaml");
    await writeFile(config, "queues: [slow]\nstopped_run_timeout: 2\n");
    const { id } = await pushLocal(join(root, "q"), { queue: "slow", job });
    const agent = startAgent(["--local", join(root, "q"), "-c", config]);
    const store = new LocalQueueStore(join(root, "q"));
    try {
      await waitFor(async () => ((await store.get("slow", id))?.state === "running" ? true : undefined), 20_000, "the item to run");
    } catch (err) {
      agent.child.kill("SIGKILL");
      throw new Error(`${(err as Error).message}; agent output:\n${agent.output()}`);
    }
    const sent = Date.now();
    agent.child.kill("SIGTERM");
    const { code, output } = await agent.exited;
    const tookMs = Date.now() - sent;
    expect(code, output).toBe(0);
    expect(tookMs).toBeLessThan((2 + 5) * 1000);
    expect(tookMs).toBeGreaterThanOrEqual(2000); // it did give the job its grace period
    const record = await store.get("slow", id);
    expect(record?.state).toBe("interrupted");
    expect(record?.history.map((h) => h.state)).toEqual(["queued", "claimed", "running", "interrupted"]);
    expect((await store.list()).filter((i) => i.state === "claimed" || i.state === "running")).toEqual([]);
  });

  it("fails malformed items with a clear message and goes on with the next", async () => {
    const root = await tempDir();
    const qroot = join(root, "q");
    const good = await shellJob(root, "good", "echo fine\n");
    const unknownType = await shellJob(root, "weird", "echo never\n", "notebook-server");
    const store = new LocalQueueStore(qroot);
    await store.ensureQueue("mixed");
    await writeFile(join(qroot, "mixed", "queued", "000000000-badjson.json"), "{ this is not json");
    // `local push` refuses these now; items written by hand or by an older version still reach the agent.
    const missing = await store.push("mixed", localRunSpec({ queue: "mixed", job: join(root, "does-not-exist") }));
    const weird = await store.push("mixed", localRunSpec({ queue: "mixed", job: unknownType }));
    const notObject = await store.push("mixed", "just a string");
    const ok = await pushLocal(qroot, { queue: "mixed", job: good });

    const done: ItemResult[] = [];
    const agent = composeAgent({
      config: { queues: ["mixed"], max_jobs: 1, max_schedulers: 1, verbosity: 0 },
      backend: new LocalBackend({ root: qroot, logger: silentLogger }),
      logger: silentLogger,
      overrides: { exitWhenIdle: true, pollIntervalMs: 20, onItemDone: (r) => done.push(r) },
    });
    expect(await agent.run()).toBe(0);

    const byId = new Map((await store.list("mixed")).map((r) => [r.id, r]));
    expect(byId.get("000000000-badjson")?.state).toBe("failed");
    expect(byId.get("000000000-badjson")?.message).toMatch(/not a valid queue item/);
    expect(byId.get(missing.id)?.state).toBe("failed");
    expect(byId.get(missing.id)?.message).toMatch(/job directory .*does-not-exist.* does not exist/);
    expect(byId.get(weird.id)?.state).toBe("failed");
    expect(byId.get(weird.id)?.message).toMatch(/source_type "notebook-server" is not a job source type/);
    expect(byId.get(notObject.id)?.message).toMatch(/runSpec must be a JSON object/);
    expect(byId.get(ok.id)?.state).toBe("finished");
    expect(done.length).toBe(4); // the unreadable file never became a task
  });

  it("reports a failing run with its exit code and last output, and runs at most max_jobs at once", async () => {
    const root = await tempDir();
    const qroot = join(root, "q");
    const marker = join(root, "concurrency");
    await mkdir(marker);
    // Each run records how many runs are active while it runs.
    const busy = await shellJob(root, "busy", `touch "${marker}/$WANDB_RUN_ID"; ls "${marker}" | wc -l >> "${root}/seen"; sleep 0.3; rm "${marker}/$WANDB_RUN_ID"\n`);
    const bad = await shellJob(root, "bad", "echo about to fail >&2; exit 3\n");
    for (let i = 0; i < 6; i++) await pushLocal(qroot, { queue: "w", job: busy });
    const failing = await pushLocal(qroot, { queue: "w", job: bad });
    const agent = composeAgent({
      config: { queues: ["w"], max_jobs: 2, max_schedulers: 1, verbosity: 0 },
      backend: new LocalBackend({ root: qroot, logger: silentLogger }),
      logger: silentLogger,
      overrides: { exitWhenIdle: true, pollIntervalMs: 20 },
    });
    await agent.run();
    const seen = (await readFile(join(root, "seen"), "utf8")).trim().split("\n").map(Number);
    expect(Math.max(...seen)).toBe(2);
    const record = await new LocalQueueStore(qroot).get("w", failing.id);
    expect(record?.state).toBe("failed");
    expect(record?.exitCode).toBe(3);
    expect(record?.message).toMatch(/exited with code 3; last output:\nabout to fail/);
  });

  it("gives each run the launch environment with a fresh run id", async () => {
    const root = await tempDir();
    const qroot = join(root, "q");
    const job = await shellJob(root, "env", `env | grep -E '^WANDB_' | sort > "${root}/env-$WANDB_RUN_ID"\n`);
    await pushLocal(qroot, { queue: "e", job, project: "proj", entity: "ent" });
    await pushLocal(qroot, { queue: "e", job, project: "proj", entity: "ent" });
    const done: ItemResult[] = [];
    const agent = composeAgent({
      config: { queues: ["e"], max_jobs: 1, max_schedulers: 1, verbosity: 0 },
      backend: new LocalBackend({ root: qroot, logger: silentLogger, env: {} }),
      logger: silentLogger,
      overrides: { exitWhenIdle: true, pollIntervalMs: 20, onItemDone: (r) => done.push(r) },
    });
    await agent.run();
    const runIds = done.map((d) => d.runId!);
    expect(new Set(runIds).size).toBe(2);
    for (const r of done) {
      const env = await readFile(join(root, `env-${r.runId}`), "utf8");
      expect(env).toContain(`WANDB_RUN_ID=${r.runId}\n`);
      expect(env).toContain("WANDB_LAUNCH=True\n");
      expect(env).toContain("WANDB_PROJECT=proj\n");
      expect(env).toContain("WANDB_ENTITY=ent\n");
      expect(env).toContain("WANDB_LAUNCH_QUEUE_NAME=e\n");
      expect(env).toContain(`WANDB_LAUNCH_TRACE_ID=${r.item.id}\n`);
      expect(env).toContain("WANDB_CONFIG={}\n");
    }
  });
});

describe("stop requests", () => {
  it("a stopped run gets stopped_run_timeout, then is cancelled and its item ends stopped", async () => {
    const root = await tempDir();
    const qroot = join(root, "q");
    const job = await shellJob(root, "long", "trap '' TERM; echo working; sleep 30\n");
    const { id } = await pushLocal(qroot, { queue: "s", job });
    const store = new LocalQueueStore(qroot);
    const agent = composeAgent({
      config: { queues: ["s"], max_jobs: 1, max_schedulers: 1, verbosity: 0, stopped_run_timeout: 1 },
      backend: new LocalBackend({ root: qroot, logger: silentLogger }),
      logger: silentLogger,
      overrides: { exitWhenIdle: true, pollIntervalMs: 20, stopCheckIntervalMs: 100 },
    });
    const running = agent.run();
    await waitFor(async () => ((await store.get("s", id))?.state === "running" ? true : undefined), 10_000, "the run to start");
    const asked = Date.now();
    await mkdir(join(qroot, "s", "stop"), { recursive: true });
    await writeFile(join(qroot, "s", "stop", id), "now");
    expect(await running).toBe(0);
    const elapsed = Date.now() - asked;
    // 1 s grace, then SIGTERM is ignored by the job, so SIGKILL follows after the runner's 3 s.
    expect(elapsed).toBeGreaterThanOrEqual(1000);
    expect(elapsed).toBeLessThan(8000);
    const record = await store.get("s", id);
    expect(record?.state).toBe("stopped");
    expect(record?.message).toBe("run stopped by the agent");
    expect(Date.parse(record!.stopRequestedAt!)).toBeGreaterThanOrEqual(asked - 1000);
  });
});
