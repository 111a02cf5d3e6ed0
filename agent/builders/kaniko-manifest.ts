import type { V1ConfigMap, V1Container, V1EnvVar, V1Job, V1Secret, V1Volume, V1VolumeMount } from "@kubernetes/client-node";
import { LaunchError } from "../errors.js";
import type { RegistryCredentials, RegistryKind } from "../registries/types.js";

/**
 * The kaniko build Job (reference §6.4) as pure functions: default args with the `--name=value`
 * override rule, and `builder.kaniko-config` (a Job fragment) merged with lists appended, scalars
 * defaulted only when absent, and the labels and args the agent depends on forced.
 */

/**
 * Default executor image. Upstream kaniko was archived in 2025; v1.23.2 is its final release, at the
 * same location as the official agent's default (v1.11.0) and with the same flags, so it is the
 * newest image a config written for the official agent can rely on. Set `builder.kaniko-image` to a
 * maintained fork's executor (e.g. Chainguard's) for fixes after that.
 */
export const DEFAULT_KANIKO_IMAGE = "gcr.io/kaniko-project/executor:v1.23.2";
export const DEFAULT_BUILD_JOB_NAME = "wandb-launch-container-build";
export const KANIKO_CONTAINER_NAME = "wandb-container-build";
/** The build pod's own deadline; the agent waits up to three times this for scheduling delays (§6.5). */
export const KANIKO_ACTIVE_DEADLINE_SECONDS = 1800;
export const DOCKER_CONFIG_VOLUME = "docker-config";
export const KANIKO_PVC_VOLUME = "kaniko-pvc";
export const AUTH_SECRET_VOLUME = "kaniko-docker-config";
export const AZURE_STORAGE_SECRET = "azure-storage-access-key";
export const ACR_WORKLOAD_IDENTITY_LABEL = "azure.workload.identity/use";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** `<build-job-name>-<run id>`, the Job's name (and the `docker-config-<job>` object names). */
export function kanikoJobName(prefix: string | undefined, runId: string): string {
  return `${prefix || DEFAULT_BUILD_JOB_NAME}-${runId}`;
}

export const dockerConfigName = (jobName: string) => `docker-config-${jobName}`;

/**
 * Default args, then the user's: each `--name=value` replaces the default of that name or is added
 * at the end (insertion order kept). A bare `--flag` is kept as written (the official agent crashes on it).
 */
export function kanikoArgs(defaults: readonly [string, string][], userArgs: unknown): string[] {
  const args = new Map<string, string | null>(defaults);
  if (userArgs !== undefined) {
    if (!Array.isArray(userArgs) || !userArgs.every((a) => typeof a === "string")) {
      throw new LaunchError("builder.kaniko-config.spec.template.spec.containers[0].args must be a list of strings like --name=value", "build");
    }
    for (const arg of userArgs as string[]) {
      const eq = arg.indexOf("=");
      if (eq === -1) args.set(arg, null);
      else args.set(arg.slice(0, eq), arg.slice(eq + 1));
    }
  }
  return [...args].map(([k, v]) => (v === null ? k : `${k}=${v}`));
}

export interface KanikoJobInput {
  jobName: string;
  namespace: string;
  serviceAccountName: string;
  kanikoImage: string;
  /** `builder.kaniko-config`, a Job manifest fragment (or undefined). */
  kanikoConfig: unknown;
  /** `--context`: the uploaded context's URI. */
  context: string;
  /** `<repository uri>:<tag>`. */
  destination: string;
  /** `<repository uri>` for `--cache-repo`. */
  repositoryUri: string;
  registryKind: RegistryKind;
  /** ECR only: the registry's region, as AWS_REGION for kaniko's ECR helper. */
  ecrRegion?: string | null;
  /** WANDB_LAUNCH_KANIKO_AUTH_SECRET: a dockerconfigjson Secret to mount instead of anything else. */
  authSecret?: string | null;
  /** `builder.secret-name`/`secret-key`: cloud credentials file in a Secret (ECR, GAR). */
  credentialsSecret?: { name: string; key: string } | null;
  /** A docker config (ConfigMap for ACR's cred helper, Secret for static auths) named dockerConfigName(job), or none. */
  dockerConfig?: "configmap" | "secret" | null;
  /** The context store is Azure Blob: kaniko reads it with the storage account key from this Secret. */
  azureStorageKey?: boolean;
  /** PVC mode: the claim holding the context, mounted at /context (the official agent's layout). */
  contextPvc?: string | null;
}

