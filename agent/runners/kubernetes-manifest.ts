import type { V1Container, V1EnvVar, V1Job, V1SecurityContext } from "@kubernetes/client-node";
import { LaunchError } from "../errors.js";

/**
 * The batch/v1 Job a run becomes (reference §8.3), as a pure function of the queue's
 * `resource_args.kubernetes`, the run and the image. Everything network-facing lives elsewhere.
 */

export const RUN_ID_LABEL = "wandb.ai/run-id";
export const MONITOR_LABEL = "wandb.ai/monitor";
export const AGENT_LABEL = "wandb.ai/agent";
export const API_KEY_ENV = "WANDB_API_KEY";

/** Set on every container of every run: no privilege escalation, no capabilities, the runtime's seccomp profile. */
export function forcedSecurityContext(): V1SecurityContext {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } };
}

/** Keys the official agent reads from `resource_args.kubernetes` that are not part of a Job. */
const NON_JOB_KEYS = ["namespace", "builder", "configFile", "context"] as const;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Namespace precedence: `metadata.namespace` → `namespace` → the kube context's → `default` (§8.3). */
export function runNamespace(resourceArgs: Obj, contextNamespace: string | null): string {
  const fromMeta = isObj(resourceArgs.metadata) ? resourceArgs.metadata.namespace : undefined;
  for (const [value, key] of [
    [fromMeta, "resource_args.kubernetes.metadata.namespace"],
    [resourceArgs.namespace, "resource_args.kubernetes.namespace"],
  ] as const) {
    if (value === undefined || value === null || value === "") continue;
    if (typeof value !== "string") throw new LaunchError(`${key} must be a string, got ${typeof value}`, "run");
    return value;
  }
  return contextNamespace ?? "default";
}

