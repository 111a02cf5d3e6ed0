import { lstat } from "node:fs/promises";
import { basename, resolve } from "node:path";
import { Worker } from "node:worker_threads";

/**
 * Content digest of a code directory, for the image tag of local jobs: their code can change in place
 * behind the same name, so the source string must carry what the image is built from (issue 3).
 *
 * Shape: SHA-256 over a manifest with one line per entry, in a stable order (names sorted as
 * strings, depth-first), `<kind> <mode octal> <path>\0<sha256 of the content or link target>\n`.
 * Every file is streamed through one fixed 1 MiB buffer, never read whole.
 *
 * Why a worker thread with synchronous I/O: tens of thousands of small files cost four async
 * thread-pool round trips each, which measured 4x the CPU of plain synchronous calls
 * (bench/README.md); synchronous calls on the agent's own thread would stall its loop. The worker
 * body is plain JavaScript evaluated from a string so it runs the same from TypeScript sources (tsx,
 * vitest) and from the compiled dist/.
 */

/** Files the official agent leaves out of build contexts (a git fsmonitor socket). */
export const IGNORED_NAMES = new Set(["fsmonitor--daemon.ipc"]);

/**
 * The walk order both the digest and the tar packer use (worker-side JavaScript): a directory's
 * names, less IGNORED_NAMES, sorted as strings. Expects `fs` and a Set `ignored` in scope.
 */
export const SORTED_NAMES_JS = `
function sortedNames(abs) {
  const names = [];
  const d = fs.opendirSync(abs);
  try {
    for (let e; (e = d.readSync()) !== null; ) if (!ignored.has(e.name)) names.push(e.name);
  } finally {
    d.closeSync();
  }
  return names.sort();
}`;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { createHash } = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const CHUNK = 1 << 20;
const buf = Buffer.allocUnsafe(CHUNK);
const ignored = new Set(workerData.ignored);
const manifest = createHash("sha256");
const line = (kind, mode, rel, content) =>
  manifest.update(kind + " " + (mode & 0o7777).toString(8) + " " + rel + "\\0" + content + "\\n");
function fileHash(p) {
  const h = createHash("sha256");
  const fd = fs.openSync(p, "r");
  try {
    let n;
    while ((n = fs.readSync(fd, buf, 0, CHUNK, null)) > 0) h.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return h.digest("hex");
}
${SORTED_NAMES_JS}
function walk(abs, rel) {
  for (const name of sortedNames(abs)) {
    const p = path.join(abs, name);
    const r = rel ? rel + "/" + name : name;
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      line("dir", st.mode, r, "");
      walk(p, r);
    } else if (st.isFile()) {
      line("file", st.mode, r, fileHash(p));
    } else if (st.isSymbolicLink()) {
      line("link", st.mode, r, createHash("sha256").update(fs.readlinkSync(p)).digest("hex"));
    }
    // Sockets, FIFOs and devices are not copied into build contexts, so they do not count.
  }
}
try {
  walk(workerData.root, "");
  parentPort.postMessage({ digest: manifest.digest("hex") });
} catch (err) {
  parentPort.postMessage({ error: String(err && err.message ? err.message : err) });
}
`;

export async function digestDirectory(dir: string): Promise<string> {
  const root = resolve(dir);
  const st = await lstat(root);
  if (!st.isDirectory()) throw new Error(`cannot digest ${root}: not a directory`);
  return new Promise<string>((resolveDigest, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { root, ignored: [...IGNORED_NAMES] } });
    let settled = false;
    worker.once("message", (msg: { digest?: string; error?: string }) => {
      settled = true;
      if (msg.digest) resolveDigest(msg.digest);
      else reject(new Error(`cannot digest ${root}: ${msg.error ?? "unknown error"}`));
    });
    worker.once("error", (err) => {
      settled = true;
      reject(err);
    });
    worker.once("exit", (code) => {
      if (!settled) reject(new Error(`cannot digest ${root}: digest worker exited with code ${code}`));
    });
  });
}

/** Source strings of local jobs start with this; W&B jobs' never do (theirs are `<artifact>:v<version>`). */
export const LOCAL_SOURCE_PREFIX = "local:";

/** The source string of a local job's image tag: where it lives by name, and what its code is. */
export async function localSourceString(dir: string): Promise<string> {
  return `${LOCAL_SOURCE_PREFIX}${basename(resolve(dir))}:${await digestDirectory(dir)}`;
}
