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
