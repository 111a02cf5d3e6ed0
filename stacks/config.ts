// The stack config (`pulumi config set wandb-launch:<key> ...`), validated with zod. Pure: takes the flat config
// map Pulumi hands the program and returns a typed config or throws StackConfigError naming every bad key with
// the command that fixes it. Secret values are only checked for presence, never echoed.
import { z } from "zod";
import { kanikoConfigProblem } from "../components/launch-config.js";

export const NAMESPACE = "wandb-launch";
export const CLOUDS = ["aws", "gcp", "azure", "kubernetes"] as const;
export type Cloud = (typeof CLOUDS)[number];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const k8sName = (what: string) =>
  z.string().max(63).regex(DNS_LABEL, `must be a Kubernetes ${what} name: lowercase letters, digits and '-', starting and ending alphanumeric`);
const days = z.coerce.number().int("must be a whole number of days").min(1, "must be at least 1 day").max(3650);
const bool = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")], { error: "must be true or false" });
/** Lists arrive as JSON text (`pulumi config set --path 'wandb-launch:queues[0]' q`) or, for convenience, comma-separated. */
const list = <T extends z.ZodType>(item: T) =>
  z.preprocess((v) => {
    if (typeof v !== "string") return v;
    const t = v.trim();
    if (t.startsWith("[")) {
      try {
        return JSON.parse(t) as unknown;
      } catch {
        return v;
      }
    }
    return t === "" ? [] : t.split(",").map((s) => s.trim());
  }, z.array(item));
/** Objects arrive as JSON text (`pulumi config set --path 'wandb-launch:tags.team' ml`, or a map in the stack file). */
const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== "string") return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }, schema);

// Kubernetes label syntax (the tags also label every Kubernetes object): an optional DNS-subdomain prefix and a
// name of at most 63 characters; values at most 63 characters.
const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const isLabelKey = (k: string): boolean => {
  const slash = k.lastIndexOf("/");
  const [prefix, name] = slash === -1 ? [undefined, k] : [k.slice(0, slash), k.slice(slash + 1)];
  return LABEL_NAME.test(name) && (prefix === undefined || (prefix.length <= 253 && LABEL_PREFIX.test(prefix)));
};
const tags = json(
  z.record(
    z.string(),
    z.string().regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/, "has a value that is not a Kubernetes label value (at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric)"),
  ),
);

const common = {
  cloud: z.enum(CLOUDS),
  queues: list(z.string().min(1)).refine((q) => q.length > 0, "needs at least one queue"),
  entity: z.string().min(1).optional(),
  maxJobs: z.coerce.number().int().min(-1).optional(),
  maxSchedulers: z.coerce.number().int().min(-1).optional(),
  verbosity: z.coerce.number().int().min(0).max(2).optional(),
  apiKey: z.string().min(1).optional(),
  apiKeySecretName: k8sName("Secret").optional(),
  apiKeySecretKey: z.string().min(1).optional(),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  namespace: k8sName("namespace").default("wandb"),
  // Default: true, unless the config names Secrets that must already exist in the namespace (see parseStackConfig).
  createNamespace: bool.optional(),
  serviceAccountName: k8sName("ServiceAccount").default("wandb-launch-agent"),
  targetNamespaces: list(k8sName("namespace")).default([]),
  agentImage: z.string().regex(/^[^\s]+$/, "must be an image reference without spaces").optional(),
  agentImagePlatforms: list(z.enum(["linux/amd64", "linux/arm64"])).optional(),
  /** `builder.kaniko-image`. */
  kanikoImage: z.string().min(1).optional(),
  /** `builder.build-job-name` (checked by the agent's schema when the launch config is rendered). */
  buildJobName: z
    .string()
    .max(50)
    .regex(DNS_LABEL, "cannot prefix a Kubernetes Job name: use at most 50 lowercase letters, digits and '-', starting and ending alphanumeric")
    .optional(),
  /** `builder.kaniko-config`: a Kubernetes Job fragment merged into every kaniko build Job. */
  kanikoConfig: json(z.record(z.string(), z.unknown(), "must be a Kubernetes Job fragment (a JSON object such as {\"spec\":{\"template\":{...}}})")).optional(),
  /** Tags on every taggable cloud resource (GCP: labels) and labels on every Kubernetes object. */
  tags: tags.optional(),
  replicas: z.coerce.number().int().min(1).max(10).optional(),
  /** The agent's health/metrics port with liveness and readiness probes; false for an agent without it (the official image). */
  healthPort: z.union([z.coerce.number().int().min(1024).max(65535), z.literal(false), z.literal("false").transform(() => false as const)]).optional(),
  /** A Service and Prometheus Operator ServiceMonitor for the agent's /metrics. */
  serviceMonitor: bool.optional(),
  /** A PodDisruptionBudget for the agent pods (default true). */
  podDisruptionBudget: bool.optional(),
  /** RBAC rules in the run namespaces on top of the defaults, e.g. for custom resources (Volcano, JobSet, Kubeflow). */
  extraTargetRules: list(
    z.strictObject({
      apiGroups: z.array(z.string()).min(1),
      resources: z.array(z.string().min(1)).min(1),
      verbs: z.array(z.enum(["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"])).min(1),
    }),
  ).optional(),
};

