// `doctor`'s W&B check: the key is valid for the host and the queues the agent would poll exist.
// Read-only (Viewer, ProjectRunQueues): nothing is registered or created, unlike the agent's start.
import { resolveCredentials } from "../backend/wandb/credentials.js";
import * as ops from "../backend/wandb/operations.js";
import { WandbTransport, extraHeadersFromEnv, type TransportTimings } from "../backend/wandb/transport.js";

export interface WandbCheckOptions {
  env: NodeJS.ProcessEnv;
  homeDir?: string;
  /** Short by default: a doctor answers in seconds, where the agent waits out outages. */
  timings?: Partial<TransportTimings>;
}

export interface WandbVerdict {
  baseUrl: string;
  user: string;
  entity: string;
  /** Queue names the agent would poll that the entity's launch project lacks. */
  missing: string[];
  available: string[];
}

const DOCTOR_TIMINGS: Partial<TransportTimings> = { attemptTimeoutMs: 15_000, maxAttempts: 2, backoffInitialMs: 500, backoffMaxMs: 1_000 };

export async function checkWandb(config: { entity?: string | null; queues: readonly string[] }, opts: WandbCheckOptions): Promise<WandbVerdict> {
  const creds = resolveCredentials({ env: opts.env, homeDir: opts.homeDir });
  const api = new WandbTransport({
    baseUrl: creds.baseUrl,
    apiKey: creds.apiKey,
    userAgent: "launch-agent doctor",
    extraHeaders: extraHeadersFromEnv(opts.env),
    timings: { ...DOCTOR_TIMINGS, ...opts.timings },
  });
  const viewer = (await api.request(ops.Viewer, {})).viewer;
  if (!viewer?.entity) {
    throw new Error(`the API key (from ${creds.keySource}) is not valid for ${creds.baseUrl}: run \`wandb login --relogin\` or set WANDB_API_KEY to a key for this host`);
  }
  const entity = config.entity || viewer.entity;
  const found = await api.request(ops.ProjectRunQueues, { entity, projectName: ops.LAUNCH_PROJECT });
  if (!found.project) throw new Error(`cannot read the run queues of ${entity}/${ops.LAUNCH_PROJECT}: check that the key's user belongs to entity ${entity}`);
  const available = found.project.runQueues.map((q) => q.name);
  // With no queue at all the agent creates `default` itself (reference §7.2).
  const creatable = available.length === 0 ? ["default"] : [];
  const missing = config.queues.filter((q) => !available.includes(q) && !creatable.includes(q));
  return { baseUrl: creds.baseUrl, user: viewer.username ?? viewer.entity, entity, missing, available };
}
