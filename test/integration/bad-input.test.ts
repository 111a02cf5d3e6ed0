// Every bad input of issue 11 through the real CLI: exit code, message, time taken (no hang), and
// that nothing was written or lost. Slow start-ups on a loaded machine are allowed for by measuring
// `--version` first: a case may take at most twice that plus 5 s, where the old behaviour hung.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushLocal } from "../../agent/commands/local.js";
import { shellJob, tempDir } from "../support/local-jobs.js";

const BIN = resolve("bin/launch-agent.js");

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}, killAfterMs = 120_000): Promise<Ran> {
  const started = Date.now();
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: "/nonexistent-home", LAUNCH_AGENT_LOCAL_DIR: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** Every path under `dir` with a digest of its content: equal snapshots mean nothing was written or lost. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out[`${p}/`] = "dir";
        await walk(p);
      } else out[p] = createHash("sha256").update(await readFile(p)).digest("hex");
    }
  };
  await walk(dir);
  return out;
}

let sandbox: string;
let root: string; // a queue root with one queued item, which no case may change
let job: string;
let readOnly: string;
let noPermission: string;
let baselineMs: number;

beforeAll(async () => {
  sandbox = await tempDir("bad-input-");
  root = join(sandbox, "root");
  job = await shellJob(sandbox, "job", "echo hi\n");
  await pushLocal(root, { queue: "q", job });
  await mkdir(join(sandbox, "no-job-file"));
  await mkdir(join(sandbox, "malformed"));
  await writeFile(join(sandbox, "malformed", "wandb-job.json"), "{ not json");
  await mkdir(join(sandbox, "array"));
  await writeFile(join(sandbox, "array", "wandb-job.json"), "[1, 2]");
  await mkdir(join(sandbox, "image-job"));
  await writeFile(join(sandbox, "image-job", "wandb-job.json"), JSON.stringify({ source_type: "image", source: { image: "busybox:1" }, runtime: "3.11" }));
  await writeFile(join(sandbox, "a-file"), "not a directory");
  await mkdir(join(sandbox, "cfgdir"));
  await writeFile(join(sandbox, "binary.yaml"), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x1b, 0x5b, 0x32, 0x4a, 0x00, 0x0a]));
  await writeFile(join(sandbox, "kaniko.yaml"), "queues: [q]\nbuilder:\n  type: kaniko\n  destination: registry.example.com/team/app\n");
  // A read-only file system (a tmpfs mounted ro: needs root, as the CI's services do).
  readOnly = join(sandbox, "ro");
  await mkdir(readOnly);
  execFileSync("mount", ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", readOnly]);
  // A directory this process may not write in: immutable for root (who ignores mode bits), mode 500 otherwise.
  noPermission = join(sandbox, "locked");
  await mkdir(noPermission);
  if (process.getuid?.() === 0) execFileSync("chattr", ["+i", noPermission]);
  else execFileSync("chmod", ["500", noPermission]);
  const version = await cli(["--version"]);
  expect(version.code, version.stderr).toBe(0);
  baselineMs = version.ms;
}, 180_000);

afterAll(() => {
  if (readOnly) execFileSync("umount", [readOnly]);
  if (noPermission && process.getuid?.() === 0) execFileSync("chattr", ["-i", noPermission]);
});

interface Case {
  name: string;
  args: () => string[];
  env?: () => NodeJS.ProcessEnv;
  code: number;
  /** Matched against stderr (or stdout for commands that report there). */
  message: RegExp;
  stdout?: boolean;
}

