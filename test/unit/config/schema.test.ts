import { describe, expect, it } from "vitest";
import {
  assertValidAgentConfig,
  ConfigError,
  formatIssueLine,
  parseAgentConfig,
  TOP_LEVEL_KEYS,
  validateAgentConfig,
  type ConfigIssue,
} from "../../../agent/config/index.js";
import { kanikoWithoutContextStore } from "../../../agent/config/schema.js";

const paths = (errors: ConfigIssue[]) => errors.map((e) => e.path).sort();
const messageAt = (errors: ConfigIssue[], path: string) => errors.find((e) => e.path === path)?.message ?? "";

describe("top level", () => {
  it("accepts every documented key and applies the schema defaults", () => {
    expect(TOP_LEVEL_KEYS).toEqual([
      "entity",
      "queues",
      "max_jobs",
      "max_schedulers",
      "secure_mode",
      "verbosity",
      "stopped_run_timeout",
      "registry",
      "environment",
      "builder",
    ]);
    const full = {
      entity: "team",
      queues: ["a"],
      max_jobs: 3,
      max_schedulers: -1,
      secure_mode: false,
      verbosity: 1,
      stopped_run_timeout: 30,
      registry: {},
      environment: { type: "aws", region: "us-east-1" },
      builder: { type: "noop" },
    };
    expect(parseAgentConfig(full)).toEqual({ valid: true, errors: [], warnings: [], config: full });
    expect(parseAgentConfig({}).config).toEqual({ queues: [], max_jobs: 1, max_schedulers: 1, verbosity: 0 });
    expect(parseAgentConfig(null).valid).toBe(true);
  });

  it("rejects unknown keys, one issue per key, with the fix for the common ones", () => {
    const r = validateAgentConfig({ base_url: "https://x", api_key: "sk-SECRET-VALUE-1234", project: "p", queue: "q", runner: "k8s", maxJobs: 2, colour: 1 });
    expect(r.valid).toBe(false);
    expect(paths(r.errors)).toEqual(["api_key", "base_url", "colour", "maxJobs", "project", "queue", "runner"]);
    for (const e of r.errors) expect(e.message).toMatch(/^Extra inputs are not permitted: '[^']+' is not an agent config key\./);
    expect(messageAt(r.errors, "base_url")).toContain("WANDB_BASE_URL");
    expect(messageAt(r.errors, "api_key")).toContain("WANDB_API_KEY");
    expect(messageAt(r.errors, "queue")).toContain("queues: [");
    expect(messageAt(r.errors, "runner")).toContain("per queue");
    expect(messageAt(r.errors, "maxJobs")).toContain("Did you mean max_jobs?");
    expect(messageAt(r.errors, "colour")).toContain("Accepted keys: entity, queues,");
    // Values of unknown keys may be secrets: never echoed.
    expect(JSON.stringify(r)).not.toContain("SECRET");
  });

  it("requires a mapping", () => {
    for (const doc of [["a"], "text", 3]) {
      const r = validateAgentConfig(doc);
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.path).toBe("");
      expect(r.errors[0]!.message).toContain("Input should be a mapping");
    }
  });

  it("max_jobs and max_schedulers: ints, -1 unlimited, other negatives rejected with the official text", () => {
    expect(validateAgentConfig({ max_jobs: -1, max_schedulers: -1 }).valid).toBe(true);
    const neg = validateAgentConfig({ max_jobs: -2, max_schedulers: -7 });
    expect(messageAt(neg.errors, "max_jobs")).toMatch(/^Error when parsing LaunchAgent config key: \['max_jobs': -2\]\. Error: negative value\./);
    expect(messageAt(neg.errors, "max_schedulers")).toContain("['max_schedulers': -7]");
    const bad = validateAgentConfig({ max_jobs: 1.5, max_schedulers: "many" });
    expect(messageAt(bad.errors, "max_jobs")).toBe("Input should be a valid integer, got 1.5. max_jobs accepts a whole number; -1 means unlimited.");
    expect(messageAt(bad.errors, "max_schedulers")).toContain("got 'many'");
    expect(validateAgentConfig({ max_jobs: true }).valid).toBe(false);
    // pydantic lax mode: numeric strings are integers.
    expect(parseAgentConfig({ max_jobs: "5", verbosity: "2" }).config).toMatchObject({ max_jobs: 5, verbosity: 2 });
    expect(validateAgentConfig({ max_jobs: 0 }).warnings).toEqual([expect.stringContaining("never start a job")]);
  });

  it("types of the other scalar keys", () => {
    const r = validateAgentConfig({ entity: 3, queues: ["a", 2, ""], secure_mode: "maybe", verbosity: null, stopped_run_timeout: -1 });
    expect(paths(r.errors)).toEqual(["entity", "queues.1", "queues.2", "secure_mode", "stopped_run_timeout", "verbosity"]);
    expect(messageAt(r.errors, "queues.1")).toBe("Input should be a valid string, got 2. Each entry of queues must be a queue name.");
    expect(messageAt(r.errors, "secure_mode")).toContain("got 'maybe'");
    expect(validateAgentConfig({ queues: null }).errors[0]!.message).toContain("Input should be a valid list, got null");
    // YAML 1.1 booleans, as PyYAML reads them.
    expect(parseAgentConfig({ secure_mode: "yes" }).config?.secure_mode).toBe(true);
    expect(parseAgentConfig({ secure_mode: "off" }).config?.secure_mode).toBe(false);
    expect(validateAgentConfig({ queues: ["a", "a"] }).warnings).toEqual(["Queue a is listed more than once in queues."]);
  });
});

