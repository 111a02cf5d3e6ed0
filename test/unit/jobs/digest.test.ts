import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { digestDirectory, localSourceString } from "../../../agent/jobs/digest.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "digest-"));
  await mkdir(join(dir, "pkg", "sub"), { recursive: true });
  await writeFile(join(dir, "train.py"), "print('hi')\n");
  await writeFile(join(dir, "pkg", "a.py"), "A = 1\n");
  await writeFile(join(dir, "pkg", "sub", "b.txt"), Buffer.alloc(600_000, 7)); // spans several read chunks
  await symlink("pkg/a.py", join(dir, "link.py"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("digestDirectory", () => {
  it("is stable across calls and a 64-hex SHA-256", async () => {
    const a = await digestDirectory(dir);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await digestDirectory(dir)).toBe(a);
  });

  it("changes when one byte of a file changes", async () => {
    const before = await digestDirectory(dir);
    const big = Buffer.alloc(600_000, 7);
    big[599_999] = 8;
    await writeFile(join(dir, "pkg", "sub", "b.txt"), big);
    expect(await digestDirectory(dir)).not.toBe(before);
  });

  it("changes when a file is renamed, its mode changes, a link target changes or an empty dir appears", async () => {
    const seen = new Set([await digestDirectory(dir)]);
    await chmod(join(dir, "train.py"), 0o755);
    seen.add(await digestDirectory(dir));
    await rm(join(dir, "link.py"));
    await symlink("train.py", join(dir, "link.py"));
    seen.add(await digestDirectory(dir));
    await mkdir(join(dir, "empty"));
    seen.add(await digestDirectory(dir));
    await rm(join(dir, "pkg", "a.py"));
    await writeFile(join(dir, "pkg", "a2.py"), "A = 1\n");
    seen.add(await digestDirectory(dir));
    expect(seen.size).toBe(5);
  });

  it("does not depend on the directory's own location, only its content", async () => {
    const other = await mkdtemp(join(tmpdir(), "digest-copy-"));
    try {
      await mkdir(join(other, "pkg", "sub"), { recursive: true });
      await writeFile(join(other, "train.py"), "print('hi')\n");
      await writeFile(join(other, "pkg", "a.py"), "A = 1\n");
      await writeFile(join(other, "pkg", "sub", "b.txt"), Buffer.alloc(600_000, 7));
      await symlink("pkg/a.py", join(other, "link.py"));
      expect(await digestDirectory(other)).toBe(await digestDirectory(dir));
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it("refuses a path that is not a directory", async () => {
    await expect(digestDirectory(join(dir, "train.py"))).rejects.toThrow(/not a directory/);
  });
});

describe("localSourceString", () => {
  it("names the directory and carries the digest", async () => {
    const s = await localSourceString(dir);
    expect(s).toBe(`local:${dir.split("/").pop()}:${await digestDirectory(dir)}`);
  });
});
