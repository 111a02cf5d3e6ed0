// Crash recovery and `local stop` on the local backend, with real agent processes.
import { spawn, spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalQueueStore, isProcessAlive, type ItemRecord } from "../../agent/backend/local/store.js";
import { pushLocal } from "../../agent/commands/local.js";
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

async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string, output: () => string = () => ""): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; agent output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const inState = (store: LocalQueueStore, queue: string, id: string, states: string[]) => async (): Promise<ItemRecord | undefined> => {
  const r = await store.get(queue, id);
  return r && states.includes(r.state) ? r : undefined;
};

describe("an agent killed with SIGKILL mid-run", () => {
  it("another agent stops the orphaned run, requeues the item and runs it again: never two runs at once", async () => {
    const dir = await tempDir();
    const root = join(dir, "q");
    const log = join(dir, "runs.log");
    // First run: records its pid and sleeps; second run: checks the first is gone (an unreaped zombie
    // counts as gone: orphans here may be reparented to an init that does not reap), then finishes.
    const job = await shellJob(
      dir,
      "crashy",
      `if [ -e "$FIRST_PID" ]; then
  state=$(cut -d' ' -f3 "/proc/$(cat "$FIRST_PID")/stat" 2>/dev/null)
  if [ -n "$state" ] && [ "$state" != Z ]; then echo "overlap $state" >> "$RUN_LOG"; fi
  echo second >> "$RUN_LOG"; exit 0
fi
echo $$ > "$FIRST_PID"; echo first >> "$RUN_LOG"; sleep 120
`,
    );
    const env = { RUN_LOG: log, FIRST_PID: join(dir, "first.pid") };
    const { id } = await pushLocal(root, { queue: "crash", job });
    const store = new LocalQueueStore(root);

    const a = startAgent(["--local", root, "-q", "crash"], env);
    await waitFor(inState(store, "crash", id, ["running"]), 120_000, "the first run", a.output);
    const firstPid = Number((await waitFor(async () => readFile(join(dir, "first.pid"), "utf8").catch(() => undefined), 30_000, "the run's pid")).trim());
    a.child.kill("SIGKILL");
    await a.exited;
    expect(isProcessAlive(firstPid)).toBe(true); // the run outlived its agent

    // `local list` shows who owns the item, and that the owner is gone.
    const listed = spawnSync(process.execPath, [BIN, "local", "list", "--local", root], { encoding: "utf8" });
    expect(listed.stdout).toMatch(new RegExp(`${id} +crash +running +owner=${a.child.pid}@${hostname()} \\(gone\\) attempts=1`));

    const started = Date.now();
    const b = startAgent(["--local", root, "-q", "crash", "--exit-when-idle"], env);
    const { code, output } = await b.exited;
    const tookMs = Date.now() - started;
    expect(code, output).toBe(0);
    const record = await store.get("crash", id);
    expect(record?.state, output).toBe("finished");
    expect(record?.attempts).toBe(2);
    expect(record?.history.map((h) => h.state)).toEqual(["queued", "claimed", "running", "queued", "claimed", "running", "finished"]);
    expect(record?.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/agent pid \d+ on .* died while the run was running \(attempt 1 of 3\); put back on the queue/)]);
    expect(output).toMatch(/stopping the run before recovering the item/);
    expect(isProcessAlive(firstPid)).toBe(false);
    expect((await readFile(log, "utf8")).trim().split("\n")).toEqual(["first", "second"]); // no "overlap"
    // Documented bound: one poll (1 s) plus the orphan's SIGTERM grace (5 s), on top of start-up and the run.
    expect(tookMs).toBeLessThan(60_000);
  }, 240_000);
});

describe("local stop", () => {
  it("a running item: the output says when it is cancelled; the record keeps the request and ends stopped", async () => {
    const dir = await tempDir();
    const root = join(dir, "q");
    const job = await shellJob(dir, "long", "sleep 120\n");
    const config = join(dir, "launch-config.yaml");
    await writeFile(config, "queues: [s]\nstopped_run_timeout: 2\n");
    const { id } = await pushLocal(root, { queue: "s", job });
    const queued = await pushLocal(root, { queue: "s", job });
    const store = new LocalQueueStore(root);
    const agent = startAgent(["--local", root, "-c", config]);
    try {
      await waitFor(inState(store, "s", id, ["running"]), 120_000, "the run", agent.output);
      // The second item is still queued (max_jobs 1): stopping it takes it off the queue at once.
      const q = spawnSync(process.execPath, [BIN, "local", "stop", "-q", "s", "--item", queued.id, "--local", root], { encoding: "utf8" });
      expect(q.status, q.stderr).toBe(0);
      expect(q.stdout).toMatch(/it was still queued and will not run/);
      expect(await store.get("s", queued.id)).toMatchObject({ state: "stopped", message: expect.stringMatching(/stopped before it started/) });

      const sent = Date.now();
      const r = spawnSync(process.execPath, [BIN, "local", "stop", "-q", "s", "--item", id, "--local", root], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`stop requested for ${id} \\(running by agent pid ${agent.child.pid} on .*\\): the run is cancelled at about \\d{4}-.*Z \\(stopped_run_timeout 2 s after the agent sees the request\\)`));
      const done = await waitFor(inState(store, "s", id, ["stopped", "finished", "failed"]), 60_000, "the stop", agent.output);
      expect(done.state).toBe("stopped");
      expect(done.stopRequestedAt).toBeDefined();
      expect(Date.parse(done.history.at(-1)!.at) - sent).toBeGreaterThanOrEqual(2000); // it got stopped_run_timeout
      expect(done.history.map((h) => h.state)).toEqual(["queued", "claimed", "running", "stopped"]);
      // Stopping it again says it already ended, and writes nothing.
      const again = spawnSync(process.execPath, [BIN, "local", "stop", "-q", "s", "--item", id, "--local", root], { encoding: "utf8" });
      expect(again.status).toBe(1);
      expect(again.stderr).toMatch(/already ended \(stopped\); there is nothing to stop/);
    } finally {
      agent.child.kill("SIGTERM");
      await agent.exited;
    }
  }, 240_000);
});
