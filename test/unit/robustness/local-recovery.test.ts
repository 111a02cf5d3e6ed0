import { spawnSync } from "node:child_process";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../../../agent/log.js";
import { LocalQueueStore, type ItemState } from "../../../agent/backend/local/store.js";
import { decideRecovery, MAX_ATTEMPTS, OrphanRecovery } from "../../../agent/backend/local/recovery.js";
import { tempDir } from "../../support/local-jobs.js";

/** The pid of a process that has exited (and been reaped): an agent that is gone. */
function deadPid(): number {
  return Number(spawnSync("/bin/sh", ["-c", "echo $$"], { encoding: "utf8" }).stdout.trim());
}

/** An item left in `state` by an agent process `pid` on `host`, as a crash leaves it. */
async function orphan(store: LocalQueueStore, queue: string, state: ItemState, owner: { pid: number; host?: string }, attempts = 1) {
  const { id } = await store.push(queue, { job: "/nowhere" });
  const claimed = await store.claim(queue, "crashed-agent");
  expect(claimed?.id).toBe(id);
  await store.update(queue, id, "claimed", (r) => {
    r.claimedBy = { agent: "crashed-agent", pid: owner.pid, host: owner.host ?? hostname() };
    r.attempts = attempts;
  });
  if (state === "running") await store.move(queue, id, "claimed", "running");
  return id;
}

describe("recovery of items whose agent died", () => {
  it("requeues an orphan with its attempt count and a warning, and leaves live and foreign owners alone", async () => {
    const store = new LocalQueueStore(await tempDir());
    const dead = await orphan(store, "q", "running", { pid: deadPid() });
    await store.update("q", dead, "running", (r) => (r.run = { resource: "local-process", pid: deadPid() }));
    const alive = await orphan(store, "q", "running", { pid: process.ppid });
    const foreign = await orphan(store, "q", "claimed", { pid: deadPid(), host: "some-other-host" });
    const recovered = await new OrphanRecovery(store, silentLogger).recover("q");
    expect(recovered).toBe(1);
    const r = await store.get("q", dead);
    expect(r).toMatchObject({ state: "queued", attempts: 1 });
    expect(r?.claimedBy).toBeUndefined();
    expect(r?.warnings.at(-1)?.message).toMatch(/died while the run was running \(attempt 1 of 3\); put back on the queue/);
    expect(r?.history.map((h) => h.state)).toEqual(["queued", "claimed", "running", "queued"]);
    expect((await store.get("q", alive))?.state).toBe("running");
    expect((await store.get("q", foreign))?.state).toBe("claimed");
    // Claimed again, the count goes up.
    expect((await store.claim("q", "next"))?.record?.attempts).toBe(2);
  });

  it("after the bound the item is reported interrupted; with a stop request it is stopped", async () => {
    const store = new LocalQueueStore(await tempDir());
    const spent = await orphan(store, "q", "running", { pid: deadPid() }, MAX_ATTEMPTS);
    await store.update("q", spent, "running", (r) => (r.run = { resource: "local-container", container: "launch-gone-0" }));
    const stopped = await orphan(store, "q", "claimed", { pid: deadPid() });
    await mkdir(join(store.root, "q", "stop"), { recursive: true });
    await writeFile(store.stopMarker("q", stopped), "now");
    await new OrphanRecovery(store, silentLogger).recover("q");
    expect(await store.get("q", spent)).toMatchObject({ state: "interrupted", message: expect.stringMatching(/attempt 3 of 3\); not retried again/) });
    expect(await store.get("q", stopped)).toMatchObject({ state: "stopped", message: expect.stringMatching(/before the run started and a stop had been requested/) });
    expect(await readdir(join(store.root, "q", "stop"))).toEqual([]);
  });

  it("decides by state, attempts, stop request and whether the run can be seen from here", () => {
    const record = { attempts: 2, claimedBy: { agent: "a", pid: 7, host: "h" }, run: { resource: "local-process", pid: 9 } } as Parameters<typeof decideRecovery>[0];
    expect(decideRecovery(record, "claimed", false).to).toBe("queued");
    expect(decideRecovery(record, "running", false).to).toBe("queued");
    expect(decideRecovery(record, "claimed", false, 2).to).toBe("interrupted");
    expect(decideRecovery(record, "running", true).to).toBe("stopped");
    // A Kubernetes run (no local process or container) may still be going: never requeued.
    const kube = decideRecovery({ ...record, run: { resource: "kubernetes" } }, "running", false);
    expect(kube).toMatchObject({ to: "interrupted", message: expect.stringMatching(/cannot be checked or stopped from here, so the item is not requeued/) });
  });

  it("when several agents recover the same orphan, exactly one moves it", async () => {
    const store = new LocalQueueStore(await tempDir());
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push(await orphan(store, "q", "claimed", { pid: deadPid() }));
    const counts = await Promise.all(Array.from({ length: 6 }, () => new OrphanRecovery(new LocalQueueStore(store.root), silentLogger).recover("q")));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(10);
    const items = await store.list("q");
    expect(items.map((i) => i.state)).toEqual(Array(10).fill("queued"));
    expect(items.every((i) => i.history.filter((h) => h.state === "queued").length === 2)).toBe(true);
    expect(await readdir(join(store.root, "q", "running"))).toEqual([]);
  });

  it("a run the record does not know of yet (its agent died before recording it) is found by its trace id and stopped", async () => {
    const store = new LocalQueueStore(await tempDir());
    const id = await orphan(store, "q", "claimed", { pid: deadPid() });
    const { spawn } = await import("node:child_process");
    const run = spawn("/bin/sh", ["-c", "while :; do sleep 0.05; done"], { detached: true, stdio: "ignore", env: { ...process.env, WANDB_LAUNCH_TRACE_ID: id } });
    const exited = new Promise((r) => run.once("exit", r));
    await new Promise((r) => setTimeout(r, 100)); // let the shell exec so /proc shows its environment
    const recovery = new OrphanRecovery(store, silentLogger, { killGraceMs: 200 });
    expect(await recovery.recover("q")).toBe(0); // the run is signalled; the item waits
    expect((await store.get("q", id))?.state).toBe("claimed");
    await exited;
    expect(await recovery.recover("q")).toBe(1);
    expect((await store.get("q", id))?.state).toBe("queued");
  });

  it("an orphaned run still going is stopped first; the item waits until it is gone", async () => {
    const store = new LocalQueueStore(await tempDir());
    const id = await orphan(store, "q", "running", { pid: deadPid() });
    const { spawn } = await import("node:child_process");
    const run = spawn("/bin/sh", ["-c", "trap '' TERM; while :; do sleep 0.05; done"], { detached: true, stdio: "ignore" });
    const exited = new Promise((r) => run.once("exit", r));
    await store.update("q", id, "running", (r) => (r.run = { resource: "local-process", pid: run.pid! }));
    const recovery = new OrphanRecovery(store, silentLogger, { killGraceMs: 200 });
    expect(await recovery.recover("q")).toBe(0); // SIGTERM (ignored by the run)
    expect((await store.get("q", id))?.state).toBe("running");
    await new Promise((r) => setTimeout(r, 300));
    expect(await recovery.recover("q")).toBe(0); // SIGKILL
    await exited;
    expect(await recovery.recover("q")).toBe(1);
    expect((await store.get("q", id))?.state).toBe("queued");
  });
});