/** The build pod's deadline in seconds: kaniko-config's pod-level value, else the default. Pure. */
export function kanikoPodDeadlineSeconds(job: V1Job): number {
  const v = job.spec?.template?.spec?.activeDeadlineSeconds;
  return typeof v === "number" && v > 0 ? v : KANIKO_ACTIVE_DEADLINE_SECONDS;
}

/** Whether kaniko-config already mounts something at kaniko's docker config directory (then the agent adds none). */
export function mountsDockerConfig(kanikoConfig: unknown): boolean {
  const c = isObj(kanikoConfig) ? kanikoConfig : {};
  const pod = isObj(c.spec) && isObj(c.spec.template) && isObj(c.spec.template.spec) ? c.spec.template.spec : {};
  const container = Array.isArray(pod.containers) && isObj(pod.containers[0]) ? pod.containers[0] : {};
  const mounts = Array.isArray(container.volumeMounts) ? container.volumeMounts : [];
  return mounts.some((m) => isObj(m) && typeof m.mountPath === "string" && m.mountPath.replace(/\/+$/, "") === "/kaniko/.docker");
}

function appendList<T>(target: Obj, key: string, items: T[]): void {
  if (items.length === 0 && target[key] === undefined) return;
  const given = target[key];
  if (given !== undefined && !Array.isArray(given)) throw new LaunchError(`builder.kaniko-config: ${key} must be a list`, "build");
  target[key] = [...((given as T[] | undefined) ?? []), ...items];
}