// Lifecycle settings of what the stack creates; the kubernetes kind creates no registry or bucket.
const lifecycle = {
  contextExpirationDays: days.optional(),
  untaggedImageExpirationDays: days.optional(),
  imageExpirationDays: days.optional(),
  forceDestroy: bool.optional(),
};

const aws = {
  eksClusterName: z.string().min(1).optional(),
  oidcIssuerUrl: z.url({ protocol: /^https$/ }).optional(),
  oidcProviderArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:oidc-provider\/.+$/, "must be an IAM OIDC provider ARN").optional(),
  repositoryName: z.string().regex(/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/, "must be a valid ECR repository name").optional(),
  bucketName: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be a valid S3 bucket name").optional(),
  kmsKeyArn: z.string().regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, "must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>; not an alias)").optional(),
  /** Opt-in: SageMaker execution role + the agent's grants for `resource: sagemaker`. */
  sagemaker: bool.optional(),
};

const gcp = {
  workloadIdentityPool: z.string().min(1).optional(),
  repositoryId: z.string().min(1).optional(),
  imageName: z.string().min(1).optional(),
  bucketName: z.string().min(3).optional(),
  serviceAccountId: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be 6-30 lowercase letters, digits or '-'").optional(),
  /** The GKE cluster: the Kubernetes provider and the node service accounts come from it. */
  gkeClusterName: z.string().min(1).optional(),
  /** Its region or zone. Default: gcp:region. */
  gkeClusterLocation: z.string().min(1).optional(),
  /** Grant the node service accounts `roles/artifactregistry.reader` on the repository. */
  grantClusterPull: bool.default(true),
  /** Opt-in: Vertex AI job service account + the agent's grants for `resource: vertex`. */
  vertex: bool.optional(),
};

const azure = {
  resourceGroupName: z.string().min(1),
  location: z.string().min(1).optional(),
  aksClusterName: z.string().min(1).optional(),
  aksResourceGroupName: z.string().min(1).optional(),
  oidcIssuerUrl: z.url({ protocol: /^https$/ }).optional(),
  registryName: z.string().min(1).optional(),
  registrySku: z.enum(["Basic", "Standard", "Premium"]).optional(),
  repositoryName: z.string().min(1).optional(),
  storageAccountName: z.string().min(1).optional(),
  containerName: z.string().min(1).optional(),
  /** Grant the AKS kubelet identity `AcrPull` on the registry. */
  grantClusterPull: bool.default(true),
  /** Shared-key (account key) access on the storage account; kaniko reads build contexts with the key. */
  storageSharedKeyAccess: bool.default(true),
  /** Which AKS kubeconfig the Kubernetes provider uses: the user's (Entra ID) or the cluster admin's. */
  aksCredentials: z.enum(["user", "admin"]).default("user"),
};

const kubernetes = {
  destination: z.string().min(1),
  buildContextStore: z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, "must be an s3://<bucket>/<prefix> URI (any S3-compatible store)"),
  s3Endpoint: z.url({ protocol: /^https?$/ }).optional(),
  s3Region: z.string().min(1).default("us-east-1"),
  s3CredentialsSecretName: k8sName("Secret"),
  registryAuthSecretName: k8sName("Secret").optional(),
  registryUsername: z.string().min(1).optional(),
  registryPassword: z.string().min(1).optional(),
};

