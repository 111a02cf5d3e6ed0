import { LaunchError } from "../errors.js";
import { AGENT_LABEL, API_KEY_ENV, forcedSecurityContext, labelValue, MONITOR_LABEL, runEnv, runGenerateName } from "./kubernetes-manifest.js";

/**
 * Custom resources (reference §8.3): a `resource_args.kubernetes` whose apiVersion is not batch/v1
 * (Volcano `Job`, `JobSet`, Kubeflow `PyTorchJob`, …) is created through the custom-objects API,
 * completed the way the official agent completes it: labels on the object and on every pod template,
 * the run environment on every container, the run spec's overrides, the agent's securityContext.
 * Pure functions; the runner does the network.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Which API a custom object goes to: `/apis/<group>/<version>/namespaces/<ns>/<plural>`. */
export interface CustomResourceRef {
  group: string;
  version: string;
  kind: string;
  plural: string;
}

/**
 * The custom resource the manifest asks for, or null for a batch Job. As in the official agent the
 * group and version come from `apiVersion` (or the `group`/`version` keys), the plural is the
 * lower-cased kind plus `s` (jobs, jobsets, pytorchjobs, mpijobs, rayjobs, …).
 */
export function customResourceRef(resourceArgs: Obj): CustomResourceRef | null {
  const apiVersion = resourceArgs.apiVersion ?? "batch/v1";
  if (apiVersion === "batch/v1" || apiVersion === "batch/v1beta1") return null;
  if (typeof apiVersion !== "string" || !/^[a-z0-9.-]+\/[a-z0-9]+$/.test(apiVersion)) {
    throw new LaunchError(`resource_args.kubernetes.apiVersion ${JSON.stringify(apiVersion)} is not <group>/<version> (e.g. batch.volcano.sh/v1alpha1, jobset.x-k8s.io/v1alpha2, kubeflow.org/v1)`, "run");
  }
  const [fromApiGroup, fromApiVersion] = apiVersion.split("/") as [string, string];
  const str = (k: string, fallback: string) => (typeof resourceArgs[k] === "string" && resourceArgs[k] ? (resourceArgs[k] as string) : fallback);
  const kind = resourceArgs.kind;
  if (typeof kind !== "string" || !/^[A-Za-z][A-Za-z0-9]*$/.test(kind)) {
    throw new LaunchError(`resource_args.kubernetes.kind must name the custom resource's kind (e.g. JobSet, PyTorchJob) when apiVersion is ${apiVersion}`, "run");
  }
  return { group: str("group", fromApiGroup), version: str("version", fromApiVersion), kind, plural: `${kind.toLowerCase()}s` };
}

/** Keys of `resource_args.kubernetes` that steer the agent and are not part of the object. */
const AGENT_KEYS = ["namespace", "builder", "configFile", "context", "group", "version", "wait_for_ready", "wait_timeout"] as const;

/** Every pod template (an object whose `spec` has `containers`), anywhere in the manifest. */
export function* podTemplates(root: unknown): Generator<Obj> {
  if (Array.isArray(root)) {
    for (const v of root) yield* podTemplates(v);
  } else if (isObj(root)) {
    if (isObj(root.spec) && "containers" in root.spec) yield root;
    for (const v of Object.values(root)) if (typeof v === "object" && v !== null) yield* podTemplates(v);
  }
}

export interface CustomObjectInput {
  resourceArgs: Obj;
  agentName: string;
  entity?: string | null;
  project?: string | null;
  /** Fills containers that name no image (the official agent leaves them without one). */
  image: string | null;
  /** `overrides.entry_point` (empty: none). */
  overrideEntrypoint: readonly string[];
  /** `overrides.args` (empty: none). */
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  apiKeySecret: string | null;
}

