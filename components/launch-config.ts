// Renders the agent's launch-config.yaml from a launch environment's outputs. The document is parsed with the
// agent's own schema (agent/config), so the infrastructure can never ship a config the agent rejects or warns
// about: both are errors here, found at `pulumi preview`/`npm run render` time instead of in a crash-looping pod.
import * as pulumi from "@pulumi/pulumi";
import { stringify } from "yaml";
import { kanikoJob } from "../agent/builders/kaniko-manifest.js";
import { unrecognizedRegistryWarning, validateAgentConfig } from "../agent/config/index.js";
import type { LaunchEnvironmentOutputs } from "./types.js";

/** Agent settings that come from the stack config rather than from the cloud. */
export interface LaunchConfigSettings {
  /** Launch queues the agent polls (at least one). */
  queues: string[];
  /** W&B entity that owns the queues. Default: the API key's default entity. */
  entity?: string;
  /** Concurrent jobs; -1 for unlimited. Default 1 (the agent's default). */
  maxJobs?: number;
  /** Concurrent sweep schedulers; -1 for unlimited. Default 1. */
  maxSchedulers?: number;
  /** Agent log verbosity (0, 1, 2). Default 0. */
  verbosity?: number;
  /** `builder.kaniko-image`: the kaniko executor image. Default: the agent's built-in default. */
  kanikoImage?: string;
  /** `builder.build-job-name`: prefix of kaniko build Jobs. Default: the agent's. */
  buildJobName?: string;
  /** `builder.kaniko-config`: a Job manifest fragment merged into every kaniko build Job. */
  kanikoConfig?: Record<string, unknown>;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Deep merge of two Job fragments: objects merge key by key, `containers` merge element by element (kaniko has
 * one container), other lists are concatenated (env, volumes), and a scalar of `b` replaces one of `a`.
 */
function mergeFragments(a: unknown, b: unknown, key = ""): unknown {
  if (isObj(a) && isObj(b)) {
    const out: Obj = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = k in a ? mergeFragments(a[k], v, k) : v;
    return out;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (key !== "containers") return [...a, ...b];
    return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => (i < a.length && i < b.length ? mergeFragments(a[i], b[i]) : (a[i] ?? b[i])));
  }
  return b;
}

export interface KanikoConfigParts {
  /** The stack's `kanikoConfig` setting, as the operator wrote it. */
  user?: Record<string, unknown>;
  /** What the launch environment needs in every build pod (e.g. the S3 credentials of the `kubernetes` kind). */
  environment?: Record<string, unknown>;
  /** Stack-wide labels for the build Job and its pod. */
  labels?: Record<string, string>;
}

/**
 * `builder.kaniko-config` for the generated launch config: the operator's fragment, plus what the environment
 * needs, plus the stack's labels, and always `automountServiceAccountToken: false` so that build pods get no
 * Kubernetes API token even when the official agent image (which does not force it) runs this config.
 */
export function composeKanikoConfig(p: KanikoConfigParts): Record<string, unknown> {
  const labels = p.labels && Object.keys(p.labels).length > 0 ? p.labels : undefined;
  const stackPart = labels ? { metadata: { labels }, spec: { template: { metadata: { labels } } } } : {};
  const merged = [p.user ?? {}, p.environment ?? {}, stackPart, { spec: { template: { spec: { automountServiceAccountToken: false } } } }].reduce(
    (acc: unknown, part) => mergeFragments(acc, part),
    {},
  );
  return merged as Record<string, unknown>;
}

/** Everything the renderer needs, as plain values. */
export interface LaunchConfigInputs extends LaunchConfigSettings {
  /** `environment.type`; undefined writes no environment block. */
  environmentType: "aws" | "gcp" | "azure" | undefined;
  /** `environment.region`; forced to null on Azure (the key must exist, the value is ignored). */
  region: string | null;
  /** `builder.destination`: repository URI without tag. */
  destination: string;
  /** `builder.build-context-store`. */
  buildContextStore: string;
  /**
   * The destination is a registry the agent has no built-in support for (the `kubernetes` stack kind). The agent
   * then warns that pushing is the operator's responsibility; that one warning is expected and accepted.
   */
  genericRegistry?: boolean;
}

