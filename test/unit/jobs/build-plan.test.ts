import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { registerBuildPlanCommand } from "../../../agent/commands/build-plan.js";
import { localSourceString } from "../../../agent/jobs/digest.js";
import { imageTag } from "../../../agent/jobs/tag.js";

let dir: string;
let configPath: string;

async function runCli(args: string[]): Promise<string> {
  const program = new Command("launch-agent").exitOverride();
  registerBuildPlanCommand(program);
  let out = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(["node", "launch-agent", ...args]);
  } finally {
    spy.mockRestore();
  }
  return out;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "plan-job-"));
  await writeFile(join(dir, "wandb-job.json"), JSON.stringify({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] }, runtime: "3.11.4" }));
  await writeFile(join(dir, "train.py"), "print(1)\n");
  await writeFile(join(dir, "requirements.txt"), "wandb\n");
  configPath = join(dir, "..", `${dir.split("/").pop()}-config.yaml`);
  await writeFile(configPath, "builder:\n  type: kaniko\n  destination: registry.example.com/team/app\n  build-context-store: s3://contexts/launch\n");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(configPath, { force: true });
});

describe("launch-agent build-plan", () => {
  it("prints the five fields as JSON, with the tag over source string + Dockerfile", async () => {
    const out = JSON.parse(await runCli(["build-plan", "--job", dir, "--config", configPath, "--json"]));
    expect(Object.keys(out).sort()).toEqual(["builder", "dockerfile", "image", "sourceString", "tag"]);
    expect(out.builder).toBe("kaniko");
    expect(out.sourceString).toBe(await localSourceString(dir));
    expect(out.tag).toBe(imageTag(out.sourceString, out.dockerfile));
    expect(out.image).toBe(`registry.example.com/team/app:${out.tag}`);
    // kaniko never has BuildX: the no-cache prefix, and the requirements.txt branch.
    expect(out.dockerfile).toContain("RUN WANDB_DISABLE_CACHE=true pip install uv && uv pip install -r requirements.txt");
    expect(out.dockerfile).toContain("FROM python:3.11 as build");
  });

  it("changes the tag when the code changes and keeps it otherwise", async () => {
    const a = JSON.parse(await runCli(["build-plan", "--job", dir, "--config", configPath, "--json"]));
    const b = JSON.parse(await runCli(["build-plan", "--job", dir, "--config", configPath, "--json"]));
    expect(b.tag).toBe(a.tag);
    await writeFile(join(dir, "train.py"), "print(2)\n");
    const c = JSON.parse(await runCli(["build-plan", "--job", dir, "--config", configPath, "--json"]));
    expect(c.tag).not.toBe(a.tag);
  });

  it("prints a readable plan with the Dockerfile", async () => {
    const out = await runCli(["build-plan", "--job", dir, "--config", configPath]);
    expect(out).toMatch(/^builder: +kaniko$/m);
    expect(out).toMatch(/^dockerfile: +generated \(requirements: requirements\)$/m);
    expect(out).toContain("----- Dockerfile.wandb -----");
  });

  it("reports image jobs as never built", async () => {
    await writeFile(join(dir, "wandb-job.json"), JSON.stringify({ source_type: "image", source: { image: "busybox:1.36" } }));
    const out = JSON.parse(await runCli(["build-plan", "--job", dir, "--config", configPath, "--json"]));
    expect(out).toMatchObject({ builder: "none", image: "busybox:1.36", tag: null, dockerfile: null });
  });

  it("fails with the job file's path when it is missing", async () => {
    await rm(join(dir, "wandb-job.json"));
    await expect(runCli(["build-plan", "--job", dir, "--config", configPath])).rejects.toThrow(`${join(dir, "wandb-job.json")} is missing`);
  });

  it("applies a run spec's overrides", async () => {
    const spec = join(dir, "spec.json");
    await writeFile(spec, JSON.stringify({ resource: "sagemaker", overrides: { entry_point: ["python", "other.py"] } }));
    const out = JSON.parse(await runCli(["build-plan", "--job", dir, "--config", configPath, "--run-spec", spec, "--json"]));
    expect(out.dockerfile).toContain('ENTRYPOINT ["python", "other.py"]');
    expect(out.dockerfile).toContain("USER root");
    expect(await readFile(spec, "utf8")).toContain("sagemaker");
  });
});

describe("bundled example jobs", () => {
  it("python-train plans a generated Dockerfile with Python 3.11 and its requirements.txt", async () => {
    const cfg = join(dir, "example-config.yaml");
    await writeFile(cfg, "builder:\n  type: docker\n  destination: registry.example.com/examples/python-train\n");
    const out = JSON.parse(await runCli(["build-plan", "--job", "examples/jobs/python-train", "--config", cfg, "--json"]));
    expect(out.builder).toBe("docker");
    expect(out.dockerfile).toContain("FROM python:3.11 as build");
    expect(out.dockerfile).toContain("COPY src/requirements.txt ./");
    expect(out.dockerfile).toContain('ENTRYPOINT ["python", "train.py"]');
    expect(out.sourceString).toMatch(/^local:python-train:[0-9a-f]{64}$/);
    expect(out.image).toBe(`registry.example.com/examples/python-train:${out.tag}`);
  });

  it("git-repo is a valid repo job with an allowed remote", async () => {
    const { JobFileSchema } = await import("../../../agent/jobs/job-file.js");
    const { checkGitRemote } = await import("../../../agent/jobs/sources.js");
    const job = JobFileSchema.parse(JSON.parse(await readFile("examples/jobs/git-repo/wandb-job.json", "utf8")));
    expect(job.source_type).toBe("repo");
    expect(checkGitRemote(job.source.git!.remote)).toMatch(/^https:\/\//);
  });
});
