// Every fixture config goes through the real CLI (`node bin/launch-agent.js config validate FILE
// --json`) and must match test/fixtures/configs/expected.json: validity, exit code, error paths,
// warnings, and key phrases of the messages.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const fixtures = join(root, "test/fixtures/configs");
const bin = join(root, "bin/launch-agent.js");

interface Expected {
  valid: boolean;
  errorPaths: string[];
  /** Each entry must be a substring of a distinct warning; the warning count must match exactly. */
  warnings: string[];
  errorMessages?: string[];
}

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliRun> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Run `tasks` with at most `limit` at a time (each CLI start costs about a second of CPU). */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}

const expected = JSON.parse(await readFile(join(fixtures, "expected.json"), "utf8")) as Record<string, Expected>;
const names = Object.keys(expected).sort();
const runs = new Map<string, CliRun>();

beforeAll(async () => {
  const results = await pool(
    names.map((name) => () => runCli(["config", "validate", join(fixtures, name), "--json"])),
    3,
  );
  names.forEach((name, i) => runs.set(name, results[i]!));
}, 600_000);

describe("fixture set", () => {
  it("has at least 30 configs, at least half invalid, each with an expectation", async () => {
    const files = (await readdir(fixtures)).filter((f) => f.endsWith(".yaml")).sort();
    expect(files).toEqual(names);
    expect(files.length).toBeGreaterThanOrEqual(30);
    const invalid = names.filter((n) => !expected[n]!.valid).length;
    expect(invalid * 2).toBeGreaterThanOrEqual(names.length);
  });
});

describe("launch-agent config validate --json on each fixture", () => {
  it.each(names)("%s", (name) => {
    const exp = expected[name]!;
    const run = runs.get(name)!;
    expect(run.stderr, "stderr").toBe("");
    const out = JSON.parse(run.stdout) as { valid: boolean; errors: { path: string; message: string }[]; warnings: string[] };
    expect(Object.keys(out)).toEqual(["valid", "errors", "warnings"]);
    for (const e of out.errors) expect(Object.keys(e)).toEqual(["path", "message"]);
    expect(out.valid).toBe(exp.valid);
    expect(run.code).toBe(exp.valid ? 0 : 1);
    expect([...new Set(out.errors.map((e) => e.path))].sort()).toEqual(exp.errorPaths);
    expect(out.warnings).toHaveLength(exp.warnings.length);
    const unmatched = [...out.warnings];
    for (const w of exp.warnings) {
      const i = unmatched.findIndex((x) => x.includes(w));
      expect(i, `warning containing ${JSON.stringify(w)} in ${JSON.stringify(out.warnings)}`).toBeGreaterThanOrEqual(0);
      unmatched.splice(i, 1);
    }
    for (const m of exp.errorMessages ?? []) {
      expect(out.errors.some((e) => e.message.includes(m)), `error message containing ${JSON.stringify(m)}`).toBe(true);
    }
    // Secrets in a config never come back out.
    expect(run.stdout).not.toContain("not-a-real-key-0123456789");
  });
});

describe("launch-agent config validate (readable report and default path)", () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "validate-home-"));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it("prints a readable report and exits 1 for an invalid file", async () => {
    const run = await runCli(["config", "validate", join(fixtures, "builder-bad-type.yaml")]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("builder-bad-type.yaml: invalid");
    expect(run.stdout).toContain("error    builder.type: Input should be 'docker', 'kaniko' or 'noop', got 'buildkit'.");
    expect(run.stdout).toContain("1 error, 0 warnings");
  });

  it("defaults FILE to ~/.config/wandb/launch-config.yaml and fails when it is missing", async () => {
    const env = { ...process.env, HOME: home };
    const missing = await runCli(["config", "validate", "--json"], env);
    expect(missing.code).toBe(1);
    const path = join(home, ".config", "wandb", "launch-config.yaml");
    expect(JSON.parse(missing.stdout).errors[0].message).toContain(path);

    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, "queues: [default]\nbuilder:\n  type: noop\n");
    const ok = await runCli(["config", "validate"], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${path}: valid`);
  });
});
