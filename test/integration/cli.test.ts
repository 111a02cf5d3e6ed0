import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../support/local-jobs.js";

const BIN = resolve("bin/launch-agent.js");
function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, HOME: "/nonexistent-home", ...env }, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("launch-agent start-up", () => {
  it("refuses to start without a queue, before touching anything", () => {
    const r = cli(["--local", "/tmp/never-created-root"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/specify a queue or a list of queues/);
  });

  it("stops on a bad config file, naming the field", async () => {
    const dir = await tempDir();
    const file = join(dir, "bad.yaml");
    await writeFile(file, "queues: [a]\nmax_jobs: -7\n");
    const r = cli(["-c", file, "--local", join(dir, "root")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/max_jobs/);
  });

  it("says clearly that a missing --config file is an error", () => {
    const r = cli(["-c", "/tmp/definitely-missing-launch-config.yaml", "-q", "a", "--local", "/tmp/x"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/definitely-missing-launch-config\.yaml/);
  });

  it("rejects the hidden --url flag with the fix", () => {
    const r = cli(["-u", "https://example.invalid", "-q", "a"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--url is not supported.*WANDB_BASE_URL/);
  });

  it("local push and list share the queue root", async () => {
    const root = await tempDir();
    const pushed = cli(["local", "push", "-q", "jobs", "--job", "examples/jobs/hello", "--local", root, "--", "--steps", "1"]);
    expect(pushed.code, pushed.stderr).toBe(0);
    const listed = cli(["local", "list", "--json"], { LAUNCH_AGENT_LOCAL_DIR: root });
    expect(listed.code).toBe(0);
    const items = JSON.parse(listed.stdout);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ queue: "jobs", state: "queued", runSpec: { job: resolve("examples/jobs/hello"), resource: "local-process", overrides: { args: ["--steps", "1"] } } });
  });
});