const schemas = {
  aws: z.strictObject({ ...common, cloud: z.literal("aws"), ...lifecycle, ...aws }),
  gcp: z.strictObject({ ...common, cloud: z.literal("gcp"), ...lifecycle, ...gcp }),
  // ACR has no age rule for tagged images and the Azure component has no force-destroy switch.
  azure: z.strictObject({
    ...common,
    cloud: z.literal("azure"),
    contextExpirationDays: lifecycle.contextExpirationDays,
    untaggedImageExpirationDays: lifecycle.untaggedImageExpirationDays,
    ...azure,
  }),
  kubernetes: z.strictObject({ ...common, cloud: z.literal("kubernetes"), ...kubernetes }),
};

export type AwsStackConfig = z.infer<typeof schemas.aws>;
export type GcpStackConfig = z.infer<typeof schemas.gcp>;
export type AzureStackConfig = z.infer<typeof schemas.azure>;
export type KubernetesStackConfig = z.infer<typeof schemas.kubernetes>;
export type StackConfig = AwsStackConfig | GcpStackConfig | AzureStackConfig | KubernetesStackConfig;

/**
 * The Kubernetes provider's own config keys. When either is set, the agent is deployed where they point;
 * otherwise to the cluster the stack looked up (eksClusterName, gkeClusterName, aksClusterName).
 */
export const KUBE_TARGET_KEYS = ["kubernetes:kubeconfig", "kubernetes:context"] as const;

/** The stack config after the cross-key rules: `createNamespace` is decided, the Kubernetes target is known. */
export type ResolvedStackConfig = StackConfig & {
  createNamespace: boolean;
  /** The stack names a kubeconfig or context explicitly (KUBE_TARGET_KEYS). */
  explicitKubeTarget: boolean;
};

/** Keys holding secrets: set them with `pulumi config set --secret`, never echo their values. */
export const SECRET_KEYS = ["apiKey", "registryPassword"] as const;

/** Provider config each cloud's program needs (read by the providers, checked here for a clear message). */
const PROVIDER_KEYS: Record<Cloud, Array<{ key: string; example: string }>> = {
  aws: [{ key: "aws:region", example: "us-west-2" }],
  gcp: [
    { key: "gcp:project", example: "my-project" },
    { key: "gcp:region", example: "us-central1" },
  ],
  azure: [],
  kubernetes: [],
};

