// Combines Stryker JSON reports of runs over parts of the mutation scope (`stryker run --mutate ...`) into one
// score: for each file the latest report that holds it wins, in the order the reports are given.
// Usage: node scripts/mutation-score.mjs reports/mutation/A.json reports/mutation/B.json ...
import { readFileSync } from "node:fs";

const DETECTED = new Set(["Killed", "Timeout"]);
const INVALID = new Set(["Ignored", "CompileError", "RuntimeError"]);

const latest = new Map();
for (const path of process.argv.slice(2)) {
  const report = JSON.parse(readFileSync(path, "utf8"));
  for (const [file, { mutants }] of Object.entries(report.files)) latest.set(file, { mutants, from: path });
}
if (latest.size === 0) {
  console.error("usage: node scripts/mutation-score.mjs <stryker json report>...");
  process.exit(2);
}

const pct = (d, v) => (v === 0 ? "n/a" : `${((100 * d) / v).toFixed(1)}%`);
let detected = 0;
let valid = 0;
const rows = [...latest.entries()].sort(([a], [b]) => a.localeCompare(b));
for (const [file, { mutants, from }] of rows) {
  const v = mutants.filter((m) => !INVALID.has(m.status));
  const d = v.filter((m) => DETECTED.has(m.status)).length;
  detected += d;
  valid += v.length;
  console.log(`${pct(d, v.length).padStart(6)}  ${String(d).padStart(4)}/${String(v.length).padEnd(4)} ${file}  (${from})`);
}
console.log(`${pct(detected, valid).padStart(6)}  ${String(detected).padStart(4)}/${String(valid).padEnd(4)} all files`);
