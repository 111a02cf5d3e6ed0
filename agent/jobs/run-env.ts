import type { RunSpec } from "./run-spec.js";

/** Longest value of one env var before JSON is split into `<NAME>_0..N` (reference §7.10). */
export const ENV_SHARD_LIMIT = 32_670;

export interface RunEnvInput {
  runSpec: RunSpec;
  runId: string;
  /** Queue the item came from and the agent's entity. */
  queue: string;
  agentEntity: string | null;
  /** Queue item id, reported as WANDB_LAUNCH_TRACE_ID. */
  itemId: string;
  baseUrl?: string;
  /** The agent's key; the run spec's `_wandb_api_key` wins. */
  apiKey?: string;
  /** Image URI, set as WANDB_DOCKER for image-sourced jobs. */
  dockerImage?: string | null;
  /** The `wandb-job.json` reference that goes into WANDB_ARTIFACTS as `_wandb_job`. */
  jobName?: string;
  /** Limit for sharding, smaller for SageMaker. */
  shardLimit?: number;
}

/** Set `name` to `json`, or split it into `name_0..N` when it is longer than `limit`. */
export function shardedJson(name: string, value: unknown, limit = ENV_SHARD_LIMIT): Record<string, string> {
  const json = JSON.stringify(value);
  if (json.length <= limit) return { [name]: json };
  const out: Record<string, string> = {};
  for (let i = 0, n = 0; i < json.length; i += limit, n++) out[`${name}_${n}`] = json.slice(i, i + limit);
  return out;
}

/** The variables every launched run receives (reference §7.10). Contains the API key: never log it. */
export function buildRunEnv(input: RunEnvInput): Record<string, string> {
  const spec = input.runSpec;
  const env: Record<string, string> = {};
  if (input.baseUrl) env.WANDB_BASE_URL = input.baseUrl;
  const overrideKey = spec._wandb_api_key ?? undefined;
  const apiKey = overrideKey ?? input.apiKey;
  if (apiKey) env.WANDB_API_KEY = apiKey;
  if (spec.project) env.WANDB_PROJECT = spec.project;
  if (spec.entity) env.WANDB_ENTITY = spec.entity;
  env.WANDB_LAUNCH = "True";
  env.WANDB_RUN_ID = input.runId;
  if (input.dockerImage) env.WANDB_DOCKER = input.dockerImage;
  if (spec.name) env.WANDB_NAME = spec.name;
  if (spec.author && !overrideKey) env.WANDB_USERNAME = spec.author;
  if (spec.sweep_id) env.WANDB_SWEEP_ID = spec.sweep_id;
  if ((spec._resume_count ?? 0) > 0) env.WANDB_RESUME = "allow";
  env.WANDB_LAUNCH_QUEUE_NAME = input.queue;
  if (input.agentEntity) env.WANDB_LAUNCH_QUEUE_ENTITY = input.agentEntity;
  env.WANDB_LAUNCH_TRACE_ID = input.itemId;
  const limit = input.shardLimit ?? ENV_SHARD_LIMIT;
  Object.assign(env, shardedJson("WANDB_CONFIG", spec.overrides?.run_config ?? {}, limit));
  Object.assign(env, shardedJson("WANDB_LAUNCH_FILE_OVERRIDES", spec.overrides?.files ?? {}, limit));
  const artifacts = { ...(input.jobName ? { _wandb_job: input.jobName } : {}), ...(spec.overrides?.artifacts ?? {}) };
  env.WANDB_ARTIFACTS = JSON.stringify(artifacts);
  return env;
}
