// Pure builders for every Kubernetes object the LaunchAgent creates. Values may be plain or pulumi Inputs, so the
// component passes Outputs straight through (no resources created inside `apply`) and tests pass plain strings
// and validate the result against the Kubernetes OpenAPI schema. Each builder's result `satisfies` the provider's
// resource args, so tsc rejects a misspelled or misplaced field while callers keep the precise literal type.
import { createHash } from "node:crypto";
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

type In<T> = pulumi.Input<T>;
export type Labels = Record<string, string>;

/** Where the agent's home is inside the container; the official image uses the same path. */
export const AGENT_HOME = "/home/launch_agent";
/** The agent reads ~/.config/wandb/launch-config.yaml when no --config is given. */
export const CONFIG_DIR = `${AGENT_HOME}/.config/wandb`;
export const CONFIG_KEY = "launch-config.yaml";
/** The key of the API key inside its Secret (the chart's and the official runner's convention). */
export const API_KEY_SECRET_KEY = "password";
export const AGENT_UID = 1000;

export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

/**
 * Pod Security labels. Default for the agent namespace: enforce `baseline`, warn and audit `restricted`.
 * The agent pod itself meets `restricted`, but kaniko build Jobs run in this namespace under the agent's
 * ServiceAccount, and the kaniko executor must run as root to unpack image filesystems: `restricted` would
 * reject every build. `baseline` still forbids privileged pods, host namespaces and hostPath volumes.
 */
export function podSecurityLabels(enforce: PodSecurityLevel = "baseline", warn: PodSecurityLevel = "restricted"): Labels {
  return {
    "pod-security.kubernetes.io/enforce": enforce,
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": warn,
    "pod-security.kubernetes.io/warn-version": "latest",
    "pod-security.kubernetes.io/audit": warn,
    "pod-security.kubernetes.io/audit-version": "latest",
  };
}

/** Labels every object carries; the selector uses only name + instance so it never changes. */
export function selectorLabels(instance: string): Labels {
  return { "app.kubernetes.io/name": "wandb-launch-agent", "app.kubernetes.io/instance": instance };
}
export function commonLabels(instance: string): Labels {
  return { ...selectorLabels(instance), "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "wandb-launch" };
}

export function namespaceManifest(name: string, instance: string, enforce?: PodSecurityLevel) {
  return {
    apiVersion: "v1" as const,
    kind: "Namespace" as const,
    metadata: { name, labels: { ...commonLabels(instance), ...podSecurityLabels(enforce) } },
  } satisfies k8s.core.v1.NamespaceArgs;
}

export function serviceAccountManifest(a: {
  name: In<string>;
  namespace: In<string>;
  instance: string;
  /** Workload-identity annotations from the launch environment. */
  annotations: In<Record<string, string>>;
  /** Workload-identity labels (Azure's webhook also honours `azure.workload.identity/use` on the pod only). */
  labels?: In<Labels>;
}) {
  return {
    apiVersion: "v1" as const,
    kind: "ServiceAccount" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: a.labels ?? commonLabels(a.instance), annotations: a.annotations },
    // The agent talks to the API server with this token; kaniko and run pods get their own mounts.
    automountServiceAccountToken: true,
  } satisfies k8s.core.v1.ServiceAccountArgs;
}

// What the agent does in each namespace is declared beside the agent (doctor checks the same list).
export { AGENT_NAMESPACE_RULES, TARGET_NAMESPACE_RULES, type PolicyRule } from "../../agent/kube/permissions.js";
import type { PolicyRule } from "../../agent/kube/permissions.js";

export function roleManifest(a: { name: string; namespace: In<string>; instance: string; rules: PolicyRule[] }) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1" as const,
    kind: "Role" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: commonLabels(a.instance) },
    rules: a.rules,
  } satisfies k8s.rbac.v1.RoleArgs;
}

export function roleBindingManifest(a: {
  name: string;
  namespace: In<string>;
  instance: string;
  roleName: string;
  serviceAccountName: In<string>;
  serviceAccountNamespace: In<string>;
}) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1" as const,
    kind: "RoleBinding" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: commonLabels(a.instance) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: a.roleName },
    subjects: [{ kind: "ServiceAccount", name: a.serviceAccountName, namespace: a.serviceAccountNamespace }],
  } satisfies k8s.rbac.v1.RoleBindingArgs;
}

export function configMapManifest(a: { name: string; namespace: In<string>; instance: string; launchConfigYaml: In<string> }) {
  return {
    apiVersion: "v1" as const,
    kind: "ConfigMap" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: commonLabels(a.instance) },
    data: { [CONFIG_KEY]: a.launchConfigYaml },
  } satisfies k8s.core.v1.ConfigMapArgs;
}