export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid stack config:\n  ${problems.join("\n  ")}`);
    this.name = "StackConfigError";
  }
}

const setCommand = (key: string, example: string) =>
  (SECRET_KEYS as readonly string[]).includes(key)
    ? `pulumi config set --secret ${NAMESPACE}:${key}`
    : `pulumi config set ${NAMESPACE}:${key} ${example}`;

const EXAMPLES: Record<string, string> = {
  cloud: "aws",
  queues: "my-queue",
  eksClusterName: "my-cluster",
  resourceGroupName: "my-rg",
  destination: "registry.example.com/team/launch",
  buildContextStore: "s3://my-bucket/build-contexts",
  s3CredentialsSecretName: "launch-s3-credentials",
};

function allKeysOf(): Set<string> {
  return new Set(Object.values(schemas).flatMap((s) => Object.keys(s.shape)));
}

/**
 * Validates the flat Pulumi config map (`{"wandb-launch:cloud": "aws", "aws:region": "us-west-2", ...}`).
 * Every problem names its `pulumi config` key and how to fix it; secret values never appear.
 */
export function parseStackConfig(flat: Record<string, string>): ResolvedStackConfig {
  const ours: Record<string, string> = {};
  for (const [k, v] of Object.entries(flat)) {
    if (k.startsWith(`${NAMESPACE}:`)) ours[k.slice(NAMESPACE.length + 1)] = v;
  }
  const cloud = ours.cloud;
  if (cloud === undefined || !(CLOUDS as readonly string[]).includes(cloud)) {
    throw new StackConfigError([
      cloud === undefined
        ? `${NAMESPACE}:cloud is not set: run \`pulumi config set ${NAMESPACE}:cloud <${CLOUDS.join("|")}>\``
        : `${NAMESPACE}:cloud is "${cloud}": use one of ${CLOUDS.join(", ")} (\`pulumi config set ${NAMESPACE}:cloud aws\`)`,
    ]);
  }
  const c = cloud as Cloud;
  const problems: string[] = [];
  const known = allKeysOf();
  for (const { key, example } of PROVIDER_KEYS[c]) {
    if (!flat[key]) problems.push(`${key} is not set: the ${c} provider needs it (\`pulumi config set ${key} ${example}\`)`);
  }
  const result = schemas[c].safeParse(ours);
  const explicitKubeTarget = KUBE_TARGET_KEYS.some((k) => (flat[k] ?? "") !== "");
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) {
          problems.push(
            known.has(key)
              ? `${NAMESPACE}:${key} does not apply to cloud ${c}: remove it (\`pulumi config rm ${NAMESPACE}:${key}\`)`
              : `${NAMESPACE}:${key} is not a setting of this program${suggest(key, known)}: remove it (\`pulumi config rm ${NAMESPACE}:${key}\`)`,
          );
        }
        continue;
      }
      const key = String(issue.path[0] ?? "");
      const secret = (SECRET_KEYS as readonly string[]).includes(key);
      const shown = secret || ours[key] === undefined ? "" : ` (got "${ours[key]}")`;
      const missing = ours[key] === undefined;
      problems.push(
        missing
          ? `${NAMESPACE}:${key} is required for cloud ${c}: run \`${setCommand(key, EXAMPLES[key] ?? "<value>")}\``
          : `${NAMESPACE}:${key} ${issue.message}${shown}`,
      );
    }
  }
  if (result.success) {
    const cfg = result.data;
    if ((cfg.apiKey === undefined) === (cfg.apiKeySecretName === undefined)) {
      problems.push(
        cfg.apiKey === undefined
          ? `${NAMESPACE}:apiKey is not set: run \`pulumi config set --secret ${NAMESPACE}:apiKey\` (or name an existing Secret with ${NAMESPACE}:apiKeySecretName)`
          : `${NAMESPACE}:apiKey and ${NAMESPACE}:apiKeySecretName are both set: keep one (\`pulumi config rm ${NAMESPACE}:apiKeySecretName\`)`,
      );
    }
    problems.push(...clusterProblems(cfg, explicitKubeTarget), ...namespaceProblems(cfg), ...tagProblems(cfg));
    const kaniko = cfg.kanikoConfig === undefined ? undefined : kanikoConfigProblem(cfg.kanikoConfig);
    if (kaniko !== undefined) {
      problems.push(`${NAMESPACE}:kanikoConfig would fail every build: ${kaniko}. Fix the fragment (\`pulumi config set ${NAMESPACE}:kanikoConfig '<json>'\`) or remove it (\`pulumi config rm ${NAMESPACE}:kanikoConfig\`)`);
    }
    if (cfg.cloud === "kubernetes" && (cfg.registryUsername === undefined) !== (cfg.registryPassword === undefined)) {
      problems.push(`${NAMESPACE}:registryUsername and ${NAMESPACE}:registryPassword go together: set both (\`pulumi config set --secret ${NAMESPACE}:registryPassword\`) or neither`);
    }
  }
  if (problems.length > 0) throw new StackConfigError(problems);
  const cfg = result.data!;
  return { ...cfg, createNamespace: cfg.createNamespace ?? existingSecrets(cfg).length === 0, explicitKubeTarget };
}

const CLUSTER_KEY = { aws: "eksClusterName", gcp: "gkeClusterName", azure: "aksClusterName" } as const;

/**
 * The agent must land on the cluster whose identity the stack trusts: the stack looks that cluster up and builds
 * the Kubernetes provider from it, unless a kubeconfig or context is named. The cluster is also where the pull
 * grants come from.
 */
