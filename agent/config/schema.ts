// The agent config schema: the single source of truth for what `launch-config.yaml` may contain.
// Mirrors the official pydantic model (reference §1.4, §1.5): strict top level, `builder` and
// `registry` open to extra keys, `environment` with a required (nullable) region. Where the official
// agent accepts a config that then fails *every* job (builder without type, environment without
// type, aws/gcp without region, bad destinations on a recognised cloud host), we reject it here
// instead: same config, earlier and clearer failure. Those differences are listed in the README.
import { z } from "zod";
import type { AgentConfig, BuilderConfig, EnvironmentConfig } from "./types.js";
import { checkRegistryUri, checkStorageUri } from "./uris.js";

export const BUILDER_TYPES = ["docker", "kaniko", "noop"] as const;
export const ENVIRONMENT_TYPES = ["aws", "gcp", "azure"] as const;
export const REGISTRY_TYPES = ["ecr", "acr", "gcr"] as const;
export const PLATFORMS = ["linux/amd64", "linux/arm64"] as const;

/** Builder keys the agent reads; all hyphenated (pydantic aliases in the official model). */
export const BUILDER_KEYS = [
  "type",
  "destination",
  "platform",
  "build-context-store",
  "build-job-name",
  "secret-name",
  "secret-key",
  "kaniko-image",
  "kaniko-config",
] as const;

const BUILDER_STRING_KEYS = BUILDER_KEYS.filter((k) => k !== "type" && k !== "kaniko-config");

/** Python-style listing used by pydantic: 'a', 'b' or 'c'. */
export function quoteChoices(values: readonly string[]): string {
  const q = values.map((v) => `'${v}'`);
  return q.length <= 1 ? q.join("") : `${q.slice(0, -1).join(", ")} or ${q.at(-1)}`;
}

// pydantic's lax mode turns numeric strings into ints ("5" → 5); the agent then uses the raw value
// with int(). Accept the same.
function laxInt(): z.ZodType<number, unknown> {
  return z.preprocess(
    (v) => (typeof v === "string" && /^\s*[-+]?\d+\s*$/.test(v) ? Number(v) : v),
    z.int(),
  ) as unknown as z.ZodType<number, unknown>;
}

/** max_jobs / max_schedulers: integers, -1 = unlimited, other negatives rejected (reference §1.4). */
function limit(key: string) {
  return laxInt().superRefine((v, ctx) => {
    if (v < -1) {
      ctx.addIssue({
        code: "custom",
        message: `Error when parsing LaunchAgent config key: ['${key}': ${v}]. Error: negative value. Use a whole number >= 0, or -1 for unlimited.`,
      });
    }
  });
}

// PyYAML (YAML 1.1) reads yes/no/on/off as booleans and pydantic accepts them; we parse YAML 1.2,
// so accept those spellings here to keep the same files valid.
const boolish = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const s = v.trim().toLowerCase();
  if (["true", "yes", "on"].includes(s)) return true;
  if (["false", "no", "off"].includes(s)) return false;
  return v;
}, z.boolean());

const optString = z.string().nullable().optional();

const destination = optString.superRefine((uri, ctx) => {
  if (typeof uri !== "string") return;
  const r = checkRegistryUri(uri);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.error });
});

const contextStore = optString.superRefine((uri, ctx) => {
  if (typeof uri !== "string") return;
  const r = checkStorageUri(uri);
  if (!r.ok) ctx.addIssue({ code: "custom", message: r.error });
});

// Kubernetes names the Job `<build-job-name>-<run id>`; a Job name is a DNS-1123 label (≤ 63).
const buildJobName = optString.superRefine((name, ctx) => {
  if (typeof name !== "string") return;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 50) {
    ctx.addIssue({
      code: "custom",
      message: `builder.build-job-name '${name}' cannot prefix a Kubernetes Job name: use at most 50 lowercase letters, digits and '-', starting and ending with a letter or digit (default wandb-launch-container-build).`,
    });
  }
});

function dropNulls<T extends Record<string, unknown>>(obj: T, keys: readonly string[]): T {
  const out: Record<string, unknown> = { ...obj };
  for (const k of keys) if (out[k] === null) delete out[k];
  return out as T;
}

/**
 * The one place that decides whether kaniko may run without builder.build-context-store. Kaniko
 * reads its build context from a bucket, or (the official agent's other option) from a
 * PersistentVolumeClaim the agent has mounted, named by WANDB_LAUNCH_KANIKO_PVC_NAME in the agent's
 * environment. Without either, every build would fail. Returns the error message, or null when fine.
 */
