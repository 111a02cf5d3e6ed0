import { LaunchError } from "../errors.js";
import { checkKubernetesResourceArgs } from "./kubernetes-safety.js";
import { podTemplates } from "./kubernetes-custom.js";
import { API_KEY_ENV, forcedSecurityContext, RUN_ID_LABEL } from "./kubernetes-manifest.js";

/**
 * The run spec's `additional_services` (reference: the official kubernetes runner): objects created
 * next to the run (a Deployment serving a model, its Service, a Pod), labelled so they can be found
 * and deleted by run. Pure builders only; nothing here talks to the cluster.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The label the official agent puts on auxiliary objects and their pods. */
export const AUXILIARY_LABEL = "wandb.ai/auxiliary-resource";
export const CREATED_BY_LABEL = "wandb.ai/created-by";

const CONTAINER_KEYS = ["containers", "initContainers", "ephemeralContainers"] as const;

/** As the official agent: `_` → `-`, lower case, only [a-z0-9-], dashes collapsed, ≤ 63, no dash at either end. */
export function labelSafe(value: string): string {
  const safe = value
    .replace(/_/g, "-")
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "")
    .replace(/-+/g, "-")
    .slice(0, 63)
    .replace(/^-+|-+$/g, "");
  if (!safe) throw new LaunchError(`${JSON.stringify(value)} has no character a Kubernetes name or label value allows (a-z, 0-9, -): rename it`, "run");
  return safe;
}

/** `aux-<entity>-<project>-<run id>`, label-safe: the value of AUXILIARY_LABEL for one run. */
export function auxiliaryLabelValue(entity: string | null | undefined, project: string | null | undefined, runId: string): string {
  return labelSafe(`aux-${entity ?? ""}-${project ?? ""}-${runId}`);
}

/**
 * The manifests of `additional_services`: each entry's `config`, entries without one skipped (as the
 * official agent does). Anything else that is not an object is refused naming its index.
 */
export function serviceManifests(services: readonly unknown[]): Obj[] {
  const out: Obj[] = [];
  services.forEach((entry, i) => {
    const where = `additional_services[${i}]`;
    if (!isObj(entry)) throw new LaunchError(`${where} must be an object with a \`config\` manifest, got ${JSON.stringify(entry)}`, "run");
    const config = entry.config;
    if (config === undefined || config === null || (isObj(config) && Object.keys(config).length === 0)) return;
    if (!isObj(config)) throw new LaunchError(`${where}.config must be a Kubernetes manifest (an object), got ${JSON.stringify(config)}`, "run");
    for (const key of ["apiVersion", "kind"] as const) {
      if (typeof config[key] !== "string" || !config[key]) throw new LaunchError(`${where}.config.${key} must be set (e.g. apps/v1 Deployment, v1 Service)`, "run");
    }
    const meta = config.metadata;
    if (!isObj(meta) || typeof meta.name !== "string" || !meta.name) throw new LaunchError(`${where}.config.metadata.name must be set: the agent waits for and cleans up objects by name and label`, "run");
    checkKubernetesResourceArgs(config, `${where}.config`);
    out.push(config);
  });
  return out;
}

/** Wait settings from `resource_args.kubernetes` (official keys and defaults: wait, for 300 s). */
export function serviceWait(resourceArgs: Obj): { waitForReady: boolean; timeoutSeconds: number } {
  const wait = resourceArgs.wait_for_ready ?? true;
  const timeout = resourceArgs.wait_timeout ?? 300;
  if (typeof wait !== "boolean") throw new LaunchError(`resource_args.kubernetes.wait_for_ready must be true or false, got ${JSON.stringify(wait)}`, "run");
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0) {
    throw new LaunchError(`resource_args.kubernetes.wait_timeout must be a positive number of seconds, got ${JSON.stringify(timeout)}`, "run");
  }
  return { waitForReady: wait, timeoutSeconds: timeout };
}

export interface AuxiliaryInput {
  runId: string;
  /** auxiliaryLabelValue() of the run. */
  auxLabel: string;
  /** The run's WANDB_CONFIG ("{}" when there is none). */
  wandbConfig: string;
  /** The run's API-key Secret; its `password` key becomes WANDB_API_KEY in every container. */
  apiKeySecret: string | null;
}

/**
 * One auxiliary object as the official agent completes it: run-id, created-by and auxiliary labels
 * on the object, the auxiliary label on every pod template, WANDB_CONFIG and the API key (by Secret
 * reference) in every container, the agent's restricted securityContext forced on every container.
 * Unlike the official agent, only object and container names are made label-safe: it also rewrites
 * every other `name` key, env var names included (WANDB_API_KEY would become wandb-api-key).
 */
export function buildAuxiliaryObject(config: Obj, input: AuxiliaryInput): Obj {
  const obj = structuredClone(config);
  const meta = obj.metadata as Obj;
  meta.name = labelSafe(String(meta.name));
  meta.labels = { ...(isObj(meta.labels) ? meta.labels : {}), [RUN_ID_LABEL]: input.runId, [CREATED_BY_LABEL]: "launch-agent", [AUXILIARY_LABEL]: input.auxLabel };
  for (const tmpl of podTemplates(obj)) {
    const tmeta = (tmpl.metadata = isObj(tmpl.metadata) ? tmpl.metadata : {}) as Obj;
    tmeta.labels = { ...(isObj(tmeta.labels) ? tmeta.labels : {}), [AUXILIARY_LABEL]: input.auxLabel };
    const spec = tmpl.spec as Obj;
    for (const key of CONTAINER_KEYS) {
      const list = spec[key];
      if (!Array.isArray(list)) continue;
      for (const c of list) {
        if (!isObj(c)) continue;
        if (typeof c.name === "string") c.name = labelSafe(c.name);
        c.securityContext = forcedSecurityContext();
        if (key !== "containers") continue;
        const own = Array.isArray(c.env) ? (c.env as unknown[]).filter((e) => !(isObj(e) && (e.name === "WANDB_CONFIG" || e.name === API_KEY_ENV))) : [];
        c.env = [
          ...own,
          { name: "WANDB_CONFIG", value: input.wandbConfig },
          ...(input.apiKeySecret ? [{ name: API_KEY_ENV, valueFrom: { secretKeyRef: { name: input.apiKeySecret, key: "password" } } }] : []),
        ];
      }
    }
  }
  return obj;
}

/** Is the object ready, by the official agent's rule for its kind? Kinds without one are ready once created. */
export function isReady(kind: string, obj: Obj): boolean {
  const status = isObj(obj.status) ? obj.status : {};
  switch (kind) {
    case "Deployment": {
      const ready = Number(status.readyReplicas ?? 0);
      const want = Number(status.replicas ?? 0);
      return ready > 0 && want > 0 && ready >= want;
    }
    case "Endpoints":
      return Array.isArray(obj.subsets) && obj.subsets.some((s) => isObj(s) && Array.isArray(s.addresses) && s.addresses.length > 0);
    case "Pod": {
      if (status.phase !== "Running") return false;
      const cs = status.containerStatuses;
      return !Array.isArray(cs) || cs.length === 0 || cs.every((c) => isObj(c) && c.ready === true);
    }
    default:
      return true;
  }
}
