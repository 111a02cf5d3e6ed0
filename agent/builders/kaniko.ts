import type { V1Job } from "@kubernetes/client-node";
import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import type { Logger } from "../log.js";
import { createBuildContext, planBuildContext } from "../jobs/context.js";
import { destinationOf, imageUri } from "../jobs/plan.js";
import { agentNamespace, kubeError, kubeFailure, loadKubeClients, type KubeClients } from "../kube/client.js";
import { forEachLogLine } from "../kube/logs.js";
import { podUnschedulable } from "../runners/kubernetes-monitor.js";
import { ecrRegion } from "../registries/destination.js";
import { registryFor, type RegistryOptions } from "../registries/index.js";
import type { Registry } from "../registries/types.js";
import { contextStoreFor } from "../storage/index.js";
import { pvcContextStoreFrom } from "../storage/pvc.js";
import type { ContextStore } from "../storage/types.js";
import { failedPackagesIn } from "./docker.js";
import {
  acrDockerConfigMap,
  authDockerConfigSecret,
  AZURE_STORAGE_SECRET,
  DEFAULT_KANIKO_IMAGE,
  dockerConfigName,
  kanikoPodDeadlineSeconds,
  KANIKO_CONTAINER_NAME,
  kanikoJob,
  kanikoJobName,
  mountsDockerConfig,
} from "./kaniko-manifest.js";
import type { Builder, BuildRequest, BuildResult } from "./types.js";

export interface KanikoBuilderOptions {
  config: AgentConfig;
  logger: Logger;
  /** API clients; default KUBECONFIG / ~/.kube/config, else the in-cluster service account. */
  kube?: KubeClients;
  /** Where contexts are uploaded; default contextStoreFor(builder.build-context-store). */
  contextStore?: ContextStore;
  /** The destination registry; default registryFor(builder.destination). */
  registry?: Registry;
  registryOptions?: RegistryOptions;
  /** Namespace for build Jobs; default the agent's own (service-account file, kube context, else `wandb`). */
  namespace?: string;
  /** WANDB_LAUNCH_* settings are read from here; default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Job status polling interval; default 5 s (§6.5). */
  pollIntervalMs?: number;
  /** How long to wait for the build Job; default 3 × the build pod's deadline (1800 s unless kaniko-config sets one, §6.5). */
  deadlineMs?: number;
  /** The image user of generated Dockerfiles; default the agent's OS user (§2.4). */
  user?: string;
  /** Lines of the build log quoted in a failure; default 30. */
  logTailLines?: number;
}

type JobEnd = { ok: true } | { ok: false; reason: string };

/**
 * Builds images in the cluster with kaniko (reference §6): plan the context and tag, skip when the
 * registry has the tag, upload the context, run a kaniko Job, wait, scan its log, and always clean
 * up the Job (with its pods), the docker-config object and the uploaded context.
 */
export class KanikoBuilder implements Builder {
  readonly type = "kaniko" as const;
  /** Builds actually run (skips not counted). */
  builds = 0;

  constructor(private readonly opts: KanikoBuilderOptions) {}

  private get env(): NodeJS.ProcessEnv {
    return this.opts.env ?? process.env;
  }

  private settings() {
    const b = this.opts.config.builder ?? {};
    const secretName = b["secret-name"] || null;
    const secretKey = b["secret-key"] || null;
    if (!!secretName !== !!secretKey) {
      throw new LaunchError(
        "Both secret_name and secret_key or neither must be specified for kaniko build. You provided only one of them: set both builder.secret-name and builder.secret-key, or remove the one you set.",
        "build",
      );
    }
    const store = b["build-context-store"];
    // PVC mode (WANDB_LAUNCH_KANIKO_PVC_NAME) takes precedence over a store, as in the official agent.
    const pvc = pvcContextStoreFrom(this.env);
    if (!pvc && (typeof store !== "string" || !store)) {
      throw new LaunchError(
        "builder.build-context-store is required for kaniko builds: set it to an S3 (s3://bucket/prefix), GCS (gs://bucket/prefix) or Azure Blob (https://<account>.blob.core.windows.net/<container>) location the agent can write and kaniko can read, or put contexts on a PersistentVolumeClaim mounted in the agent (WANDB_LAUNCH_KANIKO_PVC_NAME, WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH)",
        "build",
      );
    }
    const destination = destinationOf(this.opts.config);
    if (!destination) {
      throw new LaunchError("kaniko builds push to a registry: set builder.destination to the repository to push images to (e.g. <account>.dkr.ecr.<region>.amazonaws.com/<repo>)", "build");
    }
    return {
      store: typeof store === "string" ? store : "",
      pvc,
      destination,
      jobPrefix: typeof b["build-job-name"] === "string" ? b["build-job-name"] : undefined,
      kanikoImage: (typeof b["kaniko-image"] === "string" && b["kaniko-image"]) || DEFAULT_KANIKO_IMAGE,
      kanikoConfig: b["kaniko-config"],
      credentialsSecret: secretName && secretKey ? { name: secretName, key: secretKey } : null,
    };
  }

