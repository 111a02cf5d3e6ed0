import type { V1Job } from "@kubernetes/client-node";
import type { AgentConfig } from "../config/index.js";
import type { Logger } from "../log.js";
import { LaunchError } from "../errors.js";
import type { RunOutcome } from "../backend/types.js";
import { kubeError, kubeFailure, loadKubeClients, type KubeClients } from "../kube/client.js";
import type { LaunchRequest, RunHandle, Runner } from "./types.js";
import { checkKubernetesResourceArgs, checkSecureMode } from "./kubernetes-safety.js";
import { API_KEY_ENV, buildRunJob, runNamespace } from "./kubernetes-manifest.js";
import { apiKeySecretName, deleteApiKeySecret, ensureApiKeySecret, ownSecretByJob } from "./kubernetes-secret.js";
import { monitorJob, type JobEnd, type MonitorOptions } from "./kubernetes-monitor.js";
import { createPullSecret, deletePullSecret, legacyPullRegistry, pullSecretName } from "./kubernetes-pull-secret.js";
import type { Registry } from "../registries/types.js";
import { applyCodeMount, applyCodeMountPvc, codePvcFrom, copyCodeToPvc, type CodeMountInput, type CodePvc } from "./kubernetes-code-mount.js";
import { buildCustomObject, customResourceRef, type CustomResourceRef } from "./kubernetes-custom.js";
import { monitorCustomObject, podBelongsTo } from "./kubernetes-custom-monitor.js";
import { AGENT_LABEL, labelValue, MONITOR_LABEL } from "./kubernetes-manifest.js";
import { auxiliaryLabelValue, buildAuxiliaryObject, serviceManifests, serviceWait } from "./kubernetes-services.js";
import { createAuxiliaryObjects, deleteAuxiliaryObjects } from "./kubernetes-services-apply.js";

export interface KubernetesRunnerOptions {
  /** The agent config: `secure_mode` is enforced; a legacy `registry` block gives runs pull credentials. */
  config?: Pick<AgentConfig, "secure_mode" | "registry">;
  /** The registry runs pull from with a `regcred-<run id>` Secret; default from the legacy `registry` block (null: none). */
  pullRegistry?: Registry | null;
  /** The agent's name (W&B launch agent name), for the `wandb.ai/agent` labels. Default `launch-agent`. */
  agentName?: string;
  /** API clients; default KUBECONFIG / ~/.kube/config, else the in-cluster service account. */
  kube?: KubeClients;
  /** WANDB_RELEASE_NAME (Helm): the key Secret is `wandb-api-key-<release>` and is kept. Default from the environment. */
  releaseName?: string | null;
  /** Lines of the pod log quoted in a failure message; default 20. */
  logTailLines?: number;
  /** WANDB_LAUNCH_CODE_PVC_NAME/_MOUNT_PATH: base-image runs read their code from this claim; default from the environment. */
  codePvc?: CodePvc | null;
  /** Readiness poll interval of additional services; default 2 s (tests). */
  servicePollMs?: number;
  /** Watch tuning for tests. */
  watchTimeoutSeconds?: number;
  retryDelayMs?: number;
  /** Secret-creation retry tuning for tests. */
  secretAttempts?: number;
  secretBaseDelayMs?: number;
}

type Obj = Record<string, unknown>;

/** What the code mount of a base-image run needs from the request. */
function codeMountInput(req: LaunchRequest): CodeMountInput {
  return { job: req.job, workingDir: req.runSpec.overrides?.working_dir ?? null, installDeps: req.autoBaseImage ?? false, baseUrl: req.env.WANDB_BASE_URL || "https://api.wandb.ai" };
}

/**
 * Runs a launch as a batch/v1 Job (reference §8.3): the queue's `resource_args.kubernetes` is the
 * Job manifest, checked for unsafe options, completed with the agent's defaults, labels and the run
 * environment (API key by Secret reference), then watched until it ends.
 */
export class KubernetesRunner implements Runner {
  readonly resource = "kubernetes";
  /** The only runner that starts a run spec's `additional_services`, as in the official agent. */
  readonly additionalServices = true;

