import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { LaunchEnvironmentOutputs } from "../types.js";
import {
  AGENT_NAMESPACE_RULES,
  API_KEY_SECRET_KEY,
  apiKeySecretManifest,
  azureStorageKeySecretManifest,
  checksum,
  commonLabels,
  configMapManifest,
  DEFAULT_HEALTH_PORT,
  deploymentManifest,
  type EnvVar,
  metricsServiceManifest,
  podDisruptionBudgetManifest,
  serviceMonitorManifest,
  namespaceManifest,
  type PodSecurityLevel,
  type PolicyRule,
  type ResourceRequirements,
  roleBindingManifest,
  roleManifest,
  selectorLabels,
  serviceAccountManifest,
  TARGET_NAMESPACE_RULES,
} from "./manifests.js";

export const DEFAULT_NAMESPACE = "wandb";
export const DEFAULT_SERVICE_ACCOUNT = "wandb-launch-agent";
export const DEFAULT_BASE_URL = "https://api.wandb.ai";
/** kaniko reads Azure build contexts with this Secret: our agent in its own namespace, the official one in `wandb` only. */
export const AZURE_STORAGE_KEY_SECRET = "azure-storage-access-key";

export interface LaunchAgentArgs {
  /** The cloud's launch environment: workload-identity annotations and pod labels come from it. */
  readonly environment: LaunchEnvironmentOutputs;
  /** The rendered launch-config.yaml (see `launchConfigOutput`). */
  readonly launchConfigYaml: pulumi.Input<string>;
  /** Agent image reference. */
  readonly image: pulumi.Input<string>;
  /** Namespace for the agent (and its kaniko build Jobs). Default `wandb`. */
  readonly namespace?: string;
  /** Create the namespace (with Pod Security labels). Default true; set false when it exists. */
  readonly createNamespace?: boolean;
  /** Pod Security level enforced on the created namespace. Default `baseline` (kaniko runs as root). */
  readonly podSecurityEnforce?: PodSecurityLevel;
  /** ServiceAccount name; must match the subject the cloud identity trusts. Default `wandb-launch-agent`. */
  readonly serviceAccountName?: string;
  /** Further namespaces the agent may run jobs in (they must exist). The agent namespace is always one. */
  readonly targetNamespaces?: string[];
  /** Extra rules in every target namespace, e.g. for Volcano or Kubeflow custom resources. */
  readonly extraTargetRules?: PolicyRule[];
  /** The W&B API key (a Pulumi secret). Exactly one of `apiKey` and `apiKeySecretName`. */
  readonly apiKey?: pulumi.Input<string>;
  /** An existing Secret in the agent namespace holding the key under `apiKeySecretKey`. */
  readonly apiKeySecretName?: string;
  /** Key inside `apiKeySecretName`. Default `password`. */
  readonly apiKeySecretKey?: string;
  /** W&B server. Default `https://api.wandb.ai`. */
  readonly baseUrl?: pulumi.Input<string>;
  /** Azure only: the storage-account key kaniko reads build contexts with (the official agent image needs namespace `wandb`). */
  readonly azureStorageAccessKey?: pulumi.Input<string>;
  /** Extra container env (plain values or valueFrom references). */
  readonly extraEnv?: EnvVar[];
  /** Agent replicas; every replica polls the same queues. Default 1. */
  readonly replicas?: number;
  /** Container resources. Default requests 100m/256Mi, limits 1 CPU/1Gi. */
  readonly resources?: ResourceRequirements;
  readonly nodeSelector?: Record<string, string>;
  /**
   * The agent's health and metrics port, with liveness and readiness probes on it. Default 8080; `false` for an
   * agent without the endpoint (the official image has none: its pods would never turn ready).
   */
  readonly healthPort?: number | false;
  /** Create a Service and a Prometheus Operator ServiceMonitor for /metrics (needs its CRD). Default false. */
  readonly serviceMonitor?: boolean;
  /** A PodDisruptionBudget (one agent pod evicted at a time; unready pods always evictable). Default true. */
  readonly podDisruptionBudget?: boolean;
}

/**
 * The W&B launch agent on Kubernetes: namespace, ServiceAccount bound to the cloud identity, least-privilege RBAC
 * in the agent namespace and every target namespace, the launch-config ConfigMap, the API-key Secret and the
 * Deployment (non-root, read-only root filesystem, rolled whenever the config or the key changes).
 */
export class LaunchAgent extends pulumi.ComponentResource {
  readonly namespace: pulumi.Output<string>;
  readonly serviceAccountName: pulumi.Output<string>;
  readonly deployment: k8s.apps.v1.Deployment;
  readonly configMap: k8s.core.v1.ConfigMap;

  constructor(name: string, args: LaunchAgentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wandb-launch:kubernetes:LaunchAgent", name, {}, opts);
    const parent = { parent: this };
    if ((args.apiKey === undefined) === (args.apiKeySecretName === undefined)) {
      throw new Error("LaunchAgent needs exactly one of apiKey (a Pulumi secret) and apiKeySecretName (an existing Secret)");
    }
    if (args.serviceMonitor && args.healthPort === false) {
      throw new Error("LaunchAgent: serviceMonitor needs the health port; do not set healthPort: false with it");
    }
    const nsName = args.namespace ?? DEFAULT_NAMESPACE;
    const saName = args.serviceAccountName ?? DEFAULT_SERVICE_ACCOUNT;

    const ns = args.createNamespace === false
      ? undefined
      : new k8s.core.v1.Namespace(`${name}-namespace`, namespaceManifest(nsName, name, args.podSecurityEnforce), parent);
    // Referencing the Namespace's output orders every namespaced object after it.
    const namespace = ns ? ns.metadata.name : pulumi.output(nsName);

    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      serviceAccountManifest({
        name: saName,
        namespace,
        instance: name,
        annotations: args.environment.serviceAccountAnnotations,
        labels: args.environment.podLabels.apply((l) => ({ ...l, ...commonLabels(name) })),
      }),
      parent,
    );

