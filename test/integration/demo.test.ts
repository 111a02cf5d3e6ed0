// `npm start` (the demo) off a terminal: JSON log lines, no colour codes, and a closing hint that works as printed.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { shellJob, tempDir } from "../support/local-jobs.js";

const BIN = resolve("bin/launch-agent.js");

describe("launch-agent demo (npm start)", () => {
  it("logs JSON lines when piped and names a command that works from a checkout", async () => {
    const dir = await tempDir();
    const job = await shellJob(dir, "hello", "echo hello from the demo\n");
    const root = join(dir, "root");
    const r = spawnSync(process.execPath, [BIN, "demo", "--job", job, "--local", root], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const logLines = r.stderr.split("\n").filter((l) => l.trim() !== "");
    expect(logLines.length).toBeGreaterThan(2);
    for (const line of logLines) expect(() => JSON.parse(line), line).not.toThrow();
    expect(r.stderr).not.toMatch(/\u001b\[/); // no ANSI colours
    const hint = /Inspect the queue with: (node bin\/launch-agent\.js local list --local (\S+))\n/.exec(r.stdout);
    expect(hint?.[2]).toBe(root);
    // The hint as printed, run from the project root (where npm start runs).
    const listed = spawnSync("/bin/sh", ["-c", hint![1]!], { encoding: "utf8", cwd: resolve("."), timeout: 60_000 });
    expect(listed.status, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/demo +finished/);
  }, 180_000);
});