  constructor(private readonly opts: KubernetesRunnerOptions = {}) {}

  async run(req: LaunchRequest): Promise<RunHandle> {
    const raw = req.runSpec.resource_args?.kubernetes;
    checkKubernetesResourceArgs(raw);
    const resourceArgs: Obj = (raw as Obj | undefined) ?? {};
    if (this.opts.config?.secure_mode) checkSecureMode(resourceArgs, req.runSpec);
    const clients = this.opts.kube ?? loadKubeClients();
    const namespace = runNamespace(resourceArgs, clients.contextNamespace);
    const log = req.logger.child({ runId: req.runId, namespace });
    for (const key of ["configFile", "context"]) {
      // Queue users must not pick the agent's cluster credentials or make it load a file as a kubeconfig
      // (which can name exec plugins); the official agent honours these keys.
      if (key in resourceArgs) log.warn(`resource_args.kubernetes.${key} is ignored: this agent always uses its own cluster credentials (KUBECONFIG or its service account)`);
    }
    const release = this.opts.releaseName === undefined ? process.env.WANDB_RELEASE_NAME || null : this.opts.releaseName;
    const apiKey = req.env[API_KEY_ENV];
    const secretName = apiKey ? apiKeySecretName(req.runId, release) : null;
    const services = serviceManifests(req.runSpec.additional_services ?? []);
    const ref = customResourceRef(resourceArgs);
    if (ref) {
      if (services.length > 0) {
        throw new LaunchError(`additional_services are started only with batch/v1 Job runs (as the official agent does), not with a ${ref.kind} (${ref.group}/${ref.version}): remove them from the run spec`, "run");
      }
      return this.runCustom(req, resourceArgs, ref, clients, namespace, log, release);
    }
    // Built before anything is created, so a bad manifest fails the item with nothing to clean up.
    const wait = services.length > 0 ? serviceWait(resourceArgs) : null;
    const auxLabel = services.length > 0 ? auxiliaryLabelValue(req.runSpec.entity, req.runSpec.project, req.runId) : null;
    const auxObjects = auxLabel ? services.map((c) => buildAuxiliaryObject(c, { runId: req.runId, auxLabel, wandbConfig: req.env.WANDB_CONFIG ?? "{}", apiKeySecret: secretName })) : [];
    const dropAux = async () => {
      if (!auxLabel) return;
      const kinds = auxObjects.map((o) => ({ apiVersion: String(o.apiVersion), kind: String(o.kind) }));
      await deleteAuxiliaryObjects(clients.config, namespace, auxLabel, kinds, log);
    };

    const pullRegistry = this.opts.pullRegistry === undefined ? legacyPullRegistry(this.opts.config) : this.opts.pullRegistry;
    const pullSecret = pullRegistry ? pullSecretName(req.runId) : null;
    const manifest: V1Job = buildRunJob({
      resourceArgs,
      runId: req.runId,
      agentName: this.opts.agentName ?? "launch-agent",
      entity: req.runSpec.entity ?? null,
      project: req.runSpec.project ?? null,
      image: req.image,
      imageJob: req.job.job.source_type === "image",
      entrypoint: req.entrypoint,
      args: req.args,
      overrideEntrypoint: (req.runSpec.overrides?.entry_point?.length ?? 0) > 0,
      env: req.env,
      apiKeySecret: secretName,
      pullSecret,
      namespace,
    });
    if (req.mountCode) await this.mountCode(manifest as unknown as Obj, req);

    const dropPullSecret = async () => {
      if (pullSecret) await deletePullSecret(clients.core, pullSecret, namespace).catch((err: unknown) => log.warn({ err: kubeError(err).message }, "could not delete the image pull Secret"));
    };
    const dropSecret = async () => {
      await dropPullSecret();
      if (!secretName || release) return;
      await deleteApiKeySecret(clients.core, secretName, namespace).catch((err: unknown) => log.warn({ err: kubeError(err).message }, "could not delete the API-key Secret"));
    };
    if (pullRegistry) await createPullSecret(clients.core, pullRegistry, req.runId, namespace);
    if (secretName && apiKey) {
      await ensureApiKeySecret(clients.core, secretName, namespace, apiKey, {
        logger: log,
        ...(this.opts.secretAttempts !== undefined ? { attempts: this.opts.secretAttempts } : {}),
        ...(this.opts.secretBaseDelayMs !== undefined ? { baseDelayMs: this.opts.secretBaseDelayMs } : {}),
      }).catch(async (err: unknown) => {
        await dropPullSecret();
        throw err;
      });
    }
    if (wait && auxObjects.length > 0) {
      // As the official agent: all created concurrently, and ready, before the Job starts.
      await createAuxiliaryObjects(auxObjects, { config: clients.config, namespace, logger: log, ...wait, ...(this.opts.servicePollMs !== undefined ? { pollMs: this.opts.servicePollMs } : {}) }).catch(async (err: unknown) => {
        await dropAux();
        await dropSecret();
        throw err;
      });
    }
    let jobName: string;
    let jobUid: string;
    try {
      const created = await clients.batch.createNamespacedJob({ namespace, body: manifest });
      jobName = created.metadata!.name!;
      jobUid = created.metadata!.uid!;
    } catch (err) {
      await dropAux();
      await dropSecret();
      throw kubeFailure(`creating the run's Job in namespace ${namespace}`, err, "run");
    }
    for (const owned of [secretName && !release ? secretName : null, pullSecret]) {
      if (!owned) continue;
      await ownSecretByJob(clients.core, owned, namespace, { name: jobName, uid: jobUid }).catch((err: unknown) =>
        log.warn({ err: kubeError(err).message, secret: owned }, "could not make the job own its Secret; it is still deleted when the run ends"),
      );
    }
    const started = Date.now();
    log.info({ job: jobName }, "created kubernetes job");

    const monitor = monitorJob({
      clients,
      namespace,
      jobName,
      ...this.monitorSettings(req, log),
    });
    let cancelledAs: "stopped" | "interrupted" | null = null;
    const logsHint = `kubectl logs -n ${namespace} job/${jobName}`;

    const outcome: Promise<RunOutcome> = monitor.done.then(async (end: JobEnd) => {
      const durationMs = Date.now() - started;
      if (cancelledAs === "interrupted") {
        return { status: "interrupted", message: `the agent shut down; job ${namespace}/${jobName} keeps running in the cluster (kubectl get job -n ${namespace} ${jobName})`, durationMs };
      }
      // The official agent leaves them running after the run; they serve only this run, so they go with it.
      await dropAux();
      await dropSecret();
      if (cancelledAs) return { status: cancelledAs, message: `run ${cancelledAs} by the agent (job ${namespace}/${jobName} deleted)`, durationMs };
      switch (end.state) {
        case "finished":
          return { status: "finished", exitCode: 0, durationMs };
        case "preempted":
          return { status: "preempted", message: `job ${namespace}/${jobName} was preempted: ${end.reason}`, durationMs };
        case "deleted":
          return { status: "failed", message: `job ${namespace}/${jobName} was deleted before it finished`, durationMs };
        case "failed": {
          const tail = await this.logTail(clients, namespace, jobName);
          return {
            status: "failed",
            message: `job ${namespace}/${jobName} failed: ${end.reason}. See its logs with: ${logsHint}${tail ? `\nlast output:\n${tail}` : ""}`,
            durationMs,
          };
        }
      }
    });

    return {
      id: `${namespace}/${jobName}`,
      wait: () => outcome,
      cancel: async (reason) => {
        if (cancelledAs) return void (await outcome);
        cancelledAs = reason;
        if (reason === "interrupted") {
          // The agent is shutting down (e.g. a rolling update): runs are cluster workloads and keep
          // going, as with the official agent. The Secret stays with its Job (owner reference).
          monitor.stop();
          return void (await outcome);
        }
        try {
          // Background propagation so the pods go with the Job (the official default orphans them).
          await clients.batch.deleteNamespacedJob({ name: jobName, namespace, propagationPolicy: "Background" });
        } catch (err) {
          if (kubeError(err).code !== 404) log.warn({ err: kubeError(err).message }, "could not delete the job");
        }
        monitor.stop();
        await outcome;
      },
    };
  }