describe("builder", () => {
  it("empty or null means none configured; a non-empty block needs a type", () => {
    expect(validateAgentConfig({ builder: {} }).valid).toBe(true);
    expect(validateAgentConfig({ builder: null }).valid).toBe(true);
    const r = validateAgentConfig({ builder: { platform: "linux/amd64" } });
    expect(paths(r.errors)).toEqual(["builder.type"]);
    expect(r.errors[0]!.message).toContain("Could not create builder from config. Builder type not specified");
  });

  it("type and platform enums name the bad value and the choices", () => {
    const r = validateAgentConfig({ builder: { type: "podman", platform: "linux/ppc64le" } });
    expect(messageAt(r.errors, "builder.type")).toBe("Input should be 'docker', 'kaniko' or 'noop', got 'podman'.");
    expect(messageAt(r.errors, "builder.platform")).toBe("Input should be 'linux/amd64' or 'linux/arm64', got 'linux/ppc64le'.");
  });

  it("kaniko needs build-context-store unless the agent has a PVC for contexts (WANDB_LAUNCH_KANIKO_PVC_NAME)", () => {
    const b = { type: "kaniko", destination: "r.io/a" };
    expect(kanikoWithoutContextStore(b, {})).toMatch(/build-context-store is not set.*WANDB_LAUNCH_KANIKO_PVC_NAME/);
    expect(kanikoWithoutContextStore(b, { WANDB_LAUNCH_KANIKO_PVC_NAME: "contexts" })).toBeNull();
    const before = process.env.WANDB_LAUNCH_KANIKO_PVC_NAME;
    try {
      process.env.WANDB_LAUNCH_KANIKO_PVC_NAME = "contexts";
      expect(validateAgentConfig({ builder: b }).valid).toBe(true);
      delete process.env.WANDB_LAUNCH_KANIKO_PVC_NAME;
      expect(validateAgentConfig({ builder: b }).valid).toBe(false);
    } finally {
      if (before === undefined) delete process.env.WANDB_LAUNCH_KANIKO_PVC_NAME;
      else process.env.WANDB_LAUNCH_KANIKO_PVC_NAME = before;
    }
  });

  it("validates destination and build-context-store", () => {
    const r = validateAgentConfig({
      builder: { type: "kaniko", destination: "us-docker.pkg.dev/p/r", "build-context-store": "azure://x" },
    });
    expect(paths(r.errors)).toEqual(["builder.build-context-store", "builder.destination"]);
    expect(messageAt(r.errors, "builder.destination")).toContain("An image name must be specified");
    expect(messageAt(r.errors, "builder.build-context-store")).toContain("Invalid build context store.");
    const anon = validateAgentConfig({ builder: { type: "docker", destination: "registry.internal:5000/app" } });
    expect(anon.valid).toBe(true);
    expect(anon.warnings).toEqual([
      "Unable to recognize registry type in URI registry.internal:5000/app. You are responsible for ensuring the agent can push images to this registry.",
    ]);
  });

  it("secret-name and secret-key: both or neither", () => {
    expect(validateAgentConfig({ builder: { type: "kaniko", "secret-name": "s", "secret-key": "k", "build-context-store": "s3://abc", destination: "r.io/a" } }).valid).toBe(true);
    expect(paths(validateAgentConfig({ builder: { type: "kaniko", "build-context-store": "s3://abc", "secret-name": "s" } }).errors)).toEqual(["builder.secret-key"]);
    expect(paths(validateAgentConfig({ builder: { type: "kaniko", "build-context-store": "s3://abc", "secret-key": "k" } }).errors)).toEqual(["builder.secret-name"]);
  });

  it("kaniko-config must be a mapping; string keys must be strings", () => {
    const r = validateAgentConfig({ builder: { type: "kaniko", "kaniko-config": ["--cache=false"], "kaniko-image": 5 } });
    expect(paths(r.errors)).toEqual(["builder.kaniko-config", "builder.kaniko-image"]);
    expect(messageAt(r.errors, "builder.kaniko-config")).toContain("Job manifest fragment");
  });

  it("allows other keys, warning about spellings the builders would ignore", () => {
    const r = validateAgentConfig({
      builder: { type: "docker", build_context_store: "s3://b", kanikoImage: "x", uri: "r.io/a", destinaton: "r.io/a", credentials: {} },
    });
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([
      "builder.build_context_store is ignored: builder keys are spelled with hyphens. Rename it to build-context-store.",
      "builder.kanikoImage is ignored: builder keys are spelled with hyphens. Rename it to kaniko-image.",
      "builder.uri is ignored: the builders read builder.destination. Rename uri to destination.",
      "builder.destinaton is not a key the agent reads and is ignored. Did you mean destination?",
    ]);
  });

  it("rejects kaniko without a build-context-store, naming the key and the fix (PVC mode is not implemented)", () => {
    for (const store of [undefined, null]) {
      const r = validateAgentConfig({ builder: { type: "kaniko", destination: "r.io/a", "build-context-store": store } });
      expect(r.valid).toBe(false);
      expect(paths(r.errors)).toEqual(["builder.build-context-store"]);
      expect(messageAt(r.errors, "builder.build-context-store")).toMatch(/s3:\/\/<bucket>.*gs:\/\/<bucket>.*blob\.core\.windows\.net.*PersistentVolumeClaim/);
    }
    expect(validateAgentConfig({ builder: { type: "docker" } }).valid).toBe(true);
  });

  it("warns about kaniko without destination, platform without docker, pod-shaped kaniko-config", () => {
    const r = validateAgentConfig({ builder: { type: "kaniko", "build-context-store": "s3://abc", platform: "linux/arm64", "kaniko-config": { spec: { containers: [] } } } });
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([
      expect.stringContaining("builder.platform only applies to the docker builder"),
      expect.stringContaining("builder.destination is not set"),
      expect.stringContaining("looks like a pod spec"),
    ]);
  });
});