export function kanikoWithoutContextStore(b: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): string | null {
  if (b.type !== "kaniko") return null;
  const store = b["build-context-store"];
  if (store !== undefined && store !== null) return null; // a bad value gets the URI check's own message
  if (env.WANDB_LAUNCH_KANIKO_PVC_NAME) return null; // PVC mode
  return (
    "builder.type is kaniko but builder.build-context-store is not set: kaniko reads each build context from a bucket. " +
    "Set builder.build-context-store to s3://<bucket>/<prefix>, gs://<bucket>/<prefix> or https://<account>.blob.core.windows.net/<container> " +
    "(the Pulumi stacks create one and output it), or put build contexts on a PersistentVolumeClaim mounted in the agent " +
    "(WANDB_LAUNCH_KANIKO_PVC_NAME, WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH)."
  );
}

export const builderSchema = z
  .looseObject({
    type: z.enum(BUILDER_TYPES, { error: () => `Input should be ${quoteChoices(BUILDER_TYPES)}` }).nullable().optional(),
    destination,
    platform: z.enum(PLATFORMS, { error: () => `Input should be ${quoteChoices(PLATFORMS)}` }).nullable().optional(),
    "build-context-store": contextStore,
    "build-job-name": buildJobName,
    "secret-name": optString,
    "secret-key": optString,
    "kaniko-image": optString,
    // Read by the kaniko builder as a Kubernetes Job manifest fragment (reference §6.4).
    "kaniko-config": z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .superRefine((b, ctx) => {
    const hasAny = Object.keys(b).length > 0;
    if (hasAny && (b.type === undefined || b.type === null)) {
      ctx.addIssue({
        code: "custom",
        path: ["type"],
        message: `Could not create builder from config. Builder type not specified: set builder.type to ${quoteChoices(BUILDER_TYPES)}, or leave the builder block empty to use docker when a docker CLI works, else noop.`,
      });
    }
    const noStore = kanikoWithoutContextStore(b);
    if (noStore) ctx.addIssue({ code: "custom", path: ["build-context-store"], message: noStore });
    const name = b["secret-name"];
    const key = b["secret-key"];
    const hasName = typeof name === "string";
    const hasKey = typeof key === "string";
    if (hasName !== hasKey) {
      const [set, missing] = hasName ? ["secret-name", "secret-key"] : ["secret-key", "secret-name"];
      ctx.addIssue({
        code: "custom",
        path: [missing],
        message: `builder.${set} is set but builder.${missing} is not: set both (the Kubernetes Secret holding registry credentials and the key inside it) or neither.`,
      });
    }
  })
  .transform((b): BuilderConfig => {
    const out = dropNulls(b as Record<string, unknown>, [...BUILDER_STRING_KEYS, "type"]);
    return out as BuilderConfig;
  });

export const environmentSchema = z
  .looseObject({
    type: z
      .enum(ENVIRONMENT_TYPES, { error: () => `Input should be ${quoteChoices(ENVIRONMENT_TYPES)}` })
      .nullable()
      .optional(),
    // Required key, nullable value (reference §1.5.2; Azure ignores it).
    region: z.string().nullable(),
  })
  .superRefine((e, ctx) => {
    if (e.type === undefined || e.type === null) {
      ctx.addIssue({
        code: "custom",
        path: ["type"],
        message: `Could not create environment from config. Environment type not specified! Set environment.type to ${quoteChoices(ENVIRONMENT_TYPES)}, or remove the environment block.`,
      });
      return;
    }
    if (e.region === null && (e.type === "aws" || e.type === "gcp")) {
      const official =
        e.type === "aws" ? "Could not create AWS environment from config. Region not specified." : "Missing 'region' field.";
      ctx.addIssue({
        code: "custom",
        path: ["region"],
        message: `${official} The ${e.type} environment needs a region (e.g. ${e.type === "aws" ? "us-east-1" : "us-central1"}); only azure accepts region: null.`,
      });
    }
  })
  .transform((e): EnvironmentConfig => dropNulls(e as Record<string, unknown>, ["type"]) as EnvironmentConfig);

// Keys each legacy registry type accepts when the agent builds it (reference §1.5.3, §4.2).
const REGISTRY_ALLOWED: Record<(typeof REGISTRY_TYPES)[number], readonly string[]> = {
  ecr: ["uri", "type", "account_id", "region", "repo_name"],
  gcr: ["uri", "type", "repository", "image-name", "region", "project"],
  acr: ["uri", "type", "registry_name", "repo_name"],
};

function setOf(keys: Iterable<string>): string {
  return `{${[...keys].map((k) => `'${k}'`).join(", ")}}`;
}

export const registrySchema = z
  .looseObject({
    type: z.enum(REGISTRY_TYPES, { error: () => `Input should be ${quoteChoices(REGISTRY_TYPES)}` }).nullable().optional(),
    uri: destination,
  })
  .superRefine((r, ctx) => {
    const type = r.type;
    if (type === undefined || type === null) return;
    const keys = Object.keys(r);
    const has = (k: string) => r[k] !== undefined && r[k] !== null;
    if (type === "ecr") {
      const extra = keys.filter((k) => !REGISTRY_ALLOWED.ecr.includes(k));
      if (extra.length > 0) {
        ctx.addIssue({
          code: "custom",
          message: `The Elastic Container Registry config contains unsupported keys: ${setOf(extra)}. Please remove these keys. The acceptable keys are: ${setOf(REGISTRY_ALLOWED.ecr)}.`,
        });
      }
      const parts = ["account_id", "region", "repo_name"].filter(has);
      if (has("uri") ? parts.length > 0 : parts.length !== 3) {
        ctx.addIssue({
          code: "custom",
          message: "Either 'uri' or 'account_id', 'region', and 'repo_name' are required. Prefer builder.destination: <account-id>.dkr.ecr.<region>.amazonaws.com/<repository>.",
        });
      }
    } else if (type === "gcr") {
      const extra = keys.filter((k) => !REGISTRY_ALLOWED.gcr.includes(k));
      if (extra.length > 0) {
        ctx.addIssue({
          code: "custom",
          message: `The Google Artifact Registry config contains unsupported keys: ${setOf(extra)}. The acceptable keys are: ${setOf(REGISTRY_ALLOWED.gcr)}.`,
        });
      }
      const parts = ["repository", "image-name", "region"];
      if (has("uri") && (parts.some(has) || has("project"))) {
        ctx.addIssue({
          code: "custom",
          message: "The Google Artifact Registry must be specified with either the uri key or the repository, image-name, project and region keys, but not both.",
        });
      } else if (!has("uri")) {
        for (const p of parts.filter((k) => !has(k))) {
          ctx.addIssue({
            code: "custom",
            path: [p],
            message: `The Google Artifact Registry is missing the ${p} kwarg. Set registry.uri (or better builder.destination) to <region>-docker.pkg.dev/<project>/<repository>/<image>.`,
          });
        }
      }
    } else if (type === "acr") {
      if (!has("uri") && !(has("registry_name") && has("repo_name"))) {
        ctx.addIssue({
          code: "custom",
          path: ["uri"],
          message: "Please specify a registry name to use under the registry.uri (e.g. https://<registry-name>.azurecr.io/<repository>).",
        });
      }
    }
    // The uri must be of the declared type, or the agent fails every job building the registry.
    if (typeof r.uri === "string") {
      const c = checkRegistryUri(r.uri);
      const expected = { ecr: "ecr", gcr: "gar", acr: "acr" }[type];
      if (c.ok && c.registry.kind !== expected) {
        ctx.addIssue({
          code: "custom",
          path: ["uri"],
          message: `The uri ${r.uri} is invalid for registry.type ${type}: it is ${c.registry.kind === "anonymous" ? "not a recognised cloud registry" : `a ${c.registry.kind} registry`}.`,
        });
      }
    }
  });

const topLevelShape = {
  /** Owner of the queues and the agent; null/absent = the API key's default entity. */
  entity: z.string().nullable().optional(),
  queues: z.array(z.string().min(1, { error: () => "A queue name must not be empty" })).default([]),
  max_jobs: limit("max_jobs").default(1),
  max_schedulers: limit("max_schedulers").default(1),
  secure_mode: boolish.optional(),
  verbosity: laxInt().default(0),
  stopped_run_timeout: laxInt()
    .superRefine((v, ctx) => {
      if (v < 0) ctx.addIssue({ code: "custom", message: `stopped_run_timeout must be >= 0 seconds, got ${v}.` });
    })
    .optional(),
  registry: registrySchema.nullable().optional(),
  environment: environmentSchema.nullable().optional(),
  builder: builderSchema.nullable().optional(),
};

/** The agent config document (after YAML parsing). Unknown top-level keys are rejected. */
export const agentConfigSchema = z.strictObject(topLevelShape);

export type AgentConfigDocument = z.output<typeof agentConfigSchema>;

/** The accepted top-level keys, in documentation order. */
export const TOP_LEVEL_KEYS = Object.keys(topLevelShape) as (keyof typeof topLevelShape)[];

// Compile-time guard: the schema's output must satisfy the contract other modules build against.
const _outputFitsContract = (c: AgentConfigDocument): AgentConfig => c;
void _outputFitsContract;