  /**
   * A custom resource (Volcano Job, JobSet, Kubeflow PyTorchJob, …): created through the
   * custom-objects API and followed by its status until it ends (reference §8.3). The API key is a
   * Secret reference here too (the official agent writes it into the object as a value), owned by the object.
   */
  private async runCustom(req: LaunchRequest, resourceArgs: Obj, ref: CustomResourceRef, clients: KubeClients, namespace: string, log: Logger, release: string | null): Promise<RunHandle> {
    const apiKey = req.env[API_KEY_ENV];
    const secretName = apiKey ? apiKeySecretName(req.runId, release) : null;
    const agent = labelValue(this.opts.agentName ?? "launch-agent") || "launch-agent";
    const body = buildCustomObject({
      resourceArgs,
      agentName: agent,
      entity: req.runSpec.entity ?? null,
      project: req.runSpec.project ?? null,
      image: req.image,
      overrideEntrypoint: req.runSpec.overrides?.entry_point ?? [],
      args: req.args,
      env: req.env,
      apiKeySecret: secretName,
    });
    if (req.mountCode) await this.mountCode(body, req);
    const what = `${ref.kind} (${ref.group}/${ref.version})`;
    const dropSecret = async () => {
      if (!secretName || release) return;
      await deleteApiKeySecret(clients.core, secretName, namespace).catch((err: unknown) => log.warn({ err: kubeError(err).message }, "could not delete the API-key Secret"));
    };
    if (secretName && apiKey) {
      await ensureApiKeySecret(clients.core, secretName, namespace, apiKey, {
        logger: log,
        ...(this.opts.secretAttempts !== undefined ? { attempts: this.opts.secretAttempts } : {}),
        ...(this.opts.secretBaseDelayMs !== undefined ? { baseDelayMs: this.opts.secretBaseDelayMs } : {}),
      });
    }
    let name: string;
    let uid: string;
    try {
      const created = (await clients.custom.createNamespacedCustomObject({ group: ref.group, version: ref.version, namespace, plural: ref.plural, body })) as { metadata?: { name?: string; uid?: string } };
      name = created.metadata!.name!;
      uid = created.metadata!.uid!;
    } catch (err) {
      await dropSecret();
      if (kubeError(err).code === 404) {
        throw new LaunchError(
          `creating the run's ${what} in namespace ${namespace} failed: the cluster does not serve ${ref.plural}.${ref.group}/${ref.version} (or namespace ${namespace} does not exist). Install the ${ref.kind} operator and its CRD, or fix apiVersion/kind in the queue's resource_args`,
          "run",
          { cause: err },
        );
      }
      throw kubeFailure(`creating the run's ${what} in namespace ${namespace}`, err, "run");
    }
    if (secretName && !release) {
      await ownSecretByJob(clients.core, secretName, namespace, { name, uid, apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind }).catch((err: unknown) =>
        log.warn({ err: kubeError(err).message, secret: secretName }, "could not make the object own its API-key Secret; it is still deleted when the run ends"),
      );
    }
    const started = Date.now();
    log.info({ kind: ref.kind, name }, "created kubernetes custom object");
    const monitor = monitorCustomObject({
      clients,
      ref,
      namespace,
      name,
      agent,
      ...this.monitorSettings(req, log),
    });
    let cancelledAs: "stopped" | "interrupted" | null = null;
    const id = `${namespace}/${name}`;
    const kubectl = `kubectl get ${ref.plural}.${ref.group} -n ${namespace} ${name}`;
    const outcome: Promise<RunOutcome> = monitor.done.then(async (end: JobEnd) => {
      const durationMs = Date.now() - started;
      if (cancelledAs === "interrupted") return { status: "interrupted", message: `the agent shut down; ${ref.kind} ${id} keeps running in the cluster (${kubectl})`, durationMs };
      await dropSecret();
      if (cancelledAs) return { status: cancelledAs, message: `run ${cancelledAs} by the agent (${ref.kind} ${id} deleted)`, durationMs };
      switch (end.state) {
        case "finished":
          return { status: "finished", exitCode: 0, durationMs };
        case "preempted":
          return { status: "preempted", message: `${ref.kind} ${id} was preempted: ${end.reason}`, durationMs };
        case "deleted":
          return { status: "failed", message: `${ref.kind} ${id} was deleted before it finished`, durationMs };
        case "failed": {
          const tail = await this.customLogTail(clients, namespace, name, agent);
          return { status: "failed", message: `${ref.kind} ${id} failed: ${end.reason}. See it with: ${kubectl} -o yaml${tail ? `\nlast output:\n${tail}` : ""}`, durationMs };
        }
      }
    });
    return {
      id,
      wait: () => outcome,
      cancel: async (reason) => {
        if (cancelledAs) return void (await outcome);
        cancelledAs = reason;
        if (reason === "interrupted") {
          monitor.stop();
          return void (await outcome);
        }
        try {
          await clients.custom.deleteNamespacedCustomObject({ group: ref.group, version: ref.version, namespace, plural: ref.plural, name, propagationPolicy: "Background" });
        } catch (err) {
          if (kubeError(err).code !== 404) log.warn({ err: kubeError(err).message }, `could not delete the ${ref.kind}`);
        }
        monitor.stop();
        await outcome;
      },
    };
  }

