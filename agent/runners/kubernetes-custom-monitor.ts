import type { V1Pod } from "@kubernetes/client-node";
import type { Logger } from "../log.js";
import { kubeError, type KubeClients } from "../kube/client.js";
import { listAndWatch } from "../kube/watch.js";
import { customObjectState, type CustomResourceRef } from "./kubernetes-custom.js";
import { AGENT_LABEL, MONITOR_LABEL } from "./kubernetes-manifest.js";
import type { JobEnd, JobMonitor } from "./kubernetes-monitor.js";
import { podPreemption, podUnschedulable } from "./kubernetes-monitor.js";

type Obj = Record<string, unknown>;

/** The label JobSet puts on the pods of its child Jobs (their owner is the child Job, not the JobSet). */
const JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name";

/** Whether a pod belongs to the custom object: owned by it (Volcano, Kubeflow), or labelled by JobSet. Pure. */
export function podBelongsTo(pod: V1Pod, name: string): boolean {
  if (pod.metadata?.ownerReferences?.[0]?.name === name) return true;
  return pod.metadata?.labels?.[JOBSET_NAME_LABEL] === name;
}

export interface CustomMonitorOptions {
  clients: KubeClients;
  ref: CustomResourceRef;
  namespace: string;
  name: string;
  /** The agent label value the object's pods carry. */
  agent: string;
  logger: Logger;
  warn?(message: string): void;
  watchTimeoutSeconds?: number;
  retryDelayMs?: number;
}

/**
 * Watch one custom object until its status says it ended (or it is deleted), and its pods (found by
 * the monitor/agent labels, as the official agent finds them) for preemption and scheduling trouble.
 * A failure with a preempted pod is reported as preempted.
 */
export function monitorCustomObject(opts: CustomMonitorOptions): JobMonitor {
  const { clients, ref, namespace, name, logger } = opts;
  const stopper = new AbortController();
  const preempted = new Map<string, string>();
  const warned = new Set<string>();
  let settled = false;
  let settle!: (end: JobEnd) => void;
  const done = new Promise<JobEnd>((resolve) => (settle = resolve));
  const finish = (end: JobEnd) => {
    if (settled) return;
    settled = true;
    stopper.abort();
    settle(end);
  };
  const podSelector = `${MONITOR_LABEL}=true,${AGENT_LABEL}=${opts.agent}`;
  const listPods = () => clients.core.listNamespacedPod({ namespace, labelSelector: podSelector });

  const onPod = (pod: V1Pod) => {
    if (!podBelongsTo(pod, name)) return;
    const pname = pod.metadata?.name ?? "";
    const p = podPreemption(pod);
    if (p) preempted.set(pname, p);
    const u = podUnschedulable(pod);
    if (u && !warned.has(pname)) {
      warned.add(pname);
      const message = `Pod ${namespace}/${pname} of ${ref.kind} ${name} cannot be scheduled: ${u}`;
      logger.warn({ object: name, pod: pname }, message);
      opts.warn?.(message);
    }
  };
  const settleFailure = async (fallback: JobEnd) => {
    try {
      (await listPods()).items.forEach(onPod);
    } catch (err) {
      logger.debug({ err: kubeError(err).message }, "could not list the pods for a final check");
    }
    const first = [...preempted.values()][0];
    finish(first ? { state: "preempted", reason: first } : fallback);
  };
  const onObject = (obj: Obj) => {
    if (settled) return;
    const s = customObjectState(obj);
    if (s?.state === "finished") finish({ state: "finished" });
    else if (s?.state === "failed") void settleFailure({ state: "failed", reason: s.reason });
  };

  const common = { watch: clients.watch, signal: stopper.signal, logger, timeoutSeconds: opts.watchTimeoutSeconds ?? 30, retryDelayMs: opts.retryDelayMs ?? 1000 };
  const fieldSelector = `metadata.name=${name}`;
  void listAndWatch<Obj & { metadata?: { name?: string; resourceVersion?: string } }>({
    ...common,
    path: `/apis/${ref.group}/${ref.version}/namespaces/${namespace}/${ref.plural}`,
    fieldSelector,
    list: async () =>
      (await clients.custom.listNamespacedCustomObject({ group: ref.group, version: ref.version, namespace, plural: ref.plural, fieldSelector })) as {
        metadata?: { resourceVersion?: string };
        items: (Obj & { metadata?: { name?: string } })[];
      },
    onSync: (items) => {
      const obj = items.find((o) => o.metadata?.name === name);
      if (!obj) void settleFailure({ state: "deleted" });
      else onObject(obj);
    },
    onEvent: (e) => {
      if (e.type === "DELETED") void settleFailure({ state: "deleted" });
      else onObject(e.object);
    },
  });
  void listAndWatch<V1Pod>({
    ...common,
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: podSelector,
    list: listPods,
    onSync: (items) => items.forEach(onPod),
    onEvent: (e) => {
      if (e.type !== "DELETED") onPod(e.object);
    },
  });
  return { done, stop: () => finish({ state: "deleted" }) };
}