/** The API-key Secret, shaped like the one the official runner writes (basic-auth, key `password`). */
export function apiKeySecretManifest(a: { name: string; namespace: In<string>; instance: string; apiKey: In<string> }) {
  return {
    apiVersion: "v1" as const,
    kind: "Secret" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: { ...commonLabels(a.instance), "wandb.ai/created-by": "pulumi" } },
    type: "kubernetes.io/basic-auth" as const,
    stringData: { [API_KEY_SECRET_KEY]: a.apiKey },
  } satisfies k8s.core.v1.SecretArgs;
}

/** The storage-account key kaniko reads Azure build contexts with; the official agent looks for it by this name. */
export function azureStorageKeySecretManifest(a: { name: string; namespace: In<string>; instance: string; key: In<string> }) {
  return {
    apiVersion: "v1" as const,
    kind: "Secret" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: { ...commonLabels(a.instance), "wandb.ai/created-by": "pulumi" } },
    type: "kubernetes.io/basic-auth" as const,
    stringData: { [API_KEY_SECRET_KEY]: a.key },
  } satisfies k8s.core.v1.SecretArgs;
}

type PodSpec = k8s.types.input.core.v1.PodSpec;
/**
 * `builder.kaniko-config`: a fragment of the kaniko build Job, typed with the provider's Job types. Every field is
 * optional, containers included: the agent fills in the container's name, image and args.
 */
export type KanikoJobFragment = {
  metadata?: k8s.types.input.meta.v1.ObjectMeta;
  spec?: Omit<k8s.types.input.batch.v1.JobSpec, "template"> & {
    template?: {
      metadata?: k8s.types.input.meta.v1.ObjectMeta;
      spec?: Omit<PodSpec, "containers"> & { containers?: Array<Partial<k8s.types.input.core.v1.Container>> };
    };
  };
};

/** sha256 of a value, for pod-template annotations that roll the Deployment when the value changes. */
export function checksum(value: string): string {
  return createHash("sha256").update(value).digest("hex");
}

/** A container env entry: a plain value or a `valueFrom` reference (never a secret value). */
export type EnvVar = k8s.types.input.core.v1.EnvVar;

/** Container requests and limits, plain quantities. */
export interface ResourceRequirements extends k8s.types.input.core.v1.ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

/** Requests for an idle poller that spikes while tarring a build context; the memory limit bounds a leak. */
export const DEFAULT_RESOURCES: ResourceRequirements = {
  requests: { cpu: "100m", memory: "256Mi" },
  limits: { cpu: "1", memory: "1Gi" },
};

export interface DeploymentInputs {
  name: string;
  namespace: In<string>;
  instance: string;
  image: In<string>;
  serviceAccountName: In<string>;
  configMapName: string;
  apiKeySecretName: In<string>;
  apiKeySecretKey?: string;
  baseUrl: In<string>;
  /** Pod-template labels: selector labels plus workload-identity labels. */
  podLabels: In<Labels>;
  /** Pod-template annotations, including the config and secret checksums. */
  podAnnotations: In<Record<string, string>>;
  replicas?: number;
  resources?: ResourceRequirements;
  /** Extra container env (plain values or valueFrom references, never secret values). */
  extraEnv?: EnvVar[];
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  nodeSelector?: Record<string, string>;
  /** The agent's health port (`LAUNCH_AGENT_HEALTH_PORT`): probes and /metrics. null: no endpoint, no probes. */
  healthPort?: number | null;
}

/** Our agent's health endpoint (agent/health): liveness = the loop turns, readiness = W&B answers. */
export const DEFAULT_HEALTH_PORT = 8080;
export const HEALTH_PORT_NAME = "health";

function healthContainerParts(port: number | null) {
  if (port === null) return {};
  return {
    ports: [{ name: HEALTH_PORT_NAME, containerPort: port, protocol: "TCP" }],
    // /healthz fails only after 5 minutes without a loop turn; three misses more before a restart.
    livenessProbe: { httpGet: { path: "/healthz", port: HEALTH_PORT_NAME }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 },
    // Not ready before the agent registered with W&B and while W&B does not answer.
    readinessProbe: { httpGet: { path: "/readyz", port: HEALTH_PORT_NAME }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
  };
}

/** The Service the ServiceMonitor scrapes (ClusterIP, the health port only). */
export function metricsServiceManifest(a: { name: string; namespace: In<string>; instance: string; port: number }) {
  return {
    apiVersion: "v1" as const,
    kind: "Service" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: commonLabels(a.instance) },
    spec: {
      type: "ClusterIP",
      selector: selectorLabels(a.instance),
      ports: [{ name: HEALTH_PORT_NAME, port: a.port, targetPort: HEALTH_PORT_NAME, protocol: "TCP" }],
    },
  } satisfies k8s.core.v1.ServiceArgs;
}

