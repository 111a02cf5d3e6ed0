import type { RunSpec } from "../jobs/run-spec.js";
import { checkKubernetesResourceArgs, checkSecureMode } from "./kubernetes-safety.js";
import { dockerRunArgs } from "./local-container.js";

/**
 * The official agent checks every item's run spec the same way whatever its resource (reference §7.6:
 * `_assert_secure` runs before any runner is chosen): unsafe `resource_args.kubernetes` and
 * `resource_args.local-container` are refused, and with `secure_mode` an entrypoint override (and the
 * pod-spec keys) are refused. The SageMaker and Vertex runners apply exactly that before they build
 * or create anything. Pure; throws a LaunchError.
 */
export function checkRunSpecSafety(runSpec: RunSpec, secureMode: boolean | undefined): void {
  const resourceArgs = runSpec.resource_args ?? {};
  dockerRunArgs(resourceArgs["local-container"]);
  checkKubernetesResourceArgs(resourceArgs.kubernetes);
  if (secureMode) {
    const k8s = resourceArgs.kubernetes;
    checkSecureMode(typeof k8s === "object" && k8s !== null && !Array.isArray(k8s) ? (k8s as Record<string, unknown>) : {}, runSpec);
  }
}
