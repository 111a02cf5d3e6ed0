// The stack config (`pulumi config set wandb-launch:<key> ...`), validated with zod. Pure: takes the flat config
// map Pulumi hands the program and returns a typed config or throws StackConfigError naming every bad key with
// the command that fixes it. Secret values are only checked for presence, never echoed.
import { z } from "zod";

export const NAMESPACE = "wandb-launch";
export const CLOUDS = ["aws", "gcp", "azure", "kubernetes"] as const;
export type Cloud = (typeof CLOUDS)[number];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const k8sName = (what: string) =>
  z.string().max(63).regex(DNS_LABEL, `must be a Kubernetes ${what} name: lowercase letters, digits and '-', starting and ending alphanumeric`);
const days = z.coerce.number().int("must be a whole number of days").min(1, "must be at least 1 day").max(3650);
const bool = z.union([z.boolean(), z.enum(["true", "false"]).transform((v) => v === "true")]);
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
  createNamespace: bool.default(true),
  serviceAccountName: k8sName("ServiceAccount").default("wandb-launch-agent"),
  targetNamespaces: list(k8sName("namespace")).default([]),
  agentImage: z.string().regex(/^[^\s]+$/, "must be an image reference without spaces").optional(),
  agentImagePlatforms: list(z.enum(["linux/amd64", "linux/arm64"])).optional(),
  kanikoImage: z.string().min(1).optional(),
  replicas: z.coerce.number().int().min(1).max(10).optional(),
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
  kmsKeyArn: z.string().startsWith("arn:").optional(),
};

const gcp = {
  workloadIdentityPool: z.string().min(1).optional(),
  repositoryId: z.string().min(1).optional(),
  imageName: z.string().min(1).optional(),
  bucketName: z.string().min(3).optional(),
  serviceAccountId: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, "must be 6-30 lowercase letters, digits or '-'").optional(),
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
export function parseStackConfig(flat: Record<string, string>): StackConfig {
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
    if (cfg.cloud === "aws" && cfg.eksClusterName === undefined && cfg.oidcIssuerUrl === undefined) {
      problems.push(`${NAMESPACE}:eksClusterName is required for cloud aws: run \`pulumi config set ${NAMESPACE}:eksClusterName my-cluster\` (or set ${NAMESPACE}:oidcIssuerUrl)`);
    }
    if (cfg.cloud === "azure" && cfg.aksClusterName === undefined && cfg.oidcIssuerUrl === undefined) {
      problems.push(`${NAMESPACE}:aksClusterName is required for cloud azure: run \`pulumi config set ${NAMESPACE}:aksClusterName my-aks\` (or set ${NAMESPACE}:oidcIssuerUrl)`);
    }
    if (cfg.cloud === "azure" && cfg.namespace !== "wandb") {
      problems.push(
        `${NAMESPACE}:namespace is "${cfg.namespace}": on Azure the agent's kaniko builder reads its storage key and ACR config from namespace "wandb" only (\`pulumi config rm ${NAMESPACE}:namespace\`)`,
      );
    }
    if (cfg.cloud === "kubernetes" && (cfg.registryUsername === undefined) !== (cfg.registryPassword === undefined)) {
      problems.push(`${NAMESPACE}:registryUsername and ${NAMESPACE}:registryPassword go together: set both (\`pulumi config set --secret ${NAMESPACE}:registryPassword\`) or neither`);
    }
  }
  if (problems.length > 0) throw new StackConfigError(problems);
  return result.data!;
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