  /** Base-image runs: the code on the agent's PVC when one is configured (copied there first), else fetched by an init container. */
  /** What the Job monitor and the custom-object monitor share: logging, scheduling warnings, watch timings. */
  private monitorSettings(req: LaunchRequest, log: Logger): Pick<MonitorOptions, "logger" | "warn" | "watchTimeoutSeconds" | "retryDelayMs"> {
    return {
      logger: log,
      warn: (message) => void Promise.resolve(req.warn?.(message)).catch(() => undefined),
      ...(this.opts.watchTimeoutSeconds !== undefined ? { watchTimeoutSeconds: this.opts.watchTimeoutSeconds } : {}),
      ...(this.opts.retryDelayMs !== undefined ? { retryDelayMs: this.opts.retryDelayMs } : {}),
    };
  }

  private async mountCode(manifest: Obj, req: LaunchRequest): Promise<void> {
    const pvc = this.opts.codePvc === undefined ? codePvcFrom(process.env) : this.opts.codePvc;
    if (!pvc) return applyCodeMount(manifest, codeMountInput(req));
    const subPath = await copyCodeToPvc(req.job, pvc);
    applyCodeMountPvc(manifest, { claimName: pvc.claimName, subPath, workingDir: req.runSpec.overrides?.working_dir ?? null, installDeps: req.autoBaseImage ?? false });
  }

  private async customLogTail(clients: KubeClients, namespace: string, name: string, agent: string): Promise<string> {
    try {
      const pods = await clients.core.listNamespacedPod({ namespace, labelSelector: `${MONITOR_LABEL}=true,${AGENT_LABEL}=${agent}` });
      const pod = pods.items.find((p) => podBelongsTo(p, name))?.metadata?.name;
      if (!pod) return "";
      const text = await clients.core.readNamespacedPodLog({ name: pod, namespace, tailLines: this.opts.logTailLines ?? 20 });
      return String(text).trimEnd();
    } catch {
      return "";
    }
  }

  /** The end of the first pod's log, best effort, to explain a failure without kubectl. */
  private async logTail(clients: KubeClients, namespace: string, jobName: string): Promise<string> {
    try {
      const pods = await clients.core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` });
      const pod = pods.items[0]?.metadata?.name;
      if (!pod) return "";
      const text = await clients.core.readNamespacedPodLog({ name: pod, namespace, tailLines: this.opts.logTailLines ?? 20 });
      return String(text).trimEnd();
    } catch {
      return "";
    }
  }
}