  private contextStore(s: ReturnType<KanikoBuilder["settings"]>, logger: Logger): ContextStore {
    return this.opts.contextStore ?? s.pvc ?? contextStoreFor(s.store, { environment: this.opts.config.environment ?? null, logger });
  }

  /** Checks the config and that the context store is reachable (reference §6.3 step 1), without building. */
  async verify(): Promise<void> {
    const s = this.settings();
    await this.contextStore(s, this.opts.logger).verify();
  }

  async build(request: BuildRequest): Promise<BuildResult> {
    const { job, runSpec, runId } = request;
    if (job.job.source_type === "image") {
      throw new LaunchError(`job ${job.name} is an image job and is never built; run its image ${job.job.source.image ?? ""}`, "build");
    }
    const s = this.settings();
    const plan = await planBuildContext(job, runSpec, { builder: "kaniko", buildx: false, ...(this.opts.user !== undefined ? { user: this.opts.user } : {}) });
    const image = imageUri(this.opts.config, job, plan.tag);
    const registry = this.opts.registry ?? registryFor(s.destination, this.opts.registryOptions ?? {});
    const log = request.logger.child({ image, builder: "kaniko" });
    const authSecret = this.env.WANDB_LAUNCH_KANIKO_AUTH_SECRET || null;
    if (s.credentialsSecret && !authSecret && registry.kind !== "ecr" && registry.kind !== "gar") {
      throw new LaunchError(
        `builder.secret-name/secret-key are supported for ECR and Artifact Registry destinations only, not ${registry.kind} (${registry.host}); remove them, or set WANDB_LAUNCH_KANIKO_AUTH_SECRET to a dockerconfigjson Secret`,
        "build",
      );
    }

    if (authSecret) log.info(`Skipping check for existing image ${image} due to custom dockerconfig.`);
    else if (await registry.exists(plan.tag)) {
      log.info({ dockerfile: plan.source }, "image already exists; skipping the build");
      return { image, built: false, tag: plan.tag, command: plan.command };
    }

    const kube = this.opts.kube ?? loadKubeClients();
    const namespace = this.opts.namespace ?? agentNamespace(kube);
    const jobName = kanikoJobName(s.jobPrefix, runId);
    const store = this.contextStore(s, log);
    // Checked before anything is uploaded or created, so a missing bucket or permission is reported as such.
    await store.verify();
    // Without this Secret the build pod cannot read an Azure context.
    if (store.kind === "azure") await this.requireAzureStorageSecret(kube, namespace);
    const cleanups: [string, () => Promise<unknown>][] = [];
    try {
      const context = await createBuildContext(plan, job);
      let contextUri: string;
      const uploadStarted = Date.now();
      let uploadMs: number;
      try {
        log.info({ store: s.pvc ? `pvc:${s.pvc.claimName}` : s.store }, "uploading build context");
        contextUri = await store.uploadContext(context.dir, `${runId}.tgz`, request.signal);
        uploadMs = Date.now() - uploadStarted;
      } finally {
        await context.cleanup();
      }
      cleanups.push([`build context ${contextUri}`, () => store.deleteContext(contextUri)]);

      const dockerConfig = await this.dockerConfig(kube, namespace, jobName, registry, authSecret, !!s.credentialsSecret, cleanups);
      const manifest = kanikoJob({
        jobName,
        namespace,
        serviceAccountName: this.env.WANDB_LAUNCH_SERVICE_ACCOUNT_NAME || "default",
        kanikoImage: s.kanikoImage,
        kanikoConfig: s.kanikoConfig,
        context: contextUri,
        destination: image,
        repositoryUri: registry.repositoryUri,
        registryKind: registry.kind,
        ecrRegion: registry.kind === "ecr" ? ecrRegion(registry.host) : null,
        authSecret,
        credentialsSecret: s.credentialsSecret,
        dockerConfig,
        azureStorageKey: store.kind === "azure",
        contextPvc: store.kind === "pvc" ? (s.pvc?.claimName ?? null) : null,
      });
      await this.createJob(kube, namespace, jobName, manifest, log);
      cleanups.push([
        `build Job ${namespace}/${jobName}`,
        // Background propagation removes the build pod too (the official default orphans it).
        () => kube.batch.deleteNamespacedJob({ name: jobName, namespace, propagationPolicy: "Background" }),
      ]);
      log.info({ job: jobName, namespace }, "kaniko build job created");
      // Like the official agent, wait three times the pod's deadline: scheduling and pulls come on top.
      const budgetMs = this.opts.deadlineMs ?? 3 * kanikoPodDeadlineSeconds(manifest) * 1000;
      const end = await this.waitForJob(kube, namespace, jobName, budgetMs, request.signal, (message) => request.warn(message));
      const buildLog = await this.readLog(kube, namespace, jobName);
      if (!end.ok) {
        const tail = buildLog.tail.length > 0 ? `\nLast lines of the build log:\n${buildLog.tail.join("\n")}` : `\n(${buildLog.error ?? "the build log is empty"})`;
        throw new LaunchError(`Failed to build image in kaniko for job ${runId}: Job ${namespace}/${jobName} ${end.reason}.${tail}`, "build");
      }
      this.builds++;
      if (buildLog.error) log.warn(buildLog.error);
      if (buildLog.failedPackages.length > 0) {
        await request.warn(`Some packages were not successfully installed during the build: ${buildLog.failedPackages.join("; ")}`);
      }
      log.info({ job: jobName }, "kaniko build finished");
      return { image, built: true, tag: plan.tag, command: plan.command, uploadMs };
    } finally {
      for (const [what, undo] of cleanups.reverse()) {
        try {
          await undo();
        } catch (err) {
          if (kubeError(err).code !== 404) log.warn({ err: kubeError(err).message }, `could not remove ${what}`);
        }
      }
    }
  }

