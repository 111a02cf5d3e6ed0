// The Vertex runner through the real @google-cloud/aiplatform client (its REST transport) against the
// strict fake of the Vertex custom-job endpoints in test/fakes/vertex-server.ts.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../agent/backend/local/index.js";
import { LocalQueueStore } from "../../agent/backend/local/store.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { silentLogger } from "../../agent/log.js";
import { composeAgent } from "../../agent/main.js";
import { createRunner } from "../../agent/runners/select.js";
import type { LaunchRequest } from "../../agent/runners/types.js";
import { VertexRunner, type VertexAuth } from "../../agent/runners/vertex.js";
import { startFakeVertex, type FakeVertex } from "../fakes/vertex-server.js";
import { tempDir } from "../support/local-jobs.js";

const IMAGE = "us-central1-docker.pkg.dev/my-project/launch/job:0a1b2c3d";
const QUEUE_ARGS = {
  spec: {
    worker_pool_specs: [{ machine_spec: { machine_type: "n1-standard-4" }, replica_count: 1, container_spec: { image_uri: "${image_uri}" } }],
    staging_bucket: "gs://launch-staging",
  },
  run: { service_account: "launch-runs@my-project.iam.gserviceaccount.com", timeout: 3600, restart_job_on_worker_restart: false },
};

let fake: FakeVertex;
beforeAll(async () => {
  fake = await startFakeVertex();
});
afterAll(async () => {
  await fake?.stop();
});

function auth(token = fake.token): VertexAuth {
  return {
    getClient: async () => ({ getAccessToken: async () => ({ token }) }),
    getProjectId: async () => "my-project",
    getRequestHeaders: async () => ({ Authorization: `Bearer ${token}` }),
  };
}

const config: Pick<AgentConfig, "environment" | "secure_mode"> = { environment: { type: "gcp", region: "us-central1" } };
const runner = (over: ConstructorParameters<typeof VertexRunner>[0] = {}) =>
  new VertexRunner({ config, auth: auth(), endpoint: () => fake.endpoint, pollIntervalMs: 10, ...over });

function request(runId: string, resourceArgs: unknown, over: Partial<LaunchRequest> = {}): LaunchRequest {
  return {
    runId,
    runSpec: { resource: "vertex", resource_args: { vertex: resourceArgs }, overrides: { args: ["--epochs", "2"] } },
    job: { name: "local/job", job: { source_type: "image", source: { image: IMAGE } } } as unknown as LaunchRequest["job"],
    image: IMAGE,
    entrypoint: ["python", "train.py"],
    args: ["--epochs", "2"],
    env: { WANDB_RUN_ID: runId, WANDB_API_KEY: "a".repeat(40) },
    logger: silentLogger,
    ...over,
  };
}

const filled = (image: string) => ({ ...QUEUE_ARGS, spec: { ...QUEUE_ARGS.spec, worker_pool_specs: [{ ...QUEUE_ARGS.spec.worker_pool_specs[0], container_spec: { image_uri: image } }] } });

