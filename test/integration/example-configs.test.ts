// Every example config under examples/configs is valid, as the real CLI checks it.
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = resolve("bin/launch-agent.js");
const DIR = resolve("examples/configs");

function validate(file: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, "config", "validate", file, "--json"], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.on("close", (code) => done({ code, stdout }));
  });
}

describe("examples/configs", () => {
  it("holds local, docker and kaniko on each cloud", async () => {
    expect((await readdir(DIR)).sort()).toEqual(["docker.yaml", "kaniko-aws.yaml", "kaniko-azure.yaml", "kaniko-gcp.yaml", "local.yaml"]);
  });

  // A plain OCI registry gets the official agent's notice that it is not a cloud registry it knows; nothing else may warn.
  const expectedWarnings: Record<string, string[]> = {
    "docker.yaml": ["Unable to recognize registry type in URI 127.0.0.1:5000/launch/jobs. You are responsible for ensuring the agent can push images to this registry."],
  };
  it.each(["local.yaml", "docker.yaml", "kaniko-aws.yaml", "kaniko-gcp.yaml", "kaniko-azure.yaml"])("%s is valid", async (name) => {
    const r = await validate(join(DIR, name));
    expect(JSON.parse(r.stdout)).toEqual({ valid: true, errors: [], warnings: expectedWarnings[name] ?? [] });
    expect(r.code).toBe(0);
  }, 120_000);
});