  /** The docker config kaniko pushes with, created beside the Job; returns how it is mounted. */
  private async dockerConfig(
    kube: KubeClients,
    namespace: string,
    jobName: string,
    registry: Registry,
    authSecret: string | null,
    credentialsSecret: boolean,
    cleanups: [string, () => Promise<unknown>][],
  ): Promise<"configmap" | "secret" | null> {
    if (authSecret || mountsDockerConfig(this.opts.config.builder?.["kaniko-config"])) return null;
    const name = dockerConfigName(jobName);
    if (registry.kind === "acr" && !credentialsSecret) {
      // Created in the agent's namespace, where the Job runs (the official agent hard-codes `wandb`).
      await this.createOrReplace("ConfigMap", namespace, name, () => kube.core.createNamespacedConfigMap({ namespace, body: acrDockerConfigMap(jobName, namespace, registry.host) }), () => kube.core.deleteNamespacedConfigMap({ name, namespace }));
      cleanups.push([`ConfigMap ${namespace}/${name}`, () => kube.core.deleteNamespacedConfigMap({ name, namespace })]);
      return "configmap";
    }
    // With secret-name (ECR/GAR) the official agent writes the registry's token into a docker config;
    // "anonymous" registries get the agent's own docker-config credentials the same way.
    if (!credentialsSecret && registry.kind !== "anonymous") return null;
    const creds = await registry.credentials();
    if (!creds) return null;
    await this.createOrReplace("Secret", namespace, name, () => kube.core.createNamespacedSecret({ namespace, body: authDockerConfigSecret(jobName, namespace, dockerConfigKey(registry.host), creds) }), () => kube.core.deleteNamespacedSecret({ name, namespace }));
    cleanups.push([`Secret ${namespace}/${name}`, () => kube.core.deleteNamespacedSecret({ name, namespace })]);
    return "secret";
  }