function clusterProblems(cfg: StackConfig, explicitKubeTarget: boolean): string[] {
  if (cfg.cloud === "kubernetes") return [];
  const key = CLUSTER_KEY[cfg.cloud];
  const named = cfg.cloud === "aws" ? cfg.eksClusterName : cfg.cloud === "gcp" ? cfg.gkeClusterName : cfg.aksClusterName;
  if (named !== undefined) return [];
  const set = `\`pulumi config set ${NAMESPACE}:${key} my-cluster\``;
  if (cfg.cloud !== "aws" && cfg.grantClusterPull) {
    const what = cfg.cloud === "gcp" ? "the node service accounts that need roles/artifactregistry.reader" : "the kubelet identity that needs AcrPull";
    return [`${NAMESPACE}:${key} is required for cloud ${cfg.cloud}: ${what} come from the cluster. Run ${set}, or manage pull access yourself with \`pulumi config set ${NAMESPACE}:grantClusterPull false\``];
  }
  if (cfg.cloud !== "gcp" && cfg.oidcIssuerUrl === undefined) {
    return [`${NAMESPACE}:${key} is required for cloud ${cfg.cloud}: run ${set} (or set ${NAMESPACE}:oidcIssuerUrl and a kubernetes:context)`];
  }
  if (!explicitKubeTarget) {
    return [
      `${NAMESPACE}:${key} is not set, so the agent would be deployed to whatever cluster the current kubeconfig context points at, not necessarily the one whose identity the stack trusts: run ${set}, or name the cluster with \`pulumi config set kubernetes:context <context>\``,
    ];
  }
  return [];
}

/** Secrets the config names that the stack does not create: they must exist before the agent starts. */
function existingSecrets(cfg: StackConfig): string[] {
  const named = [
    cfg.apiKeySecretName && `${NAMESPACE}:apiKeySecretName (${cfg.apiKeySecretName})`,
    cfg.cloud === "kubernetes" && `${NAMESPACE}:s3CredentialsSecretName (${cfg.s3CredentialsSecretName})`,
    cfg.cloud === "kubernetes" && cfg.registryAuthSecretName && `${NAMESPACE}:registryAuthSecretName (${cfg.registryAuthSecretName})`,
  ];
  return named.filter((s): s is string => typeof s === "string");
}

/**
 * A namespace the stack creates holds no Secrets yet, so an agent that needs existing ones would wait until the
 * Deployment times out. `createNamespace` therefore defaults to false when the config names such Secrets, and an
 * explicit true is an error.
 */
function namespaceProblems(cfg: StackConfig): string[] {
  const secrets = existingSecrets(cfg);
  if (cfg.createNamespace !== true || secrets.length === 0) return [];
  return [
    `${NAMESPACE}:createNamespace is true, but ${secrets.join(" and ")} must already exist in namespace "${cfg.namespace}", which the stack would only create: create the namespace and the Secrets first (kubectl create namespace ${cfg.namespace}; kubectl create secret ... -n ${cfg.namespace}) and run \`pulumi config set ${NAMESPACE}:createNamespace false\`${cfg.apiKeySecretName ? `, or let the stack hold the key (\`pulumi config rm ${NAMESPACE}:apiKeySecretName\`; \`pulumi config set --secret ${NAMESPACE}:apiKey\`)` : ""}`,
  ];
}

/** Per-cloud tag rules on top of the Kubernetes label syntax every kind checks. */
function tagProblems(cfg: StackConfig): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(cfg.tags ?? {})) {
    const bad = (why: string) => out.push(`${NAMESPACE}:tags has "${k}": "${v}", ${why}: change it (\`pulumi config set --path '${NAMESPACE}:tags.<key>' <value>\`)`);
    if (!isLabelKey(k)) bad("which is not a Kubernetes label key (letters, digits, '-', '_', '.', at most 63, optionally after a DNS-name prefix and '/')");
    else if (/(^|\.)(kubernetes\.io|k8s\.io)\//.test(k) || k.startsWith("azure.workload.identity/")) bad("a key prefix reserved for Kubernetes and its add-ons");
    else if (cfg.cloud === "gcp" && !(/^[a-z][a-z0-9_-]{0,62}$/.test(k) && /^[a-z0-9_-]{0,63}$/.test(v))) bad("which GCP labels do not allow (keys: lowercase letters, digits, '_' and '-', starting with a letter; values: lowercase letters, digits, '_' and '-')");
    else if (cfg.cloud === "azure" && k.includes("/")) bad("which Azure tags do not allow (no '/' in keys)");
  }
  return out;
}

function suggest(key: string, known: Set<string>): string {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best ? ` (did you mean ${NAMESPACE}:${best}?)` : "";
}

function distance(a: string, b: string): number {
  const dp = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) dp[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      dp[i]![j] = Math.min(dp[i - 1]![j]! + 1, dp[i]![j - 1]! + 1, dp[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return dp[a.length]![b.length]!;
}