describe("vertex runner against the fake Vertex API", () => {
  it("creates the custom job the API accepts and follows it to finished", async () => {
    const handle = await runner().run(request("vxok0001", filled(IMAGE)));
    expect(handle.id).toMatch(/^projects\/my-project\/locations\/us-central1\/customJobs\/\d+$/);
    expect((await handle.wait()).status).toBe("finished");
    const job = fake.jobs.find((j) => j.name === handle.id)!;
    // What went over the wire, as the REST transport encodes it.
    expect(job.body).toMatchObject({
      labels: { "wandb-run-id": "vxok0001" },
      jobSpec: {
        workerPoolSpecs: [
          {
            machineSpec: { machineType: "n1-standard-4" },
            replicaCount: "1",
            containerSpec: { imageUri: IMAGE, command: ["python", "train.py", "--epochs", "2"], env: [{ name: "WANDB_RUN_ID", value: "vxok0001" }, { name: "WANDB_API_KEY", value: "a".repeat(40) }] },
          },
        ],
        serviceAccount: "launch-runs@my-project.iam.gserviceaccount.com",
        scheduling: { timeout: "3600s", restartJobOnWorkerRestart: false },
        baseOutputDirectory: { outputUriPrefix: expect.stringMatching(/^gs:\/\/launch-staging\/aiplatform-custom-job-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d\.\d{3}$/) },
      },
    });
    expect(fake.requests.filter((r) => r.includes(job.name.split("/").pop()!)).length).toBeGreaterThanOrEqual(3); // read until SUCCEEDED
  });

  it("a failed job is reported with Vertex's error message", async () => {
    fake.script({ states: ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_FAILED"], error: { code: 3, message: "The replica workerpool0-0 exited with a non-zero status of 1." } });
    const outcome = await (await runner().run(request("vxfail01", filled(IMAGE)))).wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toMatch(/custom job projects\/my-project\/locations\/us-central1\/customJobs\/\d+ ended JOB_STATE_FAILED: The replica workerpool0-0 exited with a non-zero status of 1\./);
  });

  it("cancel = CancelCustomJob; the run ends stopped", async () => {
    fake.script({ states: ["JOB_STATE_RUNNING"] });
    const handle = await runner().run(request("vxstop01", filled(IMAGE)));
    await new Promise((r) => setTimeout(r, 50));
    await handle.cancel("stopped");
    const outcome = await handle.wait();
    expect(outcome.status).toBe("stopped");
    expect(fake.requests).toContain(`POST /v1/${handle.id}:cancel`);
    expect(fake.jobs.find((j) => j.name === handle.id)!.state).toBe("JOB_STATE_CANCELLED");
  });

  it("a job that never leaves PENDING is cancelled after the start timeout and failed with the official message", async () => {
    fake.script({ states: ["JOB_STATE_PENDING"] });
    const outcome = await (await runner({ startTimeoutMs: 100 }).run(request("vxslow01", filled(IMAGE)))).wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toMatch(/^Run failed to start within 0 seconds\. If you want to increase this timeout, set WANDB_LAUNCH_START_TIMEOUT/);
    expect(fake.jobs.at(-1)!.state).toBe("JOB_STATE_CANCELLED");
  });

  it("what the API refuses is a run failure with Google's message: bad labels, bad credentials", async () => {
    await expect(runner().run(request("vxlbl001", { ...filled(IMAGE), spec: { ...filled(IMAGE).spec, labels: { Team: "ML" } } }))).rejects.toMatchObject({
      stage: "run",
      message: expect.stringMatching(/Vertex AI refused CreateCustomJob in projects\/my-project\/locations\/us-central1 \(INVALID_ARGUMENT: Label key "Team" is invalid/),
    });
    await expect(runner({ auth: auth("wrong-token") }).run(request("vxauth01", filled(IMAGE)))).rejects.toMatchObject({
      stage: "run",
      message: expect.stringMatching(/UNAUTHENTICATED: Request had invalid authentication credentials.*iam\.serviceAccounts\.actAs on launch-runs@my-project/),
    });
  });

  it("the fake is strict: a field the API does not know is refused with Google's wording", async () => {
    const res = await fetch(`http://127.0.0.1:${fake.endpoint.port}/v1/projects/p/locations/l/customJobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${fake.token}`, "content-type": "application/json" },
      body: JSON.stringify({ displayName: "x", jobSpec: { workerPoolSpecs: [{ machineSpec: { machineType: "n1" }, containerSpec: { imageUri: "i", cmd: ["x"] } }] } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { status: string; message: string } };
    expect(body.error.status).toBe("INVALID_ARGUMENT");
    expect(body.error.message).toBe(`Invalid JSON payload received. Unknown name "cmd" at 'custom_job.job_spec.worker_pool_specs[0].container_spec': Cannot find field.`);
    const missing = await fetch(`http://127.0.0.1:${fake.endpoint.port}/v1/projects/p/locations/l/customJobs`, {
      method: "POST",
      headers: { authorization: `Bearer ${fake.token}` },
      body: JSON.stringify({ jobSpec: { workerPoolSpecs: [{ machineSpec: { machineType: "n1" }, containerSpec: { imageUri: "i" } }] } }),
    });
    expect(((await missing.json()) as { error: { message: string } }).error.message).toMatch(/Field: custom_job\.display_name; Message: Required field is not set/);
  });

  it("safety and secure_mode apply as the official agent applies them; missing keys fail before any request", async () => {
    const before = fake.requests.length;
    const secure = runner({ config: { ...config, secure_mode: true } });
    expect(() => secure.check({ resource_args: { vertex: QUEUE_ARGS }, overrides: { entry_point: ["bash"] } })).toThrow(/secure_mode is enabled.*overrides\.entry_point/);
    expect(() => secure.check({ resource_args: { vertex: QUEUE_ARGS, kubernetes: { spec: { template: { spec: { hostPID: true } } } } } })).toThrow(/Unsafe resource_args\.kubernetes option 'hostPID'/);
    await expect(runner().run(request("vxmiss01", { spec: { worker_pool_specs: QUEUE_ARGS.spec.worker_pool_specs } }))).rejects.toMatchObject({ stage: "agent", message: expect.stringMatching(/requires a staging bucket/) });
    expect(fake.requests.length).toBe(before);
  });
});

describe("vertex items through the agent loop (local queue)", () => {
  it("queue → finished (gcp-vertex args, ${image_uri} filled with the job's image), queue → failed with Vertex's reason", async () => {
    const root = await tempDir("vertex-agent-");
    const qroot = join(root, "q");
    const dir = join(root, "image-job");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "wandb-job.json"), JSON.stringify({ source_type: "image", source: { image: IMAGE, entrypoint: ["python", "train.py"] } }));
    const store = new LocalQueueStore(qroot);
    const ok = await store.push("vx", { job: dir, resource: "gcp-vertex", resource_args: { "gcp-vertex": QUEUE_ARGS } });
    const bad = await store.push("vx", { job: dir, resource: "vertex", resource_args: { vertex: QUEUE_ARGS } });
    fake.script({ states: ["JOB_STATE_SUCCEEDED"] }, { states: ["JOB_STATE_RUNNING", "JOB_STATE_FAILED"], error: { code: 13, message: "Internal error occurred for the current attempt." } });
    const created = fake.jobs.length;

    const agentConfig: AgentConfig = { queues: ["vx"], max_jobs: 1, max_schedulers: 1, verbosity: 0, environment: { type: "gcp", region: "us-central1" } };
    const agent = composeAgent({
      config: agentConfig,
      backend: new LocalBackend({ root: qroot, logger: silentLogger }),
      logger: silentLogger,
      overrides: {
        exitWhenIdle: true,
        pollIntervalMs: 20,
        createRunner: async (resource, identity) => {
          expect(await createRunner(resource, { config: agentConfig, agentName: identity.name })).toBeInstanceOf(VertexRunner);
          return runner({ config: agentConfig });
        },
      },
    });
    expect(await agent.run()).toBe(0);
    const byId = new Map((await store.list("vx")).map((r) => [r.id, r]));
    expect(byId.get(ok.id)?.state).toBe("finished");
    expect(byId.get(bad.id)?.state).toBe("failed");
    expect(byId.get(bad.id)?.message).toMatch(/ended JOB_STATE_FAILED: Internal error occurred for the current attempt\./);
    const jobs = fake.jobs.slice(created);
    expect(jobs).toHaveLength(2);
    const containers = jobs.map((j) => (j.body.jobSpec as { workerPoolSpecs: { containerSpec: { imageUri: string } }[] }).workerPoolSpecs[0]!.containerSpec);
    expect(containers.map((c) => c.imageUri)).toEqual([IMAGE, IMAGE]);
    expect(jobs.map((j) => (j.body.labels as Record<string, string>)["wandb-run-id"])).toEqual([byId.get(ok.id)!.runId, byId.get(bad.id)!.runId]);
  });
});
