import { execFile } from "node:child_process";
import { createWriteStream } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packDirectory } from "../../../agent/jobs/context-tar.js";
import { digestDirectory } from "../../../agent/jobs/digest.js";

const run = promisify(execFile);
let src: string;
let work: string;

beforeAll(async () => {
  src = await mkdtemp(join(tmpdir(), "pack-src-"));
  work = await mkdtemp(join(tmpdir(), "pack-out-"));
  const deep = join(src, "a".repeat(60), "b".repeat(60), "c".repeat(60), "d".repeat(60));
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, `${"long-name-".repeat(12)}.py`), "deep\n"); // path > 255: needs a PAX header
  await writeFile(join(src, "empty"), "");
  await writeFile(join(src, "exact512"), Buffer.alloc(512, 1));
  await writeFile(join(src, "big.bin"), Buffer.alloc(3 * 1024 * 1024 + 7, 9)); // spans batches
  await writeFile(join(src, "run.sh"), "echo hi\n");
  await chmod(join(src, "run.sh"), 0o755);
  await symlink("run.sh", join(src, "link"));
  await mkdir(join(src, "emptydir"));
  for (let i = 0; i < 300; i++) await writeFile(join(src, `f${i}.txt`), `file ${i}\n`.repeat(i));
});
afterAll(async () => {
  await rm(src, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe("packDirectory", () => {
  it("produces a tar that GNU tar extracts to the same tree (same digest: paths, modes, contents, links)", async () => {
    const archive = join(work, "ctx.tar");
    await pipeline(packDirectory(src), createWriteStream(archive));
    const out = join(work, "x");
    await mkdir(out);
    await run("tar", ["-xf", archive, "-C", out]);
    expect(await digestDirectory(out)).toBe(await digestDirectory(src));
    const { stdout } = await run("tar", ["-tf", archive]);
    expect(stdout.split("\n")[0]).toBe("a".repeat(60) + "/");
    expect(stdout).toContain("link");
  });

  it("fails the stream when the directory cannot be read", async () => {
    await expect(pipeline(packDirectory(join(work, "missing")), createWriteStream(join(work, "bad.tar")))).rejects.toThrow(/cannot pack/);
  });
});
