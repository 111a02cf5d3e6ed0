// Helpers for storage round trips: a build-context tree with awkward entries, and a byte-for-byte
// comparison of a directory against what came back from a store.
import { randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { x as extract } from "tar";
import { expect } from "vitest";

const created: string[] = [];

export async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${label}-`));
  created.push(dir);
  return dir;
}

/** Removes every directory tempDir() made in this test file (contexts hold tens of MiB). */
export async function removeTempDirs(): Promise<void> {
  await Promise.all(created.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** A context with nested dirs, binary and empty files, an empty dir, a unicode name, a symlink and an executable. */
export async function makeContextTree(): Promise<string> {
  const dir = await tempDir("ctx");
  await mkdir(join(dir, "src/pkg/deep"), { recursive: true });
  await mkdir(join(dir, "empty-dir"));
  await writeFile(join(dir, "Dockerfile.wandb"), "FROM scratch\nCOPY . /app\n");
  await writeFile(join(dir, "requirements.txt"), "numpy==2.1.0\n");
  await writeFile(join(dir, "src/pkg/deep/blob.bin"), randomBytes(3 * 1024 * 1024 + 17));
  await writeFile(join(dir, "src/pkg/__init__.py"), "");
  await writeFile(join(dir, "src/ünïcødé name.txt"), "héllo\n");
  await writeFile(join(dir, "run.sh"), "#!/bin/sh\necho hi\n");
  await chmod(join(dir, "run.sh"), 0o755);
  await symlink("src/pkg/__init__.py", join(dir, "link-to-init"));
  return dir;
}

/** Untars a gzip'd tar stream into a fresh directory. */
export async function extractTo(stream: Readable): Promise<string> {
  const out = await tempDir("ctx-out");
  await pipeline(stream, extract({ cwd: out, strict: true }));
  return out;
}

interface Entry {
  type: "file" | "dir" | "symlink";
  exec?: boolean;
  content?: string; // base64 for files, target for symlinks
}

async function snapshot(root: string, rel = ""): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  for (const name of (await readdir(join(root, rel))).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, p));
    if (st.isSymbolicLink()) out[p] = { type: "symlink", content: await readlink(join(root, p)) };
    else if (st.isDirectory()) {
      out[p] = { type: "dir" };
      Object.assign(out, await snapshot(root, p));
    } else out[p] = { type: "file", exec: (st.mode & 0o100) !== 0, content: (await readFile(join(root, p))).toString("base64") };
  }
  return out;
}

/** Asserts both trees hold the same paths, types, executable bits, symlink targets and bytes. */
export async function expectSameTree(actual: string, expected: string): Promise<void> {
  const [a, e] = await Promise.all([snapshot(actual), snapshot(expected)]);
  expect(Object.keys(a)).toEqual(Object.keys(e));
  expect(a).toEqual(e);
}
