import type { RunSpec } from "./run-spec.js";

/** Longest value of one env var before JSON is split into `<NAME>_0..N` (reference §7.10). */
export const ENV_SHARD_LIMIT = 32_670;
/** SageMaker's limit on one environment value. */
export const SAGEMAKER_ENV_SHARD_LIMIT = 512;

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
  /** Job reference for WANDB_ARTIFACTS `_wandb_job` when the run spec has no `job` (local jobs). */
  jobName?: string;
  /** Limit for sharding, smaller for SageMaker. */
  shardLimit?: number;
}

/**
 * JSON as Python's `json.dumps` writes it (`", "` and `": "` separators, non-ASCII escaped), so the
 * values — and where they are split into shards — match what W&B's agent passes to runs.
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return asciiOnly(JSON.stringify(value));
  if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : value > 0 ? "Infinity" : value < 0 ? "-Infinity" : "NaN";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) return `[${value.map((v) => pythonJson(v === undefined ? null : v)).join(", ")}]`;
  if (typeof value === "object") {
    const parts = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined && typeof v !== "function")
      .map(([k, v]) => `${asciiOnly(JSON.stringify(k))}: ${pythonJson(v)}`);
    return `{${parts.join(", ")}}`;
  }
  return "null";
}

function asciiOnly(json: string): string {
  return json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Set `name` to the JSON of `value`, or split it into `name_0..N` when it is longer than `limit`. */
export function shardedJson(name: string, value: unknown, limit = ENV_SHARD_LIMIT): Record<string, string> {
  const json = pythonJson(value);
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
  const overrideKey = spec._wandb_api_key || undefined;
  const apiKey = overrideKey ?? input.apiKey;
  if (apiKey) env.WANDB_API_KEY = apiKey;
  // The official agent lower-cases the target project.
  if (spec.project) env.WANDB_PROJECT = spec.project.toLowerCase();
  const entity = spec.entity || input.agentEntity;
  if (entity) env.WANDB_ENTITY = entity;
  env.WANDB_LAUNCH = "True";
  env.WANDB_RUN_ID = input.runId;
  if (input.dockerImage) env.WANDB_DOCKER = input.dockerImage;
  if (spec.name) env.WANDB_NAME = spec.name;
  // With someone else's key the run must not claim the pusher's name.
  if (spec.author && !overrideKey) env.WANDB_USERNAME = spec.author;
  if (spec.sweep_id) env.WANDB_SWEEP_ID = spec.sweep_id;
  if ((spec._resume_count ?? 0) > 0) env.WANDB_RESUME = "allow";
  if (input.queue) env.WANDB_LAUNCH_QUEUE_NAME = input.queue;
  if (input.agentEntity) env.WANDB_LAUNCH_QUEUE_ENTITY = input.agentEntity;
  if (input.itemId) env.WANDB_LAUNCH_TRACE_ID = input.itemId;
  const limit = input.shardLimit ?? ENV_SHARD_LIMIT;
  Object.assign(env, shardedJson("WANDB_CONFIG", spec.overrides?.run_config ?? {}, limit));
  Object.assign(env, shardedJson("WANDB_LAUNCH_FILE_OVERRIDES", spec.overrides?.files ?? {}, limit));
  // `_wandb_job` is the job reference exactly as the run spec wrote it; overrides.artifacts win.
  const job = spec.job ?? input.jobName;
  env.WANDB_ARTIFACTS = pythonJson({ ...(job ? { _wandb_job: job } : {}), ...(spec.overrides?.artifacts ?? {}) });
  return env;
}
