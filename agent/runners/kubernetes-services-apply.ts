import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import { LaunchError } from "../errors.js";
import type { Logger } from "../log.js";
import { kubeError, kubeFailure } from "../kube/client.js";
import { AUXILIARY_LABEL, isReady } from "./kubernetes-services.js";

/**
 * Creating, awaiting and deleting a run's `additional_services` (any kind, through the generic
 * object API, as the official agent's create_from_dict). Their RBAC is opt-in (agent/kube/permissions.ts).
 */

type Obj = Record<string, unknown>;

export interface ServicesApplyOptions {
  config: KubeConfig;
  namespace: string;
  logger: Logger;
  waitForReady: boolean;
  timeoutSeconds: number;
  /** Readiness poll interval; the official agent's 2 s by default. */
  pollMs?: number;
}

const head = (o: Obj) => ({ apiVersion: String(o.apiVersion), kind: String(o.kind), name: String((o.metadata as Obj).name) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Creates every object concurrently, then (unless wait_for_ready is false) waits for each to be ready. */
export async function createAuxiliaryObjects(objects: readonly Obj[], opts: ServicesApplyOptions): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(opts.config);
  const results = await Promise.allSettled(
    objects.map(async (o) => {
      const { apiVersion, kind, name } = head(o);
      const body = { ...o, metadata: { ...(o.metadata as Obj), namespace: opts.namespace } } as KubernetesObject;
      try {
        await api.create(body);
      } catch (err) {
        throw kubeFailure(`creating additional service ${kind} ${opts.namespace}/${name}`, err, "run");
      }
      opts.logger.info({ kind, name }, "created additional service");
      if (opts.waitForReady) await waitReady(api, apiVersion, kind, name, opts);
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** The official per-kind wait: a Service is ready once its Endpoints have an address; 404 means not yet. */
async function waitReady(api: KubernetesObjectApi, apiVersion: string, kind: string, name: string, opts: ServicesApplyOptions): Promise<void> {
  const [readKind, readVersion] = kind === "Service" ? ["Endpoints", "v1"] : [kind, apiVersion];
  if (!["Deployment", "Endpoints", "Pod"].includes(readKind)) return;
  const deadline = Date.now() + opts.timeoutSeconds * 1000;
  while (Date.now() < deadline) {
    try {
      const obj = await api.read({ apiVersion: readVersion, kind: readKind, metadata: { name, namespace: opts.namespace } });
      if (isReady(readKind, obj as unknown as Obj)) return;
    } catch (err) {
      if (kubeError(err).code !== 404) throw kubeFailure(`waiting for additional service ${kind} ${opts.namespace}/${name}`, err, "run");
    }
    await sleep(Math.min(opts.pollMs ?? 2000, Math.max(0, deadline - Date.now())));
  }
  throw new LaunchError(`Resource '${name}' not ready within ${opts.timeoutSeconds} seconds`, "run");
}

/**
 * Deletes the run's auxiliary objects of the given kinds by label (best effort: a failure is logged,
 * never thrown). Background propagation so a Deployment's pods go with it.
 */
export async function deleteAuxiliaryObjects(config: KubeConfig, namespace: string, auxLabel: string, kinds: readonly { apiVersion: string; kind: string }[], logger: Logger): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(config);
  const seen = new Set<string>();
  for (const { apiVersion, kind } of kinds) {
    if (seen.has(`${apiVersion}/${kind}`)) continue;
    seen.add(`${apiVersion}/${kind}`);
    try {
      const list = await api.list(apiVersion, kind, namespace, undefined, undefined, undefined, undefined, `${AUXILIARY_LABEL}=${auxLabel}`);
      for (const item of list.items) {
        await api
          .delete({ apiVersion, kind, metadata: { name: item.metadata!.name!, namespace } }, undefined, undefined, undefined, undefined, "Background")
          .catch((err: unknown) => {
            if (kubeError(err).code !== 404) throw err;
          });
      }
    } catch (err) {
      logger.warn({ err: kubeError(err).message, kind }, "could not delete the run's additional services");
    }
  }
}