  /**
   * Create the build Job. One left by an agent that died mid-build (same run id) is deleted first:
   * with Background propagation it leaves the API at once, so a short retry is enough.
   */
  private async createJob(kube: KubeClients, namespace: string, jobName: string, manifest: V1Job, log: Logger): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await kube.batch.createNamespacedJob({ namespace, body: manifest });
        return;
      } catch (err) {
        if (kubeError(err).code !== 409 || attempt >= 5) throw kubeFailure(`creating the kaniko build Job ${namespace}/${jobName}`, err, "build");
      }
      if (attempt === 1) {
        log.warn({ job: jobName }, "a build Job with this run's name already exists (left by an earlier attempt); replacing it");
        await kube.batch.deleteNamespacedJob({ name: jobName, namespace, propagationPolicy: "Background" }).catch((err: unknown) => {
          if (kubeError(err).code !== 404) throw kubeFailure(`deleting the leftover build Job ${namespace}/${jobName}`, err, "build");
        });
      }
      await sleep(200 * attempt);
    }
  }

  /** Objects are per run id; one left behind by a crashed agent is replaced, not fatal. */
  private async createOrReplace(kind: string, namespace: string, name: string, create: () => Promise<unknown>, remove: () => Promise<unknown>): Promise<void> {
    try {
      await create();
    } catch (err) {
      if (kubeError(err).code !== 409) throw kubeFailure(`creating ${kind} ${namespace}/${name} for the kaniko build`, err, "build");
      try {
        await remove();
        await create();
      } catch (again) {
        throw kubeFailure(`replacing the leftover ${kind} ${namespace}/${name}`, again, "build");
      }
    }
  }

  private async requireAzureStorageSecret(kube: KubeClients, namespace: string): Promise<void> {
    try {
      await kube.core.readNamespacedSecret({ name: AZURE_STORAGE_SECRET, namespace });
    } catch (err) {
      if (kubeError(err).code === 404) {
        throw new LaunchError(
          `Secret ${AZURE_STORAGE_SECRET} does not exist in namespace ${namespace}. kaniko reads Azure Blob build contexts with the storage account key: create it with the key password set to your azure storage access key (kubectl create secret generic ${AZURE_STORAGE_SECRET} -n ${namespace} --from-literal=password=<key>)`,
          "build",
        );
      }
      throw kubeFailure(`reading Secret ${namespace}/${AZURE_STORAGE_SECRET}`, err, "build");
    }
  }

  /** Poll the Job's status until it succeeds, fails, or the deadline passes (§6.5). */
  private async waitForJob(
    kube: KubeClients,
    namespace: string,
    name: string,
    budget: number,
    signal: AbortSignal | undefined,
    warn: (message: string) => Promise<void>,
  ): Promise<JobEnd> {
    const every = this.opts.pollIntervalMs ?? 5000;
    let warned = false;
    const deadline = Date.now() + budget;
    for (;;) {
      if (signal?.aborted) throw new LaunchError(`the kaniko build ${namespace}/${name} was cancelled`, "build");
      let job: V1Job;
      try {
        job = await kube.batch.readNamespacedJobStatus({ name, namespace });
      } catch (err) {
        if (kubeError(err).code === 404) return { ok: false, reason: "was deleted before it finished" };
        throw kubeFailure(`reading the status of kaniko build Job ${namespace}/${name}`, err, "build");
      }
      if ((job.status?.succeeded ?? 0) >= 1) return { ok: true };
      if ((job.status?.failed ?? 0) >= 1) {
        const c = (job.status?.conditions ?? []).find((x) => x.type === "Failed" && x.status === "True");
        return { ok: false, reason: `failed${c ? ` (${[c.reason, c.message].filter(Boolean).join(": ")})` : ""}` };
      }
      if (!warned) warned = await this.warnIfUnschedulable(kube, namespace, name, warn);
      if (Date.now() >= deadline) return { ok: false, reason: `did not finish within ${Math.ceil(budget / 1000)} s` };
      await sleep(Math.min(every, Math.max(0, deadline - Date.now())), signal);
    }
  }

  /** A build pod the scheduler cannot place would otherwise wait silently until the deadline (§9.7). */
  private async warnIfUnschedulable(kube: KubeClients, namespace: string, jobName: string, warn: (message: string) => Promise<void>): Promise<boolean> {
    try {
      const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` });
      for (const pod of pods.items) {
        const why = podUnschedulable(pod);
        if (!why) continue;
        await warn(`kaniko build pod ${namespace}/${pod.metadata?.name ?? "?"} of job ${jobName} cannot be scheduled: ${why}`);
        return true;
      }
    } catch (err) {
      this.opts.logger.debug({ err: kubeError(err).message }, "could not list the build pods");
    }
    return false;
  }

  /** The build pod's log, streamed: its last lines and any failed-packages markers. */
  private async readLog(kube: KubeClients, namespace: string, jobName: string): Promise<{ tail: string[]; failedPackages: string[]; error?: string }> {
    const keep = this.opts.logTailLines ?? 30;
    const tail: string[] = [];
    const failedPackages: string[] = [];
    const hint = `kubectl logs -n ${namespace} job/${jobName} shows it until the agent removes the Job`;
    try {
      const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: `job-name=${jobName}` });
      const pod = pods.items[0];
      const name = pod?.metadata?.name;
      if (!pod || !name) return { tail, failedPackages, error: `no pod of the build Job was found; ${hint}` };
      const container = pod.spec?.containers[0]?.name ?? KANIKO_CONTAINER_NAME;
      await forEachLogLine(kube, namespace, name, container, (line) => {
        const failed = failedPackagesIn(line);
        if (failed) failedPackages.push(failed);
        tail.push(line);
        if (tail.length > keep) tail.shift();
      });
      return { tail, failedPackages };
    } catch (err) {
      return { tail, failedPackages, error: `the build log could not be read: ${kubeError(err).message}; ${hint}` };
    }
  }
}

/**
 * The `auths` key kaniko looks credentials up by: the registry host (Docker Hub's legacy URL for
 * docker.io). The official agent keys by repository URI, which lookups by host never match.
 */
export function dockerConfigKey(host: string): string {
  return host === "docker.io" ? "https://index.docker.io/v1/" : host;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