/** Build the kaniko Job. Pure: nothing is read from the environment or the cluster. */
export function kanikoJob(input: KanikoJobInput): V1Job {
  const cfg = input.kanikoConfig;
  if (cfg !== undefined && cfg !== null && !isObj(cfg)) {
    throw new LaunchError("builder.kaniko-config must be a Kubernetes Job manifest fragment (an object with metadata/spec), not a list or a scalar", "build");
  }
  const job: Obj = structuredClone(isObj(cfg) ? cfg : {});
  const metadata: Obj = isObj(job.metadata) ? job.metadata : {};
  const spec: Obj = isObj(job.spec) ? job.spec : {};
  const template: Obj = isObj(spec.template) ? spec.template : {};
  const tmeta: Obj = isObj(template.metadata) ? template.metadata : {};
  const pod: Obj = isObj(template.spec) ? template.spec : {};
  const containers = Array.isArray(pod.containers) ? pod.containers : [];
  if (containers.length > 1) throw new LaunchError("Multiple container configs not supported for kaniko builder (builder.kaniko-config.spec.template.spec.containers has more than one)", "build");
  const container: Obj & V1Container = { ...(isObj(containers[0]) ? containers[0] : {}) } as Obj & V1Container;

  const volumes: V1Volume[] = [];
  const mounts: V1VolumeMount[] = [];
  const env: V1EnvVar[] = [];
  const docker = dockerConfigName(input.jobName);
  if (input.contextPvc) {
    volumes.push({ name: KANIKO_PVC_VOLUME, persistentVolumeClaim: { claimName: input.contextPvc } });
    mounts.push({ name: KANIKO_PVC_VOLUME, mountPath: "/context" });
  }
  // An operator who mounts their own docker config through kaniko-config keeps it: two mounts at
  // one path are invalid, so the agent then adds none.
  const ownDockerConfig = mountsDockerConfig(cfg);
  if (input.authSecret) {
    if (!ownDockerConfig) {
      volumes.push({ name: AUTH_SECRET_VOLUME, secret: { secretName: input.authSecret, items: [{ key: ".dockerconfigjson", path: "config.json" }] } });
      mounts.push({ name: AUTH_SECRET_VOLUME, mountPath: "/kaniko/.docker" });
    }
  } else {
    if (!ownDockerConfig) {
      if (input.dockerConfig === "configmap") volumes.push({ name: DOCKER_CONFIG_VOLUME, configMap: { name: docker } });
      if (input.dockerConfig === "secret") volumes.push({ name: DOCKER_CONFIG_VOLUME, secret: { secretName: docker } });
      if (input.dockerConfig) mounts.push({ name: DOCKER_CONFIG_VOLUME, mountPath: "/kaniko/.docker" });
    }
    const cred = input.credentialsSecret;
    if (cred) {
      if (input.registryKind === "ecr") {
        volumes.push({ name: cred.name, secret: { secretName: cred.name, items: [{ key: cred.key, path: "credentials" }] } });
        mounts.push({ name: cred.name, mountPath: "/root/.aws", readOnly: true });
      } else if (input.registryKind === "gar") {
        volumes.push({ name: cred.name, secret: { secretName: cred.name, items: [{ key: cred.key, path: "config.json" }] } });
        mounts.push({ name: cred.name, mountPath: "/kaniko/.config/gcloud", readOnly: true });
        env.push({ name: "GOOGLE_APPLICATION_CREDENTIALS", value: "/kaniko/.config/gcloud/config.json" });
      } else {
        throw new LaunchError(
          `builder.secret-name/secret-key are supported for ECR and Artifact Registry destinations only, not ${input.registryKind}; for other registries set WANDB_LAUNCH_KANIKO_AUTH_SECRET to a dockerconfigjson Secret or mount one through builder.kaniko-config`,
          "build",
        );
      }
    }
  }
  if (input.registryKind === "ecr" && input.ecrRegion) env.push({ name: "AWS_REGION", value: input.ecrRegion });
  if (input.azureStorageKey) env.push({ name: "AZURE_STORAGE_ACCESS_KEY", valueFrom: { secretKeyRef: { name: AZURE_STORAGE_SECRET, key: "password" } } });

  container.args = kanikoArgs(
    [
      ["--context", input.context],
      ["--dockerfile", "Dockerfile.wandb"],
      ["--destination", stripScheme(input.destination)],
      ["--cache", "true"],
      ["--cache-repo", stripScheme(input.repositoryUri)],
      ["--snapshot-mode", "redo"],
      ["--compressed-caching", "false"],
    ],
    container.args,
  );
  appendList(container as Obj, "volumeMounts", mounts);
  appendList(container as Obj, "env", env);
  container.name ||= KANIKO_CONTAINER_NAME;
  container.image ||= input.kanikoImage;
  appendList(pod, "volumes", volumes);
  pod.containers = [container];
  pod.restartPolicy ??= "Never";
  pod.serviceAccountName ??= input.serviceAccountName;
  // On the pod, as the official agent sets it: a Job-level deadline would also count scheduling and
  // image pulls. A deadline kaniko-config sets (on the pod or the Job) is kept as given.
  pod.activeDeadlineSeconds ??= KANIKO_ACTIVE_DEADLINE_SECONDS;
  // Forced, not defaulted: a RUN line in a user's Dockerfile runs in this pod and must not find the agent's
  // Kubernetes API token (it could read the API-key Secret and create Jobs). Cloud identity keeps working:
  // the EKS and Azure workload-identity webhooks mount their own projected tokens, GKE uses the metadata server.
  pod.automountServiceAccountToken = false;
  const acrIdentity = input.registryKind === "acr" && !input.authSecret;
  tmeta.labels = { ...(isObj(tmeta.labels) ? tmeta.labels : {}), wandb: "launch", ...(acrIdentity ? { [ACR_WORKLOAD_IDENTITY_LABEL]: "true" } : {}) };
  template.metadata = tmeta;
  template.spec = pod;
  spec.template = template;
  spec.backoffLimit ??= 0;
  // Name and namespace are forced: the agent follows the Job by them (a user value broke the
  // official agent's polling, reference §6.4 caveat).
  metadata.name = input.jobName;
  metadata.namespace = input.namespace;
  delete metadata.generateName;
  metadata.labels = { ...(isObj(metadata.labels) ? metadata.labels : {}), wandb: "launch" };
  return { ...job, apiVersion: "batch/v1", kind: "Job", metadata, spec } as unknown as V1Job;
}

function stripScheme(uri: string): string {
  return uri.replace(/^https?:\/\//, "");
}

/** ACR: point kaniko at the `acr-env` credential helper, which uses the pod's workload identity. No secret inside. */
export function acrDockerConfigMap(jobName: string, namespace: string, registryHost: string): V1ConfigMap {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: dockerConfigName(jobName), namespace, labels: { wandb: "launch" } },
    immutable: true,
    data: { "config.json": JSON.stringify({ credHelpers: { [registryHost]: "acr-env" } }) },
  };
}

/**
 * Static push credentials as a docker config. A Secret, not the official ConfigMap: registry tokens
 * must not sit in objects anyone with ConfigMap read access can see.
 */
export function authDockerConfigSecret(jobName: string, namespace: string, registryKey: string, creds: RegistryCredentials): V1Secret {
  const auth = Buffer.from(`${creds.username}:${creds.password}`, "utf8").toString("base64");
  const json = JSON.stringify({ auths: { [registryKey]: { auth } } });
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: dockerConfigName(jobName), namespace, labels: { wandb: "launch" } },
    type: "Opaque",
    immutable: true,
    data: { "config.json": Buffer.from(json, "utf8").toString("base64") },
  };
}
