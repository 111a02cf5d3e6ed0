import { LaunchError } from "../errors.js";
import type { RunSpec } from "../jobs/run-spec.js";

/**
 * What a queue's `resource_args.kubernetes` may not ask for (reference §7.6): anything that escapes
 * the pod's sandbox or borrows another identity. The agent forces its own securityContext, so any
 * user securityContext is refused rather than silently replaced. Pure; throws on the first finding.
 */

const TRUTHY_FORBIDDEN: Record<string, string> = {
  hostPID: "sharing the host's process namespace",
  hostIPC: "sharing the host's IPC namespace",
  hostNetwork: "using the host's network namespace",
  shareProcessNamespace: "sharing process namespaces between containers",
  hostUsers: "running in the host's user namespace",
  automountServiceAccountToken: "mounting a service account token into the run",
  hostPort: "binding a port on the node",
};

const ALWAYS_FORBIDDEN: Record<string, string> = {
  securityContext: "the agent sets every container's securityContext itself",
  hostPath: "mounting directories of the node",
  serviceAccountToken: "projecting service account tokens",
  serviceAccountName: "choosing the service account runs use",
  serviceAccount: "choosing the service account runs use",
};

function unsafe(key: string, reason: string, path: string, where: string): LaunchError {
  return new LaunchError(`Unsafe ${where} option '${key}' is not allowed: ${reason} (at ${where}.${path})`, "run");
}

function truthy(v: unknown): boolean {
  return v !== undefined && v !== null && v !== false && v !== 0 && v !== "" && v !== "false";
}

function scan(value: unknown, path: string, parentKey: string | null, where: string): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => scan(v, `${path}[${i}]`, parentKey, where));
    return;
  }
  if (typeof value !== "object" || value === null) return;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const here = path ? `${path}.${key}` : key;
    if (key in ALWAYS_FORBIDDEN) throw unsafe(key, ALWAYS_FORBIDDEN[key]!, here, where);
    if (key in TRUTHY_FORBIDDEN && truthy(v)) throw unsafe(key, TRUTHY_FORBIDDEN[key]!, here, where);
    if (key === "mountPropagation" && v === "Bidirectional") throw unsafe(key, "Bidirectional mount propagation reaches the node's mounts", here, where);
    if (parentKey === "annotations" && /apparmor|seccomp/i.test(key) && typeof v === "string" && /unconfined/i.test(v)) {
      throw unsafe(key, "unconfined AppArmor/seccomp profiles disable the sandbox", here, where);
    }
    scan(v, here, key, where);
  }
}

/** Reject unsafe `resource_args.kubernetes` (always on, like current official main); `where` names it in messages. */
export function checkKubernetesResourceArgs(resourceArgs: unknown, where = "resource_args.kubernetes"): void {
  if (resourceArgs === undefined || resourceArgs === null) return;
  if (typeof resourceArgs !== "object" || Array.isArray(resourceArgs)) {
    throw new LaunchError(`${where} must be an object (a Kubernetes manifest), got ${Array.isArray(resourceArgs) ? "a list" : typeof resourceArgs}`, "run");
  }
  scan(resourceArgs, "", null, where);
}

/** `secure_mode: true`: runs may not change what starts in the container, nor add init containers (§7.6). */
export function checkSecureMode(resourceArgs: Record<string, unknown>, runSpec: RunSpec): void {
  const refuse = (what: string) =>
    new LaunchError(`secure_mode is enabled on this agent: ${what} is not allowed. Remove it from the queue's resource_args or the run's overrides, or ask the agent's operator to turn secure_mode off.`, "agent");
  if (runSpec.overrides?.entry_point && runSpec.overrides.entry_point.length > 0) throw refuse("overrides.entry_point");
  const spec = record(record(record(resourceArgs.spec)?.template)?.spec);
  if (!spec) return;
  for (const key of ["hostPID", "hostIPC", "hostNetwork"]) if (key in spec) throw refuse(`resource_args.kubernetes.spec.template.spec.${key}`);
  if ("initContainers" in spec) throw refuse("resource_args.kubernetes.spec.template.spec.initContainers");
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  containers.forEach((c, i) => {
    if (record(c) && "command" in record(c)!) throw refuse(`resource_args.kubernetes.spec.template.spec.containers[${i}].command`);
  });
}

function record(v: unknown): Record<string, unknown> | null {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}