/** The launch-config document, keys in the order the official docs show them. */
export function buildLaunchConfig(i: LaunchConfigInputs): Record<string, unknown> {
  const doc: Record<string, unknown> = { queues: [...i.queues] };
  if (i.entity !== undefined) doc.entity = i.entity;
  doc.max_jobs = i.maxJobs ?? 1;
  doc.max_schedulers = i.maxSchedulers ?? 1;
  if (i.environmentType !== undefined) {
    doc.environment = { type: i.environmentType, region: i.environmentType === "azure" ? null : i.region };
  }
  const builder: Record<string, unknown> = {
    type: "kaniko",
    destination: i.destination,
    "build-context-store": i.buildContextStore,
  };
  if (i.buildJobName !== undefined) builder["build-job-name"] = i.buildJobName;
  if (i.kanikoImage !== undefined) builder["kaniko-image"] = i.kanikoImage;
  if (i.kanikoConfig !== undefined) builder["kaniko-config"] = i.kanikoConfig;
  doc.builder = builder;
  if (i.verbosity !== undefined) doc.verbosity = i.verbosity;
  return doc;
}

/** Thrown when the generated config would be rejected (or warned about) by the agent. */
export class LaunchConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[],
  ) {
    super(message);
    this.name = "LaunchConfigError";
  }
}

/**
 * Renders launch-config.yaml and validates it with the agent's schema. Throws LaunchConfigError listing every
 * error and every warning (each naming the config field).
 */
export function renderLaunchConfig(inputs: LaunchConfigInputs): string {
  if (inputs.queues.length === 0) {
    throw new LaunchConfigError(
      "The launch config needs at least one queue: set wandb-launch:queues (e.g. pulumi config set --path 'wandb-launch:queues[0]' my-queue).",
      ["queues: empty"],
    );
  }
  const doc = buildLaunchConfig(inputs);
  const result = validateAgentConfig(doc);
  const accepted = inputs.genericRegistry ? new Set([unrecognizedRegistryWarning(inputs.destination)]) : new Set<string>();
  const problems = [
    ...result.errors.map((e) => `${e.path || "(document)"}: ${e.message}`),
    ...result.warnings.filter((w) => !accepted.has(w)).map((w) => `warning: ${w}`),
    ...kanikoConfigProblems(inputs),
  ];
  if (!result.valid || problems.length > 0) {
    throw new LaunchConfigError(
      `The generated launch-config.yaml does not pass the agent's validation:\n  ${problems.join("\n  ")}`,
      problems,
    );
  }
  return stringify(doc, { lineWidth: 0 });
}

/**
 * Builds one kaniko Job from `fragment` with the agent's own code: the message the agent would fail every build
 * with, or undefined when the fragment is usable.
 */
export function kanikoConfigProblem(fragment: unknown): string | undefined {
  try {
    kanikoJob({
      jobName: "check",
      namespace: "check",
      serviceAccountName: "check",
      kanikoImage: "kaniko",
      kanikoConfig: fragment,
      context: "s3://check/context.tgz",
      destination: "registry.example.com/check:tag",
      repositoryUri: "registry.example.com/check",
      registryKind: "anonymous",
    });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function kanikoConfigProblems(i: LaunchConfigInputs): string[] {
  const problem = i.kanikoConfig === undefined ? undefined : kanikoConfigProblem(i.kanikoConfig);
  return problem === undefined ? [] : [`builder.kaniko-config: ${problem}`];
}

/**
 * A queue config (the `resource_args` of a W&B queue) as YAML comments appended to launch-config.yaml: the
 * agent ignores them; the operator copies them into the queue's config in the W&B UI.
 */
export function queueConfigComment(queueConfig: Record<string, unknown>): string {
  const resources = Object.keys(queueConfig).join(", ");
  const body = stringify(queueConfig, { lineWidth: 0 }).trimEnd().split("\n").map((l) => `#   ${l}`);
  return [`# Queue config for resource ${resources} (paste into the queue's config in the W&B UI):`, ...body].join("\n") + "\n";
}

/** `renderLaunchConfig` over a launch environment's Outputs (plus the queue configs of enabled managed runners). */
export function launchConfigOutput(
  env: LaunchEnvironmentOutputs,
  settings: LaunchConfigSettings,
  opts: { genericRegistry?: boolean; queueConfig?: pulumi.Output<Record<string, unknown>> } = {},
): pulumi.Output<string> {
  return pulumi
    .all([env.region, env.destination, env.buildContextStore, opts.queueConfig ?? pulumi.output(undefined)])
    .apply(([region, destination, buildContextStore, queueConfig]) => {
      const yaml = renderLaunchConfig({
        ...settings,
        environmentType: env.environmentType,
        region,
        destination,
        buildContextStore,
        genericRegistry: opts.genericRegistry,
      });
      return queueConfig ? `${yaml}\n${queueConfigComment(queueConfig)}` : yaml;
    });
}
