// Child process of bench/run.ts, so its peak RSS is measured alone: digest the tree, then stream a tar
// of it (agent/jobs/context-tar.ts) into SHA-256 (consuming the stream the way `| sha256sum` does in the baseline).
import { createHash } from "node:crypto";
import { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { create as tarCreate } from "tar";
import { digestDirectory } from "../agent/jobs/digest.js";
import { packDirectory } from "../agent/jobs/context-tar.js";

const dir = process.argv[2]!;
// node-tar keeps every Stats and directory listing it saw for the whole pack unless given caches;
// on 50,000 entries that alone is tens of MB, and a build context is packed once.
const forget = { get: () => undefined, set: () => forget, has: () => false, delete: () => false };
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const digest = await digestDirectory(dir);
const t1 = performance.now();
const cpu1 = process.cpuUsage(cpu0);
const hash = createHash("sha256");
// BENCH_PACKER=node-tar measures node-tar's own directory packer instead, for comparison.
const useNodeTar = process.env.BENCH_PACKER === "node-tar";
await pipeline(
  useNodeTar ? (tarCreate({ cwd: dir, portable: true, maxReadSize: 1 << 20, statCache: forget, readdirCache: forget, linkCache: forget } as never, ["."]) as unknown as NodeJS.ReadableStream) : packDirectory(dir),
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb();
    },
  }),
);
const t2 = performance.now();
const cpu2 = process.cpuUsage(cpu0);
const ms = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
process.stdout.write(
  JSON.stringify({ digest, tarSha256: hash.digest("hex"), digestMs: t1 - t0, tarMs: t2 - t1, digestCpuMs: ms(cpu1), tarCpuMs: ms(cpu2) - ms(cpu1), maxRssKb: process.resourceUsage().maxRSS }) + "\n",
);