describe("environment", () => {
  it("region is a required key but may be null for azure", () => {
    const missing = validateAgentConfig({ environment: { type: "azure" } });
    expect(missing.errors).toEqual([{ path: "environment.region", message: expect.stringMatching(/^Field required\./) }]);
    expect(validateAgentConfig({ environment: { type: "azure", region: null } }).valid).toBe(true);
    for (const type of ["aws", "gcp"]) {
      const r = validateAgentConfig({ environment: { type, region: null } });
      expect(paths(r.errors)).toEqual(["environment.region"]);
    }
    expect(messageAt(validateAgentConfig({ environment: { type: "aws", region: null } }).errors, "environment.region")).toContain(
      "Could not create AWS environment from config. Region not specified.",
    );
  });

  it("type: aws, gcp or azure; missing type fails", () => {
    const local = validateAgentConfig({ environment: { type: "local", region: null } });
    expect(local.errors).toEqual([{ path: "environment.type", message: "Input should be 'aws', 'gcp' or 'azure', got 'local'." }]);
    expect(messageAt(validateAgentConfig({ environment: { region: "x" } }).errors, "environment.type")).toContain(
      "Environment type not specified!",
    );
  });

  it("other keys are warnings with the official text", () => {
    const r = validateAgentConfig({ environment: { type: "gcp", region: "us-central1", project: "p" } });
    expect(r).toEqual({ valid: true, errors: [], warnings: ["Unrecognized field project in environment block. Please check your config file."] });
  });
});

