import { describe, expect, it } from "vitest";
import { buildRunEnv, ENV_SHARD_LIMIT, pythonJson, SAGEMAKER_ENV_SHARD_LIMIT, shardedJson, type RunEnvInput } from "../../../agent/jobs/run-env.js";
import { RunSpecSchema } from "../../../agent/jobs/run-spec.js";

/** A run config whose Python-style JSON is well over two shards long. */
function bigConfig(): Record<string, unknown> {
  const config: Record<string, unknown> = { lr: 0.001, name: "résumé", layers: [64, 128] };
  for (let i = 0; i < 1500; i++) config[`param_${i}`] = `value-${"x".repeat(40)}-${i}`;
  return config;
}

const input = (spec: Record<string, unknown>, over: Partial<RunEnvInput> = {}): RunEnvInput => ({
  runSpec: RunSpecSchema.parse(spec),
  runId: "run00001",
  queue: "gpu-queue",
  agentEntity: "agent-ent",
  itemId: "UnVuUXVldWVJdGVtOjE=",
  baseUrl: "https://api.wandb.ai",
  apiKey: "agent-key",
  jobName: "ignored-when-spec-has-job",
  ...over,
});

describe("buildRunEnv (reference §7.10)", () => {
  it("sets the full table for a W&B job with a large (sharded) run config", () => {
    const config = bigConfig();
    const spec = {
      job: "ent/Proj/job-x:latest",
      entity: "ent",
      project: "MyProj",
      name: "nice-run",
      author: "alice",
      sweep_id: "sw123",
      _resume_count: 1,
      overrides: { run_config: config, files: { "config.yaml": "a: 1" }, artifacts: { dataset: "ent/Proj/data:v2" } },
    };
    const env = buildRunEnv(input(spec, { dockerImage: "reg.example/img:abc" }));
    const json = pythonJson(config);
    const shards = Math.ceil(json.length / ENV_SHARD_LIMIT);
    expect(shards).toBeGreaterThanOrEqual(3);
    const expected: Record<string, string> = {
      WANDB_BASE_URL: "https://api.wandb.ai",
      WANDB_API_KEY: "agent-key",
      WANDB_PROJECT: "myproj",
      WANDB_ENTITY: "ent",
      WANDB_LAUNCH: "True",
      WANDB_RUN_ID: "run00001",
      WANDB_DOCKER: "reg.example/img:abc",
      WANDB_NAME: "nice-run",
      WANDB_USERNAME: "alice",
      WANDB_SWEEP_ID: "sw123",
      WANDB_RESUME: "allow",
      WANDB_LAUNCH_QUEUE_NAME: "gpu-queue",
      WANDB_LAUNCH_QUEUE_ENTITY: "agent-ent",
      WANDB_LAUNCH_TRACE_ID: "UnVuUXVldWVJdGVtOjE=",
      WANDB_LAUNCH_FILE_OVERRIDES: '{"config.yaml": "a: 1"}',
      WANDB_ARTIFACTS: '{"_wandb_job": "ent/Proj/job-x:latest", "dataset": "ent/Proj/data:v2"}',
    };
    for (let i = 0; i < shards; i++) expected[`WANDB_CONFIG_${i}`] = json.slice(i * ENV_SHARD_LIMIT, (i + 1) * ENV_SHARD_LIMIT);
    expect(env).toEqual(expected);
    expect(env.WANDB_CONFIG).toBeUndefined();
    // Every shard but the last is exactly at the limit; together they are the config.
    for (let i = 0; i < shards - 1; i++) expect(env[`WANDB_CONFIG_${i}`]!.length).toBe(32_670);
    const joined = Array.from({ length: shards }, (_, i) => env[`WANDB_CONFIG_${i}`]).join("");
    expect(JSON.parse(joined)).toEqual(config);
    expect(joined).toContain('"name": "r\\u00e9sum\\u00e9"'); // Python json.dumps: ensure_ascii
  });

  it("a config exactly at the limit stays in one variable; one character more is sharded", () => {
    const pad = (n: number) => ({ k: "x".repeat(n - '{"k": ""}'.length) });
    expect(pythonJson(pad(ENV_SHARD_LIMIT)).length).toBe(ENV_SHARD_LIMIT);
    expect(Object.keys(shardedJson("WANDB_CONFIG", pad(ENV_SHARD_LIMIT)))).toEqual(["WANDB_CONFIG"]);
    expect(Object.keys(shardedJson("WANDB_CONFIG", pad(ENV_SHARD_LIMIT + 1)))).toEqual(["WANDB_CONFIG_0", "WANDB_CONFIG_1"]);
  });

  it("shards file overrides at SageMaker's 512-character limit", () => {
    const files = { "big.txt": "y".repeat(1200) };
    const env = buildRunEnv(input({ job: "e/p/j:v1", entity: "e", project: "p", overrides: { files } }, { shardLimit: SAGEMAKER_ENV_SHARD_LIMIT }));
    expect(Object.keys(env).filter((k) => k.startsWith("WANDB_LAUNCH_FILE_OVERRIDES"))).toEqual([
      "WANDB_LAUNCH_FILE_OVERRIDES_0",
      "WANDB_LAUNCH_FILE_OVERRIDES_1",
      "WANDB_LAUNCH_FILE_OVERRIDES_2",
    ]);
    expect(env.WANDB_CONFIG).toBe("{}");
  });

  it("an API-key override wins and suppresses WANDB_USERNAME", () => {
    const env = buildRunEnv(input({ job: "e/p/j:v1", entity: "e", project: "p", author: "bob", _wandb_api_key: "pusher-key" }));
    expect(env.WANDB_API_KEY).toBe("pusher-key");
    expect(env.WANDB_USERNAME).toBeUndefined();
  });

  it("leaves out what the spec does not give, and merges overrides.artifacts over _wandb_job", () => {
    const env = buildRunEnv(input({ entity: "e", overrides: { artifacts: { _wandb_job: "other", d: "x" } } }, { jobName: "local-job" }));
    for (const k of ["WANDB_PROJECT", "WANDB_NAME", "WANDB_USERNAME", "WANDB_SWEEP_ID", "WANDB_RESUME", "WANDB_DOCKER"]) expect(env[k]).toBeUndefined();
    expect(env.WANDB_ARTIFACTS).toBe('{"_wandb_job": "other", "d": "x"}');
    expect(buildRunEnv(input({ entity: "e" }, { jobName: "local-job" })).WANDB_ARTIFACTS).toBe('{"_wandb_job": "local-job"}');
    expect(buildRunEnv(input({}, { agentEntity: "agent-ent" })).WANDB_ENTITY).toBe("agent-ent");
  });
});

describe("pythonJson", () => {
  it("writes what Python's json.dumps writes", () => {
    expect(pythonJson({ a: 1, b: [1, 2.5, null, true], c: { d: "é\n\"" }, e: "😀" })).toBe(
      '{"a": 1, "b": [1, 2.5, null, true], "c": {"d": "\\u00e9\\n\\""}, "e": "\\ud83d\\ude00"}',
    );
    expect(pythonJson({})).toBe("{}");
    expect(pythonJson([])).toBe("[]");
  });
});