/** Build the custom object. Pure: the same input always gives the same object. */
export function buildCustomObject(input: CustomObjectInput): Obj {
  const obj = structuredClone(input.resourceArgs);
  for (const k of AGENT_KEYS) delete obj[k];
  const agent = labelValue(input.agentName) || "launch-agent";
  const metadata: Obj = isObj(obj.metadata) ? obj.metadata : {};
  metadata.labels = { ...(isObj(metadata.labels) ? metadata.labels : {}), [MONITOR_LABEL]: "true", [AGENT_LABEL]: agent };
  // The official agent sends no name at all then, which the API server refuses.
  if (!metadata.name && !metadata.generateName) metadata.generateName = runGenerateName(input.entity, input.project);
  obj.metadata = metadata;

  const templates = [...podTemplates(obj)];
  if (templates.length === 0) {
    throw new LaunchError(`resource_args.kubernetes (${String(obj.apiVersion)} ${String(obj.kind)}) has no pod template with containers: the agent needs one to put the run's image and environment in`, "run");
  }
  // WANDB_RUN_ID goes to the first container only (the official agent's rule: one process is the run).
  let runIdGiven = false;
  templates.forEach((pod, p) => {
    const tmeta: Obj = isObj(pod.metadata) ? pod.metadata : {};
    tmeta.labels = { ...(isObj(tmeta.labels) ? tmeta.labels : {}), [MONITOR_LABEL]: "true", [AGENT_LABEL]: agent };
    pod.metadata = tmeta;
    const spec = pod.spec as Obj;
    if (!Array.isArray(spec.containers)) throw new LaunchError(`resource_args.kubernetes: containers of pod template ${p} must be a list`, "run");
    spec.containers = spec.containers.map((c, i) => {
      if (!isObj(c)) throw new LaunchError(`resource_args.kubernetes: container ${i} of pod template ${p} must be an object`, "run");
      const out: Obj = { ...c };
      if ((typeof out.image !== "string" || !out.image) && input.image) out.image = input.image;
      if (input.overrideEntrypoint.length > 0) out.command = [...input.overrideEntrypoint];
      if (input.args.length > 0) out.args = [...input.args];
      const env = Object.fromEntries(Object.entries(input.env).filter(([k]) => k !== "WANDB_RUN_ID" || !runIdGiven));
      if ("WANDB_RUN_ID" in input.env) runIdGiven = true;
      out.env = [...(Array.isArray(out.env) ? out.env : []), ...runEnv(env, input.env[API_KEY_ENV] ? input.apiKeySecret : null)];
      return out;
    });
    for (const key of ["containers", "initContainers", "ephemeralContainers"]) {
      if (Array.isArray(spec[key])) spec[key] = (spec[key] as unknown[]).map((c) => (isObj(c) ? { ...c, securityContext: forcedSecurityContext() } : c));
    }
  });
  return obj;
}

export type CustomState = "starting" | "running" | "stopping" | "finished" | "failed";

/** Phases and condition types of custom objects, lower-cased, as the official agent maps them. */
const STATES: Record<string, CustomState> = {
  created: "starting",
  pending: "starting",
  running: "running",
  completing: "running",
  succeeded: "finished",
  completed: "finished",
  failed: "failed",
  aborted: "failed",
  timeout: "failed",
  terminated: "failed",
  terminating: "stopping",
};
const PRIORITY: CustomState[] = ["finished", "failed", "stopping", "running", "starting"];

/**
 * A custom object's state from its status: Volcano's `status.state.phase`, else the `True`
 * conditions (JobSet, Kubeflow), the most final one winning. Null while it says nothing. Pure.
 */
export function customObjectState(obj: Obj): { state: CustomState; reason: string } | null {
  const status = isObj(obj.status) ? obj.status : null;
  if (!status) return null;
  if (isObj(status.state)) {
    const phase = typeof status.state.phase === "string" ? status.state.phase : "";
    const state = STATES[phase.toLowerCase()];
    if (!state) return null;
    const why = [status.state.reason, status.state.message].filter((x) => typeof x === "string" && x).join(": ");
    return { state, reason: why ? `${phase} (${why})` : phase };
  }
  if (!Array.isArray(status.conditions)) return null;
  const trueConditions = status.conditions.filter((c): c is Obj => isObj(c) && c.status === "True" && typeof c.type === "string");
  for (const state of PRIORITY) {
    const c = trueConditions.find((x) => STATES[(x.type as string).toLowerCase()] === state);
    if (c) return { state, reason: [c.type, c.reason, c.message].filter((x) => typeof x === "string" && x).join(": ") };
  }
  return null;
}
