import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalQueueStore, checkQueueName, newItemId, resolveLocalRoot } from "../../agent/backend/local/store.js";
import { tempDir } from "../support/local-jobs.js";

describe("LocalQueueStore", () => {
  it("hands out items oldest first and each one once, even to concurrent claimers", async () => {
    const store = new LocalQueueStore(await tempDir());
    const pushed = [];
    for (let i = 0; i < 40; i++) pushed.push((await store.push("q", { n: i })).id);
    // 8 claimers race on the same directory.
    const claimers = Array.from({ length: 8 }, async (_, c) => {
      const got: string[] = [];
      for (;;) {
        const claimed = await store.claim("q", `agent-${c}`);
        if (!claimed) return got;
        got.push(claimed.id);
      }
    });
    const all = (await Promise.all(claimers)).flat();
    expect(all.sort()).toEqual([...pushed].sort());
    expect(new Set(all).size).toBe(40);
    expect(await readdir(join(store.root, "q", "queued"))).toEqual([]);
  });

  it("records each state change on disk, in the item's state directory", async () => {
    const store = new LocalQueueStore(await tempDir());
    const { id } = await store.push("q", { job: "/x" });
    const claimed = await store.claim("q", "me");
    expect(claimed?.record?.state).toBe("claimed");
    await store.move("q", id, "claimed", "running");
    await store.move("q", id, "running", "failed", (r) => (r.message = "boom"));
    expect(await readdir(join(store.root, "q", "failed"))).toEqual([`${id}.json`]);
    expect(await readdir(join(store.root, "q", "running"))).toEqual([]);
    const record = await store.get("q", id);
    expect(record?.state).toBe("failed");
    expect(record?.message).toBe("boom");
    expect(record?.history.map((h) => h.state)).toEqual(["queued", "claimed", "running", "failed"]);
  });

  it("claims a file that is not a record and reports it as such, so it can be failed", async () => {
    const store = new LocalQueueStore(await tempDir());
    await store.ensureQueue("q");
    await writeFile(join(store.root, "q", "queued", "0000-bad.json"), "{not json");
    const claimed = await store.claim("q", "me");
    expect(claimed?.id).toBe("0000-bad");
    expect(claimed?.record).toBeNull();
    const moved = await store.move("q", "0000-bad", "claimed", "failed", (r) => (r.message = "bad"));
    expect(moved.state).toBe("failed");
  });

  it("lists queues and items across states, and tolerates a missing root", async () => {
    const root = await tempDir();
    const store = new LocalQueueStore(join(root, "absent"));
    expect(await store.list()).toEqual([]);
    const s2 = new LocalQueueStore(root);
    await s2.push("a", {});
    await s2.push("b", {});
    await mkdir(join(root, ".hidden"));
    expect(await s2.listQueues()).toEqual(["a", "b"]);
    expect((await s2.list()).map((r) => r.queue)).toEqual(["a", "b"]);
    expect((await s2.list("b")).length).toBe(1);
  });

  it("gives ids made in the same millisecond in creation order", () => {
    const ids = Array.from({ length: 50 }, () => newItemId(1_700_000_000_000));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("rejects queue names that would escape the root", () => {
    expect(() => checkQueueName("../etc")).toThrow(/queue name "..\/etc" is not valid/);
    expect(() => checkQueueName("")).toThrow(/not valid/);
    expect(checkQueueName("team.gpu-queue_1")).toBe("team.gpu-queue_1");
  });

  it("finds the root from --local, then LAUNCH_AGENT_LOCAL_DIR, then the home default", () => {
    expect(resolveLocalRoot("/tmp/x", { LAUNCH_AGENT_LOCAL_DIR: "/tmp/y" })).toBe("/tmp/x");
    expect(resolveLocalRoot(undefined, { LAUNCH_AGENT_LOCAL_DIR: "/tmp/y" })).toBe("/tmp/y");
    expect(resolveLocalRoot(undefined, {})).toMatch(/\.local\/share\/launch-agent\/queues$/);
  });
});