const cases: Case[] = [
  { name: "--local /proc", args: () => ["-q", "a", "--local", "/proc"], code: 1, message: /local queue root \/proc cannot hold a queue: cannot write in it: .*virtual file system.*--local DIR/ },
  { name: "--local /proc/self/nope", args: () => ["-q", "a", "--local", "/proc/self/nope"], code: 1, message: /\/proc\/self\/nope cannot hold a queue: cannot create \/proc\/self\/nope/ },
  { name: "--local on a file", args: () => ["-q", "a", "--local", join(sandbox, "a-file")], code: 1, message: /a-file is a file, not a directory/ },
  { name: "--local under a file", args: () => ["-q", "a", "--local", join(sandbox, "a-file", "q")], code: 1, message: /a part of the path is a file/ },
  { name: "--local on a read-only file system", args: () => ["-q", "a", "--local", join(readOnly, "queues")], code: 1, message: /ro\/queues cannot hold a queue: cannot create .*: the file system is read-only/ },
  { name: "--local without permission", args: () => ["-q", "a", "--local", join(noPermission, "queues")], code: 1, message: /locked\/queues cannot hold a queue: cannot create .*: permission denied/ },
  { name: "LAUNCH_AGENT_LOCAL_DIR=/proc for local push", args: () => ["local", "push", "-q", "a", "--job", job], env: () => ({ LAUNCH_AGENT_LOCAL_DIR: "/proc" }), code: 1, message: /\/proc cannot hold a queue/ },
  { name: "-j 0", args: () => ["-q", "q", "-j", "0", "--exit-when-idle", "--local", root], code: 1, message: /max_jobs is 0 .*never start a job.*-1 for unlimited/ },
  { name: "WANDB_LAUNCH_MAX_JOBS=0", args: () => ["-q", "q", "--local", root], env: () => ({ WANDB_LAUNCH_MAX_JOBS: "0" }), code: 1, message: /max_jobs is 0/ },
  { name: "a queue name that is a path", args: () => ["-q", "../escape", "--local", root], code: 1, message: /queue name "\.\.\/escape" is not valid/ },
  { name: "local stop --item ../../../x", args: () => ["local", "stop", "-q", "q", "--item", "../../../x", "--local", root], code: 1, message: /item id "\.\.\/\.\.\/\.\.\/x" is not valid/ },
  { name: "local stop on an unknown queue", args: () => ["local", "stop", "-q", "nope", "--item", "abc", "--local", root], code: 1, message: /queue "nope" does not exist in .*local list/ },
  { name: "local stop of an unknown item", args: () => ["local", "stop", "-q", "q", "--item", "0000-unknown", "--local", root], code: 1, message: /item 0000-unknown does not exist on queue q/ },
  { name: "local push of a missing directory", args: () => ["local", "push", "-q", "q", "--job", join(sandbox, "missing"), "--local", root], code: 1, message: /job directory .*missing \(--job\) does not exist or is not a directory/ },
  { name: "local push without wandb-job.json", args: () => ["local", "push", "-q", "q", "--job", join(sandbox, "no-job-file"), "--local", root], code: 1, message: /no-job-file\/wandb-job\.json is missing/ },
  { name: "local push of malformed JSON", args: () => ["local", "push", "-q", "q", "--job", join(sandbox, "malformed"), "--local", root], code: 1, message: /malformed\/wandb-job\.json is not valid JSON/ },
  { name: "local push of a JSON array", args: () => ["local", "push", "-q", "q", "--job", join(sandbox, "array"), "--local", root], code: 1, message: /array\/wandb-job\.json is not a valid job file/ },
  { name: "local push --resource kubernetes", args: () => ["local", "push", "-q", "q", "--job", job, "--resource", "kubernetes", "--local", root], code: 1, message: /--resource "kubernetes" cannot run from a local queue: .*local-process or local-container/ },
  { name: "local push of an image job as a process", args: () => ["local", "push", "-q", "q", "--job", join(sandbox, "image-job"), "--local", root], code: 1, message: /is an image job; the local-process runner runs code.*local-container/ },
  { name: "kaniko without build-context-store", args: () => ["-c", join(sandbox, "kaniko.yaml"), "--local", root], code: 1, message: /builder\.build-context-store: builder\.type is kaniko but builder\.build-context-store is not set.*s3:\/\// },
  { name: "config validate on a directory", args: () => ["config", "validate", join(sandbox, "cfgdir")], code: 1, stdout: true, message: /cfgdir is a directory, not a file/ },
  { name: "config validate on a binary file", args: () => ["config", "validate", join(sandbox, "binary.yaml")], code: 1, stdout: true, message: /binary\.yaml is not a text file \(binary data at character 1\)/ },
  { name: "config validate with no file and no default", args: () => ["config", "validate"], code: 1, stdout: true, message: /No config file given and there is no default config at \/nonexistent-home\/\.config\/wandb\/launch-config\.yaml/ },
  { name: "a system error, no stack without -vv", args: () => ["local", "list", "--local", join(sandbox, "a-file")], code: 1, message: /^launch-agent: scandir .*a-file failed: a part of the path is a file, not a directory \(ENOTDIR\)\. Check the path and its permissions\.\n$/ },
];

describe("bad input through the real CLI", () => {
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_name, c) => {
    const before = await snapshot(sandbox);
    const r = await cli(c.args(), c.env?.());
    const text = c.stdout ? r.stdout : r.stderr;
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(c.code);
    expect(text).toMatch(c.message);
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /); // no stack trace
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/); // no control characters echoed
    expect(r.ms).toBeLessThan(2 * baselineMs + 5000);
    expect(await snapshot(sandbox)).toEqual(before);
  }, 150_000);

  it("-vv shows the stack of the same error", async () => {
    const r = await cli(["-vv", "local", "list", "--local", join(sandbox, "a-file")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOTDIR[\s\S]*\n\s+at /);
  }, 150_000);

  it("--version prints the package version", async () => {
    const pkg = JSON.parse(await readFile("package.json", "utf8")) as { name: string; version: string };
    const r = await cli(["--version"]);
    expect(r.stdout).toBe(`${pkg.name} ${pkg.version}\n`);
  }, 150_000);
});
