// `npm run bench`: context digest + tar of a large generated tree, against `tar -cf - DIR | sha256sum`
// on the same tree in the same run. Goal: ratio <= 1.5, peak RSS < 150 MB (see bench/README.md).
import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_TREE, ensureTree, treeFiles } from "./tree.js";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = process.env.BENCH_TREE ?? "/tmp/launch-bench-tree";

const MB = 1024 * 1024;
const t = performance.now();
const tree = await ensureTree(root, DEFAULT_TREE);
console.log(
  `tree: ${root}: ${tree.files} files (${treeFiles(DEFAULT_TREE)} planned), ${(tree.bytes / MB).toFixed(0)} MiB, ${tree.reused ? "reused" : `generated in ${((performance.now() - t) / 1000).toFixed(1)} s`}`,
);

// Warm the page cache so both sides read from memory, not from whichever ran first.
await run("bash", ["-c", `tar -cf - -C ${JSON.stringify(root)} . > /dev/null`], { maxBuffer: MB });

/** Wall time and CPU time (user+sys of tar and sha256sum, from GNU time) of the baseline pipeline. */
async function baseline(): Promise<{ wallMs: number; cpuMs: number }> {
  const s = performance.now();
  const { stderr } = await run(
    "/usr/bin/time",
    ["-f", "%U %S", "bash", "-c", `set -o pipefail; tar -cf - -C ${JSON.stringify(root)} . | sha256sum > /dev/null`],
    { maxBuffer: MB },
  );
  const [user, sys] = stderr.trim().split("\n").pop()!.split(" ").map(Number);
  return { wallMs: performance.now() - s, cpuMs: ((user ?? 0) + (sys ?? 0)) * 1000 };
}

interface WorkerResult {
  digest: string;
  digestMs: number;
  tarMs: number;
  digestCpuMs: number;
  tarCpuMs: number;
  maxRssKb: number;
}
async function ours(): Promise<WorkerResult & { wallMs: number }> {
  const s = performance.now();
  const { stdout } = await run(process.execPath, ["--import", "tsx", join(here, "digest-tar-worker.ts"), root], { maxBuffer: MB });
  return { ...(JSON.parse(stdout) as WorkerResult), wallMs: performance.now() - s };
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const base: Array<{ wallMs: number; cpuMs: number }> = [];
const mine: Array<WorkerResult & { wallMs: number }> = [];
for (let i = 0; i < rounds; i++) {
  base.push(await baseline());
  mine.push(await ours());
}
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const b = base.reduce((x, y) => (y.wallMs < x.wallMs ? y : x));
const m = mine.reduce((x, y) => (y.digestMs + y.tarMs < x.digestMs + x.tarMs ? y : x));
const work = m.digestMs + m.tarMs;
const workCpu = m.digestCpuMs + m.tarCpuMs;
const peakRss = Math.max(...mine.map((x) => x.maxRssKb)) / 1024;
const ratio = work / b.wallMs;
const load = (await run("cat", ["/proc/loadavg"])).stdout.split(" ").slice(0, 3).join(" ");
console.log(`machine load average (1/5/15 min)   : ${load} on ${(await run("nproc")).stdout.trim()} cores`);
console.log(`                                       wall        cpu (user+sys)`);
console.log(`baseline  tar -cf - DIR | sha256sum : ${s(b.wallMs).padEnd(11)} ${s(b.cpuMs)}   (best of ${rounds})`);
console.log(`ours      digest                     : ${s(m.digestMs).padEnd(11)} ${s(m.digestCpuMs)}`);
console.log(`ours      tar stream -> sha256       : ${s(m.tarMs).padEnd(11)} ${s(m.tarCpuMs)}`);
console.log(`          (tar by ${process.env.BENCH_PACKER === "node-tar" ? "node-tar's packer" : "packDirectory"})`);
console.log(`ours      digest + tar               : ${s(work).padEnd(11)} ${s(workCpu)}   (process incl. start-up ${s(m.wallMs)})`);
console.log(`ratio ours / baseline                : ${ratio.toFixed(2)} wall, ${(workCpu / b.cpuMs).toFixed(2)} cpu, digest alone ${(m.digestMs / b.wallMs).toFixed(2)} wall  (goal <= 1.5)`);
console.log(`peak RSS of our process              : ${peakRss.toFixed(0)} MiB  (goal < 150)`);
console.log(`digest                               : ${m.digest}`);
if (ratio > 1.5 || peakRss >= 150) console.log("GOAL MISSED");
if (new Set(mine.map((x) => x.digest)).size !== 1) {
  console.error("digest differed between rounds: the digest is not stable");
  process.exitCode = 1;
}
