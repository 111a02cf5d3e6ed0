import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentConfig } from "../../../agent/config/index.js";
import { createWandbBackend, type WandbTimings } from "../../../agent/backend/wandb/index.js";
import type { QueueBackend } from "../../../agent/backend/types.js";
import { silentLogger, type Logger } from "../../../agent/log.js";
import type { FakeWandb } from "../wandb-server.js";

/** Timings compressed to milliseconds so retry and backoff paths run in a test. */
export const FAST_TIMINGS: Partial<WandbTimings> = {
  // Long enough for a loaded CI machine; hang tests still time out within a few seconds.
  attemptTimeoutMs: 1_000,
  downloadTimeoutMs: 2_000,
  maxAttempts: 4,
  pollAttempts: 3,
  backoffInitialMs: 10,
  backoffMaxMs: 40,
  runStateDelaysMs: [10, 20, 40],
};

export function agentConfig(over: Partial<AgentConfig> = {}): AgentConfig {
  return { queues: ["q1"], max_jobs: 1, max_schedulers: 1, verbosity: 0, ...over };
}

export interface BackendFixture {
  backend: QueueBackend;
  home: string;
  cleanup(): Promise<void>;
}

/** A W&B backend pointed at the fake, with its own home (netrc, cache) and fast timings. */
export async function backendFor(
  fake: FakeWandb,
  opts: { config?: Partial<AgentConfig>; env?: NodeJS.ProcessEnv; timings?: Partial<WandbTimings>; logger?: Logger } = {},
): Promise<BackendFixture> {
  const home = await mkdtemp(join(tmpdir(), "wandb-home-"));
  const backend = createWandbBackend({
    config: agentConfig(opts.config),
    env: { WANDB_BASE_URL: fake.url, WANDB_API_KEY: fake.apiKey, ...opts.env },
    logger: opts.logger ?? silentLogger,
    homeDir: home,
    timings: { ...FAST_TIMINGS, ...opts.timings },
    hostname: "test-host",
    workDir: home,
  });
  return { backend, home, cleanup: () => rm(home, { recursive: true, force: true }) };
}

/** A code artifact plus a job artifact pointing at it, as `wandb job create` would log them. */
export function addArtifactJob(
  fake: FakeWandb,
  opts: { entity?: string; project?: string; job?: string; files: Record<string, string>; entrypoint: string[]; extra?: Record<string, string> },
): { jobRef: string; codeId: string; jobId: string } {
  const entity = opts.entity ?? "fake-entity";
  const project = opts.project ?? "proj";
  const jobName = opts.job ?? "job-demo";
  const code = fake.addArtifact({ entity, project, collection: `code-${jobName}`, type: "code", files: opts.files });
  const jobFile = {
    source_type: "artifact",
    source: { entrypoint: opts.entrypoint, artifact: `wandb-artifact://_id/${code.id}`, args: [] },
    runtime: "Python 3.11",
    input_types: {},
    output_types: {},
  };
  const job = fake.addArtifact({
    entity,
    project,
    collection: jobName,
    type: "job",
    files: { "wandb-job.json": JSON.stringify(jobFile), "requirements.frozen.txt": "wandb==0.19.0\n", ...opts.extra },
  });
  return { jobRef: `${entity}/${project}/${jobName}:latest`, codeId: code.id, jobId: job.id };
}

/**
 * The code of the test job. Like a real run it calls wandb.init's UpsertBucket with the env the
 * agent gave it (so the agent's RunState check sees a run), then sleeps and exits as configured.
 */
export const JOB_SCRIPT = `
const env = process.env;
const auth = "Basic " + Buffer.from("api:" + env.WANDB_API_KEY).toString("base64");
const res = await fetch(env.WANDB_BASE_URL + "/graphql", {
  method: "POST",
  headers: { authorization: auth, "content-type": "application/json" },
  body: JSON.stringify({
    operationName: "UpsertBucket",
    query: "mutation UpsertBucket($name: String, $project: String, $entity: String) { upsertBucket(input: { name: $name, modelName: $project, entityName: $entity }) { bucket { id name } inserted } }",
    variables: { name: env.WANDB_RUN_ID, project: env.WANDB_PROJECT, entity: env.WANDB_ENTITY },
  }),
});
if (!res.ok) { console.error("upsert failed", res.status); process.exit(9); }
const cfg = JSON.parse(env.WANDB_CONFIG ?? "{}");
console.log("run", env.WANDB_RUN_ID, "queue", env.WANDB_LAUNCH_QUEUE_NAME);
if (cfg.sleep_ms) await new Promise((r) => setTimeout(r, cfg.sleep_ms));
process.exit(cfg.exit_code ?? 0);
`;

/** A run spec for the job added by addArtifactJob, with its run config. */
export const jobSpec = (config: Record<string, unknown> = {}) => ({
  job: "fake-entity/proj/job-demo:latest",
  entity: "fake-entity",
  project: "proj",
  resource: "local-process",
  overrides: { run_config: config },
});

/** Polls `cond` until it holds; `what` (or its thunk, read at timeout) names what was awaited. */
export async function until(cond: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
