// The stack switches for the managed runners: a sample stack with `sagemaker` / `vertex` turned on renders the
// grants and appends the queue config, which the agent's own request builders accept, to the launch config.
import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateAgentConfig } from "../../agent/config/index.js";
import { buildTrainingJobRequest } from "../../agent/runners/sagemaker-request.js";
import { buildCustomJob } from "../../agent/runners/vertex-request.js";
import { renderStack } from "../../stacks/render.js";

async function withSwitch(stack: "aws" | "gcp", key: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "managed-stack-"));
  await cp("stacks", join(root, "stacks"), { recursive: true });
  const file = join(root, "stacks", `Pulumi.${stack}.yaml`);
  const doc = parse(await readFile(file, "utf8")) as { config: Record<string, unknown> };
  doc.config[`wandb-launch:${key}`] = "true";
  await writeFile(file, JSON.stringify(doc));
  return root;
}

/** The commented queue config at the end of the launch config, uncommented. */
function queueConfigOf(launchConfig: string): Record<string, Record<string, unknown>> {
  const lines = launchConfig.split("\n");
  const start = lines.findIndex((l) => l.startsWith("# Queue config for resource"));
  expect(start, launchConfig).toBeGreaterThan(0);
  return parse(lines.slice(start + 1).map((l) => l.replace(/^# {0,3}/, "")).join("\n")) as Record<string, Record<string, unknown>>;
}

describe("stack switches for the managed runners", () => {
  it("aws + sagemaker: the execution role and the agent's SageMaker policy exist, and the launch config carries a working queue config", async () => {
    const r = await renderStack("aws", await withSwitch("aws", "sagemaker"));
    const roles = r.resources.filter((x) => x.type === "aws:iam/role:Role").map((x) => x.name);
    expect(roles.some((n) => n.endsWith("-sagemaker-exec"))).toBe(true);
    expect(r.resources.some((x) => x.type === "aws:iam/rolePolicy:RolePolicy" && x.name.endsWith("-agent-sagemaker-policy"))).toBe(true);
    const launchConfig = String(r.outputs.launchConfig);
    expect(validateAgentConfig(parse(launchConfig)).errors).toEqual([]);
    const queue = queueConfigOf(launchConfig);
    const req = buildTrainingJobRequest({
      resourceArgs: queue.sagemaker,
      runId: "abcd1234",
      image: "img:1",
      entrypoint: ["python", "t.py"],
      overrideEntrypoint: null,
      args: [],
      env: {},
      account: "123456789012",
      partition: "aws",
    });
    expect(req.RoleArn).toMatch(/^arn:aws:iam::\d{12}:role\/.*sagemaker-exec/);
    expect(req.OutputDataConfig!.S3OutputPath).toMatch(/^s3:\/\/.+\/sagemaker-output$/);
  });

  it("gcp + vertex: the job service account and the agent's grants exist, and the launch config carries a working queue config", async () => {
    const r = await renderStack("gcp", await withSwitch("gcp", "vertex"));
    expect(r.resources.some((x) => x.type === "gcp:serviceaccount/account:Account" && x.name.endsWith("-vertex-runs"))).toBe(true);
    expect(r.resources.some((x) => x.type === "gcp:projects/iAMCustomRole:IAMCustomRole" && x.name.endsWith("-vertex-jobs-role"))).toBe(true);
    const queue = queueConfigOf(String(r.outputs.launchConfig));
    const req = buildCustomJob({
      args: queue.vertex!,
      argsKey: "vertex",
      runId: "abcd1234",
      runName: null,
      image: "img:1",
      entrypoint: ["python", "t.py"],
      runArgs: [],
      env: {},
      project: "p",
      region: "us-central1",
    });
    expect(req.customJob.jobSpec!.serviceAccount).toMatch(/@.*\.iam\.gserviceaccount\.com$/);
  });

  it("off in the sample stacks: no queue config is appended", async () => {
    const r = await renderStack("aws");
    expect(String(r.outputs.launchConfig)).not.toContain("# Queue config");
  });
});
