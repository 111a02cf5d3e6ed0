import { Readable } from "node:stream";
import { Worker } from "node:worker_threads";
import { Header, Pax } from "tar";
import { IGNORED_NAMES, SORTED_NAMES_JS } from "./digest.js";

/**
 * A tar stream of a build context, for uploads (kaniko) where node-tar's own directory packer is the
 * bottleneck: on 51,000 files it spent 11 s CPU and ~240 MiB (bench/README.md). Here a worker thread
 * walks the tree in the digest's stable order with synchronous reads into batches of up to 1 MiB,
 * and the main thread only frames them: headers are still encoded by node-tar (`Header`, `Pax` for
 * long names), so the format is node-tar's. Memory is bounded by a shared counter of bytes handed
 * over but not yet read by the consumer: the worker waits while it is above `MAX_IN_FLIGHT`.
 *
 * Entries are relative paths without a leading `./`, directories end in `/`; uid/gid/owner names
 * are left out (like node-tar's `portable`), modes and mtimes are kept.
 */

const MAX_IN_FLIGHT = 2 << 20;

const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const fs = require("node:fs");
const path = require("node:path");
const BATCH = 1 << 20;
const ctl = new Int32Array(workerData.control);
const ignored = new Set(workerData.ignored);
let buf = Buffer.allocUnsafe(BATCH);
let used = 0;
let records = [];
function flush() {
  if (records.length === 0) return;
  while (Atomics.load(ctl, 0) >= workerData.maxInFlight && Atomics.load(ctl, 1) === 0) {
    Atomics.wait(ctl, 0, Atomics.load(ctl, 0), 100);
  }
  if (Atomics.load(ctl, 1) !== 0) throw new Error("cancelled");
  // Buffer.allocUnsafe of 1 MiB owns its ArrayBuffer (no pool), so it can be handed over without a copy.
  const data = buf.buffer;
  Atomics.add(ctl, 0, BATCH);
  parentPort.postMessage({ records, data, bytes: BATCH }, [data]);
  buf = Buffer.allocUnsafe(BATCH);
  used = 0;
  records = [];
}
function meta(r) {
  records.push(r);
  if (records.length >= 4096) flush();
}
function file(p, rel, st) {
  meta({ t: "File", p: rel, m: st.mode & 0o7777, s: st.size, mt: st.mtimeMs });
  const fd = fs.openSync(p, "r");
  let total = 0;
  try {
    for (;;) {
      if (used === BATCH) flush();
      const n = fs.readSync(fd, buf, used, BATCH - used, null);
      if (n === 0) break;
      total += n;
      if (total > st.size) break;
      records.push({ d: n });
      used += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  if (total !== st.size) throw new Error(rel + " changed while the build context was being packed");
}
${SORTED_NAMES_JS}
function walk(abs, rel) {
  for (const name of sortedNames(abs)) {
    const p = path.join(abs, name);
    const r = rel ? rel + "/" + name : name;
    const st = fs.lstatSync(p);
    if (st.isDirectory()) {
      meta({ t: "Directory", p: r + "/", m: st.mode & 0o7777, s: 0, mt: st.mtimeMs });
      walk(p, r);
    } else if (st.isFile()) {
      file(p, r, st);
    } else if (st.isSymbolicLink()) {
      meta({ t: "SymbolicLink", p: r, m: st.mode & 0o7777, s: 0, mt: st.mtimeMs, l: fs.readlinkSync(p) });
    }
  }
}
try {
  walk(workerData.root, "");
  flush();
  parentPort.postMessage({ done: true });
} catch (err) {
  parentPort.postMessage({ error: String(err && err.message ? err.message : err) });
}
`;

type WireRecord =
  | { t: "File" | "Directory" | "SymbolicLink"; p: string; m: number; s: number; mt: number; l?: string }
  | { d: number };

interface Batch {
  records: WireRecord[];
  data: ArrayBuffer;
  bytes: number;
}

function headerBlocks(r: Exclude<WireRecord, { d: number }>): Buffer[] {
  const fields = {
    path: r.p,
    mode: r.m,
    size: r.s,
    mtime: new Date(r.mt),
    type: r.t,
    ...(r.l !== undefined ? { linkpath: r.l } : {}),
  };
  const header = new Header(fields);
  const needPax = header.encode();
  const out: Buffer[] = [];
  if (needPax) out.push(new Pax(fields).encode());
  out.push(header.block!);
  return out;
}

/** Stream an uncompressed tar of `dir`. Pipe through zlib's createGzip() for a .tgz. */
export function packDirectory(dir: string): Readable {
  const control = new SharedArrayBuffer(8);
  const ctl = new Int32Array(control);
  const queue: Array<Buffer | { release: number }> = [];
  let paused = false;
  let finished = false;
  let fileRemaining = 0;
  let filePadding = 0;
  let worker: Worker | null = null;

  const release = (n: number) => {
    Atomics.sub(ctl, 0, n);
    Atomics.notify(ctl, 0);
  };

  const stream = new Readable({
    highWaterMark: 1 << 20,
    read() {
      paused = false;
      drain();
    },
    destroy(err, cb) {
      Atomics.store(ctl, 1, 1);
      Atomics.notify(ctl, 0);
      void worker?.terminate();
      cb(err);
    },
  });

  function drain(): void {
    while (!paused && queue.length > 0) {
      const next = queue.shift()!;
      if (!Buffer.isBuffer(next)) {
        release(next.release);
        continue;
      }
      if (!stream.push(next)) paused = true;
    }
    if (finished && queue.length === 0) stream.push(null);
  }

  function take(batch: Batch): void {
    const data = Buffer.from(batch.data);
    let offset = 0;
    for (const r of batch.records) {
      if ("d" in r) {
        queue.push(data.subarray(offset, offset + r.d));
        offset += r.d;
        fileRemaining -= r.d;
        if (fileRemaining === 0 && filePadding > 0) {
          queue.push(Buffer.alloc(filePadding));
          filePadding = 0;
        }
        continue;
      }
      queue.push(...headerBlocks(r));
      if (r.t === "File" && r.s > 0) {
        fileRemaining = r.s;
        filePadding = (512 - (r.s % 512)) % 512;
      }
    }
    queue.push({ release: batch.bytes });
  }

  worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { root: dir, control, ignored: [...IGNORED_NAMES], maxInFlight: MAX_IN_FLIGHT },
  });
  worker.on("message", (msg: Batch | { done: true } | { error: string }) => {
    if ("error" in msg) {
      stream.destroy(new Error(`cannot pack ${dir}: ${msg.error}`));
      return;
    }
    if ("done" in msg) {
      queue.push(Buffer.alloc(1024)); // two zero blocks end the archive
      finished = true;
    } else {
      take(msg);
    }
    drain();
  });
  worker.on("error", (err) => stream.destroy(err));
  return stream;
}
