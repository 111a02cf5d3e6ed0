import { createHash } from "node:crypto";
import { open, opendir, lstat, readlink } from "node:fs/promises";
import { basename, join, resolve } from "node:path";

/**
 * Content digest of a code directory, for the image tag of local jobs: their code can change in place
 * behind the same name, so the source string must carry what the image is built from (issue 3).
 *
 * Shape: SHA-256 over a manifest with one line per entry, in a stable order (names compared as
 * strings, depth-first), `<kind> <mode octal> <path>\0<sha256 of the content or link target>\n`.
 * Files are hashed separately, a few at a time, each streamed through a fixed buffer: memory does not
 * grow with file size, and reads overlap on the thread pool while the manifest order stays fixed.
 */

/** Files the official agent leaves out of build contexts (a git fsmonitor socket). */
export const IGNORED_NAMES = new Set(["fsmonitor--daemon.ipc"]);

const CHUNK = 256 * 1024;
const PARALLEL_FILES = 8;

interface Entry {
  /** Path relative to the root, `/`-separated. */
  rel: string;
  kind: "file" | "dir" | "link";
  mode: number;
}

export async function digestDirectory(dir: string): Promise<string> {
  const root = resolve(dir);
  const rootStat = await lstat(root);
  if (!rootStat.isDirectory()) throw new Error(`cannot digest ${root}: not a directory`);
  const entries: Entry[] = [];
  await walk(root, "", entries);
  const manifest = createHash("sha256");
  // A bounded window of file hashes in flight; results are consumed strictly in manifest order.
  const pending: Promise<string>[] = [];
  let next = 0;
  const start = (i: number): void => {
    const e = entries[i]!;
    pending[i] = contentHash(join(root, e.rel), e.kind);
  };
  for (; next < Math.min(PARALLEL_FILES, entries.length); next++) start(next);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const content = await pending[i]!;
    delete pending[i];
    if (next < entries.length) start(next++);
    manifest.update(`${e.kind} ${(e.mode & 0o7777).toString(8)} ${e.rel}\0${content}\n`);
  }
  return manifest.digest("hex");
}

/** The source string of a local job's image tag: where it lives by name, and what its code is. */
export async function localSourceString(dir: string): Promise<string> {
  return `local:${basename(resolve(dir))}:${await digestDirectory(dir)}`;
}

async function walk(abs: string, rel: string, out: Entry[]): Promise<void> {
  const names: string[] = [];
  for await (const d of await opendir(abs)) {
    if (!IGNORED_NAMES.has(d.name)) names.push(d.name);
  }
  names.sort();
  for (const name of names) {
    const childAbs = join(abs, name);
    const childRel = rel ? `${rel}/${name}` : name;
    const st = await lstat(childAbs);
    if (st.isDirectory()) {
      out.push({ rel: childRel, kind: "dir", mode: st.mode });
      await walk(childAbs, childRel, out);
    } else if (st.isFile()) {
      out.push({ rel: childRel, kind: "file", mode: st.mode });
    } else if (st.isSymbolicLink()) {
      out.push({ rel: childRel, kind: "link", mode: st.mode });
    }
    // Sockets, FIFOs and devices are not copied into build contexts, so they do not count.
  }
}

async function contentHash(path: string, kind: Entry["kind"]): Promise<string> {
  if (kind === "dir") return "";
  if (kind === "link") return createHash("sha256").update(await readlink(path)).digest("hex");
  const hash = createHash("sha256");
  const fh = await open(path, "r");
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest("hex");
}
