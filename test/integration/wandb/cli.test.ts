import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";
import { addArtifactJob } from "../../fakes/wandb/helpers.js";

const BIN = resolve("bin/launch-agent.js");

/** Async spawn: the fake W&B runs in this process and must keep answering. */
function runBin(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("close", (code) => (clearTimeout(timer), done({ code, out })));
  });
}

let fake: FakeWandb;
let home: string;
beforeEach(async () => {
  fake = await startFakeWandb();
  home = await mkdtemp(join(tmpdir(), "wandb-cli-home-"));
});
afterEach(async () => {
  await fake.close();
  await rm(home, { recursive: true, force: true });
});

const JOB = `
const env = process.env;
const auth = "Basic " + Buffer.from("api:" + env.WANDB_API_KEY).toString("base64");
const r = await fetch(env.WANDB_BASE_URL + "/graphql", { method: "POST", headers: { authorization: auth, "content-type": "application/json" },
  body: JSON.stringify({ operationName: "UpsertBucket", query: "mutation UpsertBucket($name: String, $project: String, $entity: String) { upsertBucket(input: { name: $name, modelName: $project, entityName: $entity }) { inserted } }",
    variables: { name: env.WANDB_RUN_ID, project: env.WANDB_PROJECT, entity: env.WANDB_ENTITY } }) });
process.exit(r.ok ? 0 : 9);
`;

describe("launch-agent against W&B (the fake)", () => {
  it("a rejected key: 'invalid API key' with the fix, exit code 1, before any work", async () => {
    fake.addQueue("Q");
    const item = fake.push("Q", { job: "fake-entity/proj/job-demo:latest", resource: "local-process" });
    const key = `revoked-${randomBytes(12).toString("hex")}`;
    const r = await runBin(["-q", "Q"], { HOME: home, WANDB_BASE_URL: fake.url, WANDB_API_KEY: key });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/invalid API key/);
    expect(r.out).toMatch(/WANDB_API_KEY|wandb login/);
    expect(r.out).not.toContain(key);
    expect(fake.calls.map((c) => c.operation)).toEqual(["Viewer"]);
    expect(fake.item(item.id)!.state).toBe("PENDING");
  });

  it("registers, runs a job from the queue and exits when idle", async () => {
    fake.addQueue("Q");
    addArtifactJob(fake, { files: { "job.mjs": JOB }, entrypoint: [process.execPath, "job.mjs"] });
    const item = fake.push("Q", { job: "fake-entity/proj/job-demo:latest", entity: "fake-entity", project: "proj", resource: "local-process" });
    const r = await runBin(["-q", "Q", "--exit-when-idle"], { HOME: home, WANDB_BASE_URL: fake.url, WANDB_API_KEY: fake.apiKey });
    expect(r.code, r.out).toBe(0);
    expect(fake.item(item.id)!.state).toBe("CLAIMED");
    expect(fake.jobRuns()).toHaveLength(1);
    expect(fake.state.agents[0]!.status).toBe("KILLED");
    expect(r.out).not.toContain(fake.apiKey);
  });
});
