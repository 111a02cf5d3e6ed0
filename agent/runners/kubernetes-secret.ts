import type { CoreV1Api, V1Secret } from "@kubernetes/client-node";
import { LaunchError } from "../errors.js";
import type { Logger } from "../log.js";
import { kubeError, kubeFailure } from "../kube/client.js";

/**
 * The run's API key lives in a Secret the Job references (reference §7.10), never as an env value:
 * `kubectl get job -o yaml` and anyone with Job read access would otherwise see it.
 */

export const CREATED_BY_LABEL = "wandb.ai/created-by";
export const CREATED_BY_VALUE = "launch-agent";
export const API_KEY_SECRET_KEY = "password";

/** `wandb-api-key-<run id>`, or `wandb-api-key-<release>` when the agent was deployed by Helm (WANDB_RELEASE_NAME). */
export function apiKeySecretName(runId: string, releaseName?: string | null): string {
  return `wandb-api-key-${releaseName || runId}`;
}

/** The Secret object. Pure. */
export function apiKeySecretManifest(name: string, namespace: string, apiKey: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace, labels: { [CREATED_BY_LABEL]: CREATED_BY_VALUE } },
    type: "kubernetes.io/basic-auth",
    data: { [API_KEY_SECRET_KEY]: Buffer.from(apiKey, "utf8").toString("base64") },
  };
}

export interface EnsureSecretOptions {
  logger: Logger;
  /** Attempts for transient failures (network, 5xx, 429); default 5. */
  attempts?: number;
  /** First backoff, doubling up to 60 s; default 1 s. */
  baseDelayMs?: number;
}

const transient = (code: number | null) => code === null || code === 429 || code >= 500;

/**
 * Create the Secret. If it exists (409): reuse it when it holds the same key; replace it when it
 * holds another key and the agent made it (label); refuse otherwise, naming it. Transient failures
 * are retried with backoff, as agent upgrades and API server restarts make them common (§9.2).
 */
export async function ensureApiKeySecret(core: CoreV1Api, name: string, namespace: string, apiKey: string, opts: EnsureSecretOptions): Promise<void> {
  const body = apiKeySecretManifest(name, namespace, apiKey);
  const attempts = opts.attempts ?? 5;
  let delay = opts.baseDelayMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      await createOrReuse(core, body, name, namespace);
      return;
    } catch (err) {
      if (err instanceof LaunchError) throw err;
      const code = kubeError(err).code;
      if (!transient(code) || attempt >= attempts) throw kubeFailure(`creating the API-key Secret ${namespace}/${name}`, err, "run");
      opts.logger.warn({ secret: name, namespace, attempt, err: kubeError(err).message }, "could not create the API-key Secret; retrying");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 60_000);
    }
  }
}

async function createOrReuse(core: CoreV1Api, body: V1Secret, name: string, namespace: string): Promise<void> {
  try {
    await core.createNamespacedSecret({ namespace, body });
    return;
  } catch (err) {
    if (kubeError(err).code !== 409) throw err;
  }
  const existing = await core.readNamespacedSecret({ name, namespace });
  if (existing.data?.[API_KEY_SECRET_KEY] === body.data![API_KEY_SECRET_KEY]) return;
  if (existing.metadata?.labels?.[CREATED_BY_LABEL] !== CREATED_BY_VALUE) {
    throw new LaunchError(
      `Secret ${namespace}/${name} already exists, holds a different API key and was not created by the launch agent (no label ${CREATED_BY_LABEL}=${CREATED_BY_VALUE}); delete or rename it so the agent can store the run's key there`,
      "run",
    );
  }
  await core.deleteNamespacedSecret({ name, namespace });
  await core.createNamespacedSecret({ namespace, body });
}

/** Remove the Secret; already gone is fine. */
export async function deleteApiKeySecret(core: CoreV1Api, name: string, namespace: string): Promise<void> {
  try {
    await core.deleteNamespacedSecret({ name, namespace });
  } catch (err) {
    if (kubeError(err).code !== 404) throw kubeFailure(`deleting the API-key Secret ${namespace}/${name}`, err, "run");
  }
}

/**
 * Make the Job the Secret's owner, so the garbage collector removes the Secret with the Job (its
 * TTL, a `kubectl delete`, or an agent that died before cleaning up). The official agent leaks it then.
 */
export async function ownSecretByJob(
  core: CoreV1Api,
  name: string,
  namespace: string,
  job: { name: string; uid: string; apiVersion?: string; kind?: string },
): Promise<void> {
  const secret = await core.readNamespacedSecret({ name, namespace });
  const others = (secret.metadata?.ownerReferences ?? []).filter((r) => r.uid !== job.uid);
  const owner = { apiVersion: job.apiVersion ?? "batch/v1", kind: job.kind ?? "Job", name: job.name, uid: job.uid };
  secret.metadata = { ...secret.metadata, ownerReferences: [...others, owner] };
  await core.replaceNamespacedSecret({ name, namespace, body: secret });
}
