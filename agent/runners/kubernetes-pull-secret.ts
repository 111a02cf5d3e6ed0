import type { CoreV1Api, V1Secret } from "@kubernetes/client-node";
import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import { kubeError, kubeFailure } from "../kube/client.js";
import { registryFor, type RegistryOptions } from "../registries/index.js";
import type { Registry, RegistryCredentials } from "../registries/types.js";
import { CREATED_BY_LABEL, CREATED_BY_VALUE } from "./kubernetes-secret.js";

/**
 * Image pull credentials from the legacy `registry` block (reference §8.3): like the official agent,
 * an `ecr` or `gcr` block gives every Kubernetes run a `regcred-<run id>` dockerconfigjson Secret
 * named in `imagePullSecrets` (ACR and `builder.destination` rely on the cluster's own pull identity).
 * Unlike the official agent, the Secret is owned by the run's Job and deleted when the run ends.
 */

export const pullSecretName = (runId: string) => `regcred-${runId}`;

/** The repository URI of a legacy `registry` block that gets a pull Secret, or null. Pure. */
export function legacyPullRegistryUri(registry: AgentConfig["registry"]): string | null {
  if (!registry) return null;
  const str = (k: string) => (typeof registry[k] === "string" && registry[k] ? (registry[k] as string) : null);
  if (registry.type === "ecr") {
    const [account, region, repo] = [str("account_id"), str("region"), str("repo_name")];
    return str("uri") ?? (account && region && repo ? `${account}.dkr.ecr.${region}.amazonaws.com/${repo}` : null);
  }
  if (registry.type === "gcr") {
    const [region, project, repository, image] = [str("region"), str("project"), str("repository"), str("image-name")];
    return str("uri") ?? (region && project && repository && image ? `${region}-docker.pkg.dev/${project}/${repository}/${image}` : null);
  }
  return null;
}

/** The registry whose credentials runs pull with, or null when the config asks for none. */
export function legacyPullRegistry(config: Pick<AgentConfig, "registry"> | undefined, opts: RegistryOptions = {}): Registry | null {
  const uri = legacyPullRegistryUri(config?.registry);
  return uri ? registryFor(uri, opts) : null;
}

/**
 * The Secret. Keyed by registry host (the kubelet matches a key by host, then path prefix, so the
 * host also covers other repositories on it); the official agent keys by repository URI. Pure.
 */
export function pullSecretManifest(runId: string, namespace: string, host: string, creds: RegistryCredentials): V1Secret {
  const auth = Buffer.from(`${creds.username}:${creds.password}`, "utf8").toString("base64");
  const json = JSON.stringify({ auths: { [host]: { auth } } });
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: pullSecretName(runId), namespace, labels: { [CREATED_BY_LABEL]: CREATED_BY_VALUE } },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(json, "utf8").toString("base64") },
  };
}

/** Create the run's pull Secret; one left by an earlier attempt of the same run is replaced (fresh token). */
export async function createPullSecret(core: CoreV1Api, registry: Registry, runId: string, namespace: string): Promise<string> {
  let creds: RegistryCredentials | null;
  try {
    creds = await registry.credentials();
  } catch (err) {
    throw new LaunchError(`could not get pull credentials for the legacy registry block (${registry.repositoryUri}): ${(err as Error).message}`, "run", { cause: err });
  }
  if (!creds) throw new LaunchError(`the legacy registry block (${registry.repositoryUri}) gave no pull credentials`, "run");
  const body = pullSecretManifest(runId, namespace, registry.host, creds);
  const name = body.metadata!.name!;
  try {
    await core.createNamespacedSecret({ namespace, body });
  } catch (err) {
    if (kubeError(err).code !== 409) throw kubeFailure(`creating the image pull Secret ${namespace}/${name}`, err, "run");
    const existing = await core.readNamespacedSecret({ name, namespace }).catch((e: unknown) => {
      throw kubeFailure(`reading the existing Secret ${namespace}/${name}`, e, "run");
    });
    if (existing.metadata?.labels?.[CREATED_BY_LABEL] !== CREATED_BY_VALUE) {
      throw new LaunchError(`Secret ${namespace}/${name} already exists and was not created by the launch agent (no label ${CREATED_BY_LABEL}=${CREATED_BY_VALUE}); delete or rename it`, "run");
    }
    try {
      await core.replaceNamespacedSecret({ name, namespace, body });
    } catch (again) {
      throw kubeFailure(`replacing the leftover image pull Secret ${namespace}/${name}`, again, "run");
    }
  }
  return name;
}

/** Remove the run's pull Secret; already gone is fine. */
export async function deletePullSecret(core: CoreV1Api, name: string, namespace: string): Promise<void> {
  try {
    await core.deleteNamespacedSecret({ name, namespace });
  } catch (err) {
    if (kubeError(err).code !== 404) throw kubeFailure(`deleting the image pull Secret ${namespace}/${name}`, err, "run");
  }
}