/** A string made into a valid label value: allowed characters only, ≤ 63, alphanumeric at both ends. */
export function labelValue(s: string): string {
  return s
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/** Lower-case RFC 1123 label characters only, runs of anything else collapsed to one `-`. */
export function dnsPart(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/**
 * `launch-<entity>-<project>-` as the official agent forms it (`_` → `-`, lower case, then only
 * letters, `.` and `-` kept: digits are dropped too), cut so the server's 5-character suffix still
 * fits 63 (the official agent keeps 200 characters, which the API server refuses). Should that leave
 * an invalid name (a `.` at a cut or next to `-`), the parts are made DNS-safe instead.
 */
export function runGenerateName(entity: string | null | undefined, project: string | null | undefined): string {
  const official = `launch-${entity ?? "None"}-${project ?? "None"}-`.replace(/_/g, "-").toLowerCase().replace(/[^a-z.-]/g, "");
  const cut = official.length > 58 ? `${official.slice(0, 57)}-` : official;
  if (DNS_SUBDOMAIN.test(`${cut}abcde`)) return cut;
  const parts = ["launch", entity, project].filter((p): p is string => !!p).map(dnsPart).filter(Boolean);
  return `${parts.join("-").slice(0, 57).replace(/-+$/, "")}-`;
}

export interface RunJobInput {
  /** `resource_args.kubernetes` (already checked by checkKubernetesResourceArgs). */
  resourceArgs: Obj;
  runId: string;
  /** The agent's name, for the monitor labels. */
  agentName: string;
  entity?: string | null;
  project?: string | null;
  /** The image to run; null only when the manifest names its own. */
  image: string | null;
  /** Image jobs always run their image, even over one in resource_args. */
  imageJob: boolean;
  entrypoint: readonly string[];
  /** `overrides.args` (the only source of arguments); empty = keep the manifest's. */
  args: readonly string[];
  /** The run spec overrides the entrypoint: it replaces the commands resource_args set. */
  overrideEntrypoint: boolean;
  /** The run environment; a WANDB_API_KEY in it is never written as a value. */
  env: Readonly<Record<string, string>>;
  /** `regcred-<run id>` from the legacy registry block, added to imagePullSecrets; null for none. */
  pullSecret?: string | null;
  /** The Secret holding the API key (key `password`), or null when the run gets no key. */
  apiKeySecret: string | null;
  namespace: string;
}

/** Build the run's Job. Pure: the same input always gives the same object. */
export function buildRunJob(input: RunJobInput): V1Job {
  const raw = structuredClone(input.resourceArgs);
  const apiVersion = raw.apiVersion ?? "batch/v1";
  if (apiVersion !== "batch/v1" && apiVersion !== "batch/v1beta1") {
    // Custom resources go through buildCustomObject (kubernetes-custom.ts), never here.
    throw new LaunchError(`resource_args.kubernetes.apiVersion ${JSON.stringify(apiVersion)} is not a batch/v1 Job`, "run");
  }
  if (raw.kind !== undefined && raw.kind !== "Job") {
    throw new LaunchError(`resource_args.kubernetes.kind ${JSON.stringify(raw.kind)} is not supported: the kubernetes resource runs a batch/v1 Job (kind: Job)`, "run");
  }
  for (const k of NON_JOB_KEYS) delete raw[k];

  const metadata: Obj = isObj(raw.metadata) ? raw.metadata : {};
  const agent = labelValue(input.agentName) || "launch-agent";
  metadata.namespace = input.namespace;
  metadata.labels = {
    ...(isObj(metadata.labels) ? metadata.labels : {}),
    [RUN_ID_LABEL]: labelValue(input.runId),
    [MONITOR_LABEL]: "true",
    [AGENT_LABEL]: agent,
  };
  if (!metadata.name && !metadata.generateName) metadata.generateName = runGenerateName(input.entity, input.project);

  const spec: Obj = isObj(raw.spec) ? raw.spec : {};
  spec.backoffLimit ??= 0;
  spec.ttlSecondsAfterFinished ??= 60;
  const template: Obj = isObj(spec.template) ? spec.template : {};
  const tmeta: Obj = isObj(template.metadata) ? template.metadata : {};
  tmeta.labels = { ...(isObj(tmeta.labels) ? tmeta.labels : {}), [MONITOR_LABEL]: "true", [AGENT_LABEL]: agent };
  const pod: Obj = isObj(template.spec) ? template.spec : {};
  pod.restartPolicy ??= "Never";

  const given = Array.isArray(pod.containers) && pod.containers.length > 0 ? pod.containers : [{}];
  const containers = given.map((c, i): V1Container & Obj => {
    if (!isObj(c)) throw new LaunchError(`resource_args.kubernetes.spec.template.spec.containers[${i}] must be an object`, "run");
    const name = typeof c.name === "string" && c.name ? c.name : `launch${i}`;
    return { ...c, name };
  });
  const anyImage = containers.some((c) => typeof c.image === "string" && c.image);
  if (input.image && (input.imageJob || !anyImage)) containers[0]!.image = input.image;
  if (!containers.some((c) => typeof c.image === "string" && c.image)) {
    throw new LaunchError("the run has no image: the job was not built and resource_args.kubernetes names no container image", "run");
  }

  const env = runEnv(input.env, input.apiKeySecret);
  for (const c of containers) {
    if (input.entrypoint.length > 0 && (input.overrideEntrypoint || !c.command)) c.command = [...input.entrypoint];
    // Args come only from the run spec's overrides, and an empty list replaces nothing (official rule).
    if (input.args.length > 0) c.args = [...input.args];
    c.env = [...(Array.isArray(c.env) ? (c.env as V1EnvVar[]) : []), ...env];
    c.securityContext = forcedSecurityContext();
  }
  if (Array.isArray(pod.initContainers)) {
    pod.initContainers = pod.initContainers.map((c) => (isObj(c) ? { ...c, securityContext: forcedSecurityContext() } : c));
  }
  if (input.pullSecret) {
    // Appended: pull secrets the queue's manifest names keep working (the official agent replaces them).
    const given = Array.isArray(pod.imagePullSecrets) ? pod.imagePullSecrets : [];
    pod.imagePullSecrets = [...given, { name: input.pullSecret }];
  }
  pod.containers = containers;
  template.metadata = tmeta;
  template.spec = pod;
  spec.template = template;
  // The user's manifest is arbitrary JSON; the API server (and our tests' schema check) validate the result.
  return { ...raw, apiVersion: "batch/v1", kind: "Job", metadata, spec } as unknown as V1Job;
}

/** The run environment as container env: values for everything but the API key, which comes from its Secret. */
export function runEnv(env: Readonly<Record<string, string>>, apiKeySecret: string | null): V1EnvVar[] {
  const out: V1EnvVar[] = Object.entries(env)
    .filter(([name]) => name !== API_KEY_ENV)
    .map(([name, value]) => ({ name, value }));
  if (apiKeySecret) out.push({ name: API_KEY_ENV, valueFrom: { secretKeyRef: { name: apiKeySecret, key: "password" } } });
  return out;
}
