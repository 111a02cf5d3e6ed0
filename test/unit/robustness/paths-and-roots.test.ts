import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { prepareQueueRoot } from "../../../agent/backend/local/root.js";
import { LocalQueueStore, checkItemId } from "../../../agent/backend/local/store.js";
import { formatFatalError, verbosityFromArgv } from "../../../agent/report.js";
import { LaunchError } from "../../../agent/errors.js";
import { WandbUnavailableError } from "../../../agent/backend/wandb/errors.js";
import { remainingBackoffMs } from "../../../agent/backend/wandb/transport.js";
import { tempDir } from "../../support/local-jobs.js";

async function timed<T>(p: Promise<T>): Promise<{ ms: number; err: unknown }> {
  const t = Date.now();
  const err = await p.then(() => null, (e: unknown) => e);
  return { ms: Date.now() - t, err };
}

describe("queue roots that cannot hold a queue fail at once with the path and the reason", () => {
  it.each([
    ["/proc", /\/proc cannot hold a queue: cannot write in it: this file system does not allow creating files/],
    ["/proc/self/nope", /cannot create \/proc\/self\/nope: this file system does not allow creating directories/],
    ["/proc/self/nope/deeper/still", /cannot create \/proc\/self\/nope: /],
  ])("%s", async (root, message) => {
    const { ms, err } = await timed(prepareQueueRoot(root));
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toMatch(/--local DIR/);
    expect(ms).toBeLessThan(1000);
  });

  it("a file and a path through a file; a good root is created with nothing left behind", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "f"), "x");
    expect(((await timed(prepareQueueRoot(join(dir, "f")))).err as Error).message).toMatch(/f is a file, not a directory/);
    expect(((await timed(prepareQueueRoot(join(dir, "f", "q")))).err as Error).message).toMatch(/a part of the path is a file/);
    await mkdir(join(dir, "ok"));
    await prepareQueueRoot(join(dir, "ok", "a", "b"));
    expect(await readdir(join(dir, "ok", "a", "b"))).toEqual([]); // created, and the write test left nothing
  });
});

describe("item ids and queue names never leave the queue root", () => {
  it.each(["../../../x", "..", ".", "a/b", "/etc/passwd", "", ".hidden", "a\nb"])("rejects %j", async (bad) => {
    expect(() => checkItemId(bad)).toThrow(LaunchError);
    const store = new LocalQueueStore(await tempDir());
    expect(() => store.stopMarker("q", bad)).toThrow(/item id .* is not valid/);
    await expect(store.get("q", bad)).rejects.toThrow(/is not valid/);
  });
  it("accepts the ids the store makes", async () => {
    const store = new LocalQueueStore(await tempDir());
    const { id } = await store.push("q", {});
    expect(checkItemId(id)).toBe(id);
  });
});

describe("fatal errors: cause and fix, a stack only with -vv", () => {
  it("counts -v flags", () => {
    expect(verbosityFromArgv(["-vv"])).toBe(2);
    expect(verbosityFromArgv(["-v", "--verbose", "-q", "a"])).toBe(2);
    expect(verbosityFromArgv(["local", "push", "--", "-vv"])).toBe(0);
  });
  it("says what a system error means and hides the stack unless asked", () => {
    const err = Object.assign(new Error("EROFS: read-only file system, mkdir '/x'"), { code: "EROFS", syscall: "mkdir", path: "/x" });
    expect(formatFatalError(err, 0)).toBe("mkdir /x failed: the file system is read-only (EROFS). Check the path and its permissions.");
    expect(formatFatalError(err, 2)).toMatch(/\n\s*at /);
    expect(formatFatalError(new LaunchError("bad queue"), 0)).toBe("bad queue");
    const odd = formatFatalError(new TypeError("x is undefined"), 0);
    expect(odd).toMatch(/^unexpected error: x is undefined\n\(run again with -vv/);
    expect(odd).not.toMatch(/\n\s*at /);
  });
  it("an unreachable W&B is a plain message with the fix", () => {
    const err = new WandbUnavailableError("Viewer", "W&B Viewer failed after retries: fetch failed (ECONNREFUSED) (http://127.0.0.1:9)");
    const text = formatFatalError(err, 0);
    expect(text).toBe("W&B Viewer failed after retries: fetch failed (ECONNREFUSED) (http://127.0.0.1:9). Check WANDB_BASE_URL and the network, then start the agent again.");
  });
  it("says how long retrying goes on", () => {
    // 20 attempts, 2 s doubling to 60 s: after the first failure 2+4+8+16+32 s and 14 × 60 s remain.
    expect(remainingBackoffMs(1, 20, { backoffInitialMs: 2_000, backoffMaxMs: 60_000 })).toBe((2 + 4 + 8 + 16 + 32 + 14 * 60) * 1000);
    expect(remainingBackoffMs(19, 20, { backoffInitialMs: 2_000, backoffMaxMs: 60_000 })).toBe(60_000);
  });
});
