import type { V1Job, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "../log.js";
import type { KubeClients } from "../kube/client.js";
import { kubeError } from "../kube/client.js";
import { listAndWatch } from "../kube/watch.js";

/** How a run's Job ended, as the monitor sees it. */
export type JobEnd =
  | { state: "finished" }
  | { state: "failed"; reason: string }
  | { state: "preempted"; reason: string }
  | { state: "deleted" };

/** DisruptionTarget reasons that mean "the cluster took the pod away", not "the run failed" (§8.3). */
export const PREEMPTION_REASONS = new Set(["EvictionByEvictionAPI", "PreemptionByScheduler", "TerminationByKubelet"]);

/** What a Job's status says, ignoring pods. Pure. */
export function jobState(job: V1Job): "running" | "succeeded" | "failed" {
  const conditions = job.status?.conditions ?? [];
  const has = (type: string) => conditions.some((c) => c.type === type && c.status === "True");
  if (has("Complete") || (job.status?.succeeded ?? 0) >= (job.spec?.completions ?? 1)) return "succeeded";
  if (has("Failed") || (job.status?.failed ?? 0) > (job.spec?.backoffLimit ?? 0)) return "failed";
  return "running";
}

/** Why the Job failed, from its Failed condition. */
export function jobFailureReason(job: V1Job): string {
  const c = (job.status?.conditions ?? []).find((x) => x.type === "Failed" && x.status === "True");
  if (c) return [c.reason, c.message].filter(Boolean).join(": ");
  return `${job.status?.failed ?? 0} pod(s) failed`;
}

/** A pod's preemption (DisruptionTarget with a preemption reason), if any. Pure. */
export function podPreemption(pod: V1Pod): string | null {
  const c = (pod.status?.conditions ?? []).find((x) => x.type === "DisruptionTarget" && x.status === "True" && PREEMPTION_REASONS.has(x.reason ?? ""));
  return c ? `${c.reason}${c.message ? `: ${c.message}` : ""}` : null;
}

/** The scheduler's reason a pod cannot be placed, if it says so. Pure. */
export function podUnschedulable(pod: V1Pod): string | null {
  const c = (pod.status?.conditions ?? []).find((x) => x.type === "PodScheduled" && x.status === "False" && x.reason === "Unschedulable");
  return c ? c.message || "the pod cannot be scheduled" : null;
}

export interface MonitorOptions {
  clients: KubeClients;
  namespace: string;
  jobName: string;
  logger: Logger;
  /** Called once per pod when the scheduler cannot place it. */
  warn?(message: string): void;
  /** Server-side watch timeout in seconds (resumed afterwards); default 30. */
  watchTimeoutSeconds?: number;
  retryDelayMs?: number;
}

export interface JobMonitor {
  readonly done: Promise<JobEnd>;
  stop(): void;
}

/**
 * Watch one Job and its pods until the Job ends (or is deleted). Two list-and-watch loops: the Job
 * by name, its pods by the `job-name` label the Job controller sets.
 */
export function monitorJob(opts: MonitorOptions): JobMonitor {
  const { clients, namespace, jobName, logger } = opts;
  const stopper = new AbortController();
  const preempted = new Map<string, string>();
  const warned = new Set<string>();
  let settle!: (end: JobEnd) => void;
  let settled = false;
  const done = new Promise<JobEnd>((resolve) => (settle = resolve));

  const finish = (end: JobEnd) => {
    if (settled) return;
    settled = true;
    stopper.abort();
    settle(end);
  };

  const onPod = (pod: V1Pod) => {
    const name = pod.metadata?.name ?? "";
    const p = podPreemption(pod);
    if (p) preempted.set(name, p);
    const u = podUnschedulable(pod);
    if (u && !warned.has(name)) {
      warned.add(name);
      const message = `Pod ${namespace}/${name} of job ${jobName} cannot be scheduled: ${u}`;
      logger.warn({ job: jobName, pod: name }, message);
      opts.warn?.(message);
    }
  };

  /** Pod and Job watches race: before calling a failure a failure, look at the pods once more. */
  const settleFailure = async (fallback: JobEnd) => {
    try {
      const pods = await clients.core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` });
      pods.items.forEach(onPod);
    } catch (err) {
      logger.debug({ err: kubeError(err).message }, "could not list the job's pods for a final check");
    }
    const first = [...preempted.values()][0];
    finish(first ? { state: "preempted", reason: first } : fallback);
  };

  const onJob = (job: V1Job) => {
    if (settled) return;
    const state = jobState(job);
    if (state === "succeeded") finish({ state: "finished" });
    else if (state === "failed") void settleFailure({ state: "failed", reason: jobFailureReason(job) });
  };

  const common = { watch: clients.watch, signal: stopper.signal, logger, timeoutSeconds: opts.watchTimeoutSeconds ?? 30, retryDelayMs: opts.retryDelayMs ?? 1000 };
  void listAndWatch<V1Job>({
    ...common,
    path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
    fieldSelector: `metadata.name=${jobName}`,
    list: () => clients.batch.listNamespacedJob({ namespace, fieldSelector: `metadata.name=${jobName}` }),
    onSync: (items) => {
      const job = items.find((j) => j.metadata?.name === jobName);
      if (!job) void settleFailure({ state: "deleted" });
      else onJob(job);
    },
    onEvent: (e) => {
      if (e.type === "DELETED") void settleFailure({ state: "deleted" });
      else onJob(e.object);
    },
  });
  void listAndWatch<V1Pod>({
    ...common,
    path: `/api/v1/namespaces/${namespace}/pods`,
    labelSelector: `job-name=${jobName}`,
    list: () => clients.core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` }),
    onSync: (items) => items.forEach(onPod),
    onEvent: (e) => {
      if (e.type !== "DELETED") onPod(e.object);
    },
  });
  return { done, stop: () => finish({ state: "deleted" }) };
}