    // --- RBAC ---
    const agentRole = new k8s.rbac.v1.Role(
      `${name}-agent-role`,
      roleManifest({ name: `${name}-agent`, namespace, instance: name, rules: AGENT_NAMESPACE_RULES }),
      parent,
    );
    new k8s.rbac.v1.RoleBinding(
      `${name}-agent-binding`,
      roleBindingManifest({
        name: `${name}-agent`,
        namespace,
        instance: name,
        roleName: `${name}-agent`,
        serviceAccountName: serviceAccount.metadata.name,
        serviceAccountNamespace: namespace,
      }),
      { parent: this, dependsOn: [agentRole] },
    );
    const runRules = [...TARGET_NAMESPACE_RULES, ...(args.extraTargetRules ?? [])];
    const targets = [...new Set([nsName, ...(args.targetNamespaces ?? [])])];
    for (const target of targets) {
      const targetNs = target === nsName ? namespace : target;
      const suffix = target === nsName ? "" : `-${target}`;
      const role = new k8s.rbac.v1.Role(
        `${name}-runs-role${suffix}`,
        roleManifest({ name: `${name}-runs`, namespace: targetNs, instance: name, rules: runRules }),
        parent,
      );
      new k8s.rbac.v1.RoleBinding(
        `${name}-runs-binding${suffix}`,
        roleBindingManifest({
          name: `${name}-runs`,
          namespace: targetNs,
          instance: name,
          roleName: `${name}-runs`,
          serviceAccountName: serviceAccount.metadata.name,
          serviceAccountNamespace: namespace,
        }),
        { parent: this, dependsOn: [role] },
      );
    }

    // --- config and secrets ---
    this.configMap = new k8s.core.v1.ConfigMap(
      `${name}-config`,
      configMapManifest({ name: `${name}-config`, namespace, instance: name, launchConfigYaml: args.launchConfigYaml }),
      parent,
    );
    const dependsOn: pulumi.Resource[] = [serviceAccount, this.configMap];
    let apiKeySecretName: string;
    let secretChecksum: pulumi.Output<string>;
    if (args.apiKey !== undefined) {
      apiKeySecretName = `wandb-api-key-${name}`;
      const secret = new k8s.core.v1.Secret(
        `${name}-api-key`,
        apiKeySecretManifest({ name: apiKeySecretName, namespace, instance: name, apiKey: pulumi.secret(args.apiKey) }),
        parent,
      );
      dependsOn.push(secret);
      // A sha256 of a 40-character random key reveals nothing usable, and keeping it non-secret keeps the
      // Deployment reviewable in plain text (a secret annotation would turn the whole pod spec secret).
      secretChecksum = pulumi.unsecret(pulumi.output(args.apiKey).apply((k) => checksum(`wandb-api-key:${k}`)));
    } else {
      apiKeySecretName = args.apiKeySecretName!;
      // The key's value is not ours to read: only a rename of the referenced Secret rolls the pods.
      secretChecksum = pulumi.output(checksum(`secret-ref:${apiKeySecretName}/${args.apiKeySecretKey ?? API_KEY_SECRET_KEY}`));
    }
    if (args.azureStorageAccessKey !== undefined) {
      dependsOn.push(
        new k8s.core.v1.Secret(
          `${name}-azure-storage-key`,
          azureStorageKeySecretManifest({ name: AZURE_STORAGE_KEY_SECRET, namespace, instance: name, key: pulumi.secret(args.azureStorageAccessKey) }),
          parent,
        ),
      );
    }

    // --- the agent ---
    const port = args.healthPort === false ? null : (args.healthPort ?? DEFAULT_HEALTH_PORT);
    const configChecksum = pulumi.output(args.launchConfigYaml).apply(checksum);
    this.deployment = new k8s.apps.v1.Deployment(
      `${name}-deployment`,
      deploymentManifest({
        name,
        namespace,
        instance: name,
        image: args.image,
        serviceAccountName: serviceAccount.metadata.name,
        configMapName: `${name}-config`,
        apiKeySecretName,
        apiKeySecretKey: args.apiKeySecretKey,
        baseUrl: args.baseUrl ?? DEFAULT_BASE_URL,
        podLabels: args.environment.podLabels.apply((l) => ({ ...l, ...selectorLabels(name) })),
        podAnnotations: pulumi
          .all([configChecksum, secretChecksum])
          .apply(([c, s]) => ({ "checksum/config": c, "checksum/secret": s })),
        replicas: args.replicas,
        resources: args.resources,
        extraEnv: args.extraEnv,
        nodeSelector: args.nodeSelector,
        healthPort: port,
      }),
      { parent: this, dependsOn },
    );
    if (args.podDisruptionBudget !== false) {
      new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, podDisruptionBudgetManifest({ name, namespace, instance: name }), parent);
    }
    if (args.serviceMonitor) {
      const service = new k8s.core.v1.Service(`${name}-metrics`, metricsServiceManifest({ name: `${name}-metrics`, namespace, instance: name, port: port! }), parent);
      new k8s.apiextensions.CustomResource(`${name}-service-monitor`, serviceMonitorManifest({ name, namespace, instance: name }), { parent: this, dependsOn: [service] });
    }

    this.namespace = namespace;
    this.serviceAccountName = serviceAccount.metadata.name;
    this.registerOutputs({
      namespace: this.namespace,
      serviceAccountName: this.serviceAccountName,
      deploymentName: this.deployment.metadata.name,
      configMapName: this.configMap.metadata.name,
    });
  }
}