describe("legacy registry block", () => {
  it("is accepted with a deprecation warning pointing to builder.destination", () => {
    const r = validateAgentConfig({ registry: { type: "ecr", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/r" } });
    expect(r.valid).toBe(true);
    expect(r.warnings).toEqual([expect.stringMatching(/^The registry block is deprecated: set builder.destination/)]);
    expect(validateAgentConfig({ registry: {} }).warnings).toEqual([]);
  });

  it("checks keys per type like the agent does when it builds the registry", () => {
    const ecr = validateAgentConfig({ registry: { type: "ecr", uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/r", repository: "r" } });
    expect(messageAt(ecr.errors, "registry")).toBe(
      "The Elastic Container Registry config contains unsupported keys: {'repository'}. Please remove these keys. The acceptable keys are: {'uri', 'type', 'account_id', 'region', 'repo_name'}.",
    );
    expect(validateAgentConfig({ registry: { type: "ecr", account_id: "1", region: "r", repo_name: "n" } }).valid).toBe(true);
    expect(messageAt(validateAgentConfig({ registry: { type: "ecr", account_id: "1" } }).errors, "registry")).toContain(
      "Either 'uri' or 'account_id', 'region', and 'repo_name' are required.",
    );
    const gcr = validateAgentConfig({ registry: { type: "gcr", repository: "r" } });
    expect(paths(gcr.errors)).toEqual(["registry.image-name", "registry.region"]);
    expect(paths(validateAgentConfig({ registry: { type: "acr" } }).errors)).toEqual(["registry.uri"]);
    expect(paths(validateAgentConfig({ registry: { type: "gcr", uri: "reg.azurecr.io/x" } }).errors)).toEqual(["registry.uri"]);
    expect(messageAt(validateAgentConfig({ registry: { type: "local" } }).errors, "registry.type")).toBe(
      "Input should be 'ecr', 'acr' or 'gcr', got 'local'.",
    );
  });
});

describe("errors", () => {
  it("assertValidAgentConfig throws one ConfigError listing every issue in the official line format", () => {
    let caught: unknown;
    try {
      assertValidAgentConfig({ builder: { type: "x" }, max_jobs: -3 }, "generated.yaml");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const e = caught as ConfigError;
    expect(paths(e.issues)).toEqual(["builder.type", "max_jobs"]);
    expect(e.message).toContain("Invalid launch agent config (generated.yaml)");
    expect(e.message).toContain("Agent config error in field builder.type: Input should be 'docker', 'kaniko' or 'noop', got 'x'.");
    expect(formatIssueLine({ path: "", message: "m" })).toBe("m");
  });
});
