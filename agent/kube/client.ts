import { existsSync, readFileSync } from "node:fs";
import * as k8s from "@kubernetes/client-node";
import { LaunchError, type FailureStage } from "../errors.js";

import { SERVICE_ACCOUNT_NAMESPACE_FILE } from "./paths.js";

export { SERVICE_ACCOUNT_NAMESPACE_FILE };

/** The context name `KubeConfig.loadFromCluster` gives the service-account config. */
const IN_CLUSTER_CONTEXT = "inClusterContext";

/** The API clients the runner and the kaniko builder use, plus what the kubeconfig says about namespaces. */
export interface KubeClients {
  readonly config: k8s.KubeConfig;
  readonly batch: k8s.BatchV1Api;
  readonly core: k8s.CoreV1Api;
  /** Custom resources (Volcano Jobs, JobSets, Kubeflow jobs, …). */
  readonly custom: k8s.CustomObjectsApi;
  readonly watch: k8s.Watch;
  /** The namespace of the current kube context, when it names one. */
  readonly contextNamespace: string | null;
}

export interface KubeClientOptions {
  /** A kubeconfig file; default KUBECONFIG / ~/.kube/config, else the in-cluster service account. */
  kubeconfigPath?: string;
  /** A context in that kubeconfig; default its current-context. */
  context?: string;
}

export function kubeClientsFrom(config: k8s.KubeConfig): KubeClients {
  const current = config.getCurrentContext();
  const ctx = config.getContextObject(current);
  // In a pod client-node fills the context namespace from the service account; the official agent
  // (Python client) does not, so runs without a namespace go to `default` there. Keep that.
  const contextNamespace = current === IN_CLUSTER_CONTEXT ? null : ctx?.namespace || null;
  return {
    config,
    batch: config.makeApiClient(k8s.BatchV1Api),
    core: config.makeApiClient(k8s.CoreV1Api),
    custom: config.makeApiClient(k8s.CustomObjectsApi),
    watch: new k8s.Watch(config),
    contextNamespace,
  };
}

/**
 * Clients from a kubeconfig (file, KUBECONFIG, ~/.kube/config) or, inside a pod, the service
 * account, as `KubeConfig.loadFromDefault` resolves them. Unlike the official agent, naming a
 * context works and no cloud CLI package is required (reference §10).
 */
export function loadKubeClients(opts: KubeClientOptions = {}): KubeClients {
  const kc = new k8s.KubeConfig();
  try {
    if (opts.kubeconfigPath) kc.loadFromFile(opts.kubeconfigPath);
    else kc.loadFromDefault();
  } catch (err) {
    throw new LaunchError(
      `could not load Kubernetes credentials${opts.kubeconfigPath ? ` from ${opts.kubeconfigPath}` : ""}: ${(err as Error).message}. Run the agent in a pod with a service account, or point KUBECONFIG at a kubeconfig file`,
      "agent",
      { cause: err },
    );
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new LaunchError(`kube context ${JSON.stringify(opts.context)} was not found in the kubeconfig; known contexts: ${known.join(", ") || "(none)"}`, "agent");
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new LaunchError("no Kubernetes cluster is configured: run the agent in a pod with a service account, or set KUBECONFIG to a kubeconfig with a current-context", "agent");
  }
  return kubeClientsFrom(kc);
}

/**
 * The namespace the agent itself runs in, where kaniko build Jobs and their ConfigMaps go: the
 * service-account namespace file in a pod, else the kube context's namespace, else `wandb` (the
 * official agent's fallback, reference §6.1).
 */
export function agentNamespace(clients: Pick<KubeClients, "contextNamespace"> | null, file = SERVICE_ACCOUNT_NAMESPACE_FILE): string {
  if (existsSync(file)) {
    const ns = readFileSync(file, "utf8").trim();
    if (ns) return ns;
  }
  return clients?.contextNamespace ?? "wandb";
}

/** The parts of a Kubernetes error response worth showing a user. */
export interface KubeErrorInfo {
  code: number | null;
  reason: string | null;
  message: string;
}

/** Read `.code` and the Status body from a client-node ApiException (or any error). */
export function kubeError(err: unknown): KubeErrorInfo {
  if (err instanceof k8s.ApiException) {
    let reason: string | null = null;
    let message = `HTTP ${err.code}`;
    const body: unknown = typeof err.body === "string" ? safeJson(err.body) : err.body;
    if (body && typeof body === "object") {
      const b = body as { reason?: unknown; message?: unknown };
      if (typeof b.reason === "string") reason = b.reason;
      if (typeof b.message === "string") message = b.message;
    }
    return { code: err.code, reason, message };
  }
  const e = err as { statusCode?: unknown; message?: unknown };
  return { code: typeof e?.statusCode === "number" ? e.statusCode : null, reason: null, message: typeof e?.message === "string" ? e.message : String(err) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

export function isKubeStatus(err: unknown, code: number): boolean {
  return kubeError(err).code === code;
}

/** A LaunchError for a failed API call, naming what was being done and what the server said. */
export function kubeFailure(what: string, err: unknown, stage: FailureStage): LaunchError {
  const info = kubeError(err);
  const hint =
    info.code === 401
      ? " (the agent's Kubernetes credentials were rejected)"
      : info.code === 403
        ? " (the agent's service account lacks RBAC permission for this; see the launch-agent Role)"
        : "";
  return new LaunchError(`${what} failed: ${info.code ? `HTTP ${info.code} ` : ""}${info.message}${hint}`, stage, { cause: err });
}