/** A Prometheus Operator ServiceMonitor for the agent's /metrics. */
export function serviceMonitorManifest(a: { name: string; namespace: In<string>; instance: string; intervalSeconds?: number }) {
  return {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "ServiceMonitor",
    metadata: { name: a.name, namespace: a.namespace, labels: commonLabels(a.instance) },
    spec: {
      selector: { matchLabels: commonLabels(a.instance) },
      endpoints: [{ port: HEALTH_PORT_NAME, path: "/metrics", interval: `${a.intervalSeconds ?? 30}s` }],
    },
  };
}

/**
 * At most one agent pod is evicted at a time (drains, upgrades); an unready pod (W&B unreachable) may always
 * be evicted, so an outage never blocks a node drain.
 */
export function podDisruptionBudgetManifest(a: { name: string; namespace: In<string>; instance: string }) {
  return {
    apiVersion: "policy/v1" as const,
    kind: "PodDisruptionBudget" as const,
    metadata: { name: a.name, namespace: a.namespace, labels: commonLabels(a.instance) },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(a.instance) }, unhealthyPodEvictionPolicy: "AlwaysAllow" },
  } satisfies k8s.policy.v1.PodDisruptionBudgetArgs;
}

const healthPort = (d: DeploymentInputs) => (d.healthPort === undefined ? DEFAULT_HEALTH_PORT : d.healthPort);

export function deploymentManifest(d: DeploymentInputs) {
  return {
    apiVersion: "apps/v1" as const,
    kind: "Deployment" as const,
    metadata: { name: d.name, namespace: d.namespace, labels: commonLabels(d.instance) },
    spec: {
      replicas: d.replicas ?? 1,
      // Never two agents from one release at once: a config change stops the old agent before the new starts.
      strategy: { type: "Recreate" },
      selector: { matchLabels: selectorLabels(d.instance) },
      template: {
        metadata: { labels: d.podLabels, annotations: d.podAnnotations },
        spec: {
          serviceAccountName: d.serviceAccountName,
          automountServiceAccountToken: true,
          // Lets an in-flight poll finish and the agent report its state before SIGKILL.
          terminationGracePeriodSeconds: 60,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: AGENT_UID,
            runAsGroup: AGENT_UID,
            fsGroup: AGENT_UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(d.nodeSelector ? { nodeSelector: d.nodeSelector } : {}),
          containers: [
            {
              name: "launch-agent",
              image: d.image,
              imagePullPolicy: d.imagePullPolicy ?? "IfNotPresent",
              env: [
                { name: "HOME", value: AGENT_HOME },
                {
                  name: "WANDB_API_KEY",
                  valueFrom: { secretKeyRef: { name: d.apiKeySecretName, key: d.apiKeySecretKey ?? API_KEY_SECRET_KEY } },
                },
                { name: "WANDB_BASE_URL", value: d.baseUrl },
                // Kaniko build pods run under the agent's own ServiceAccount (and so its cloud identity).
                { name: "WANDB_LAUNCH_SERVICE_ACCOUNT_NAME", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
                ...(healthPort(d) === null ? [] : [{ name: "LAUNCH_AGENT_HEALTH_PORT", value: String(healthPort(d)) }]),
                ...(d.extraEnv ?? []),
              ],
              ...healthContainerParts(healthPort(d)),
              resources: d.resources ?? DEFAULT_RESOURCES,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: AGENT_UID,
                runAsGroup: AGENT_UID,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                privileged: false,
                capabilities: { drop: ["ALL"] },
                seccompProfile: { type: "RuntimeDefault" },
              },
              volumeMounts: [
                // Writable scratch: build contexts are tarred under /tmp, caches go to $HOME.
                { name: "tmp", mountPath: "/tmp" },
                { name: "home", mountPath: AGENT_HOME },
                // A directory mount (not subPath) so the file lands at ~/.config/wandb/launch-config.yaml.
                { name: "launch-config", mountPath: CONFIG_DIR, readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: "tmp", emptyDir: { sizeLimit: "4Gi" } },
            { name: "home", emptyDir: { sizeLimit: "1Gi" } },
            { name: "launch-config", configMap: { name: d.configMapName, items: [{ key: CONFIG_KEY, path: CONFIG_KEY }] } },
          ],
        },
      },
    },
  } satisfies k8s.apps.v1.DeploymentArgs;
}
