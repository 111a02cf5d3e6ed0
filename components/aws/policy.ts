// Pure builders for every AWS document the launch environment installs. Kept free of Pulumi so tests can feed
// them to the IAM simulator and so `npm run render` shows exactly what `pulumi up` would send.

export interface PolicyStatement {
  Sid?: string;
  Effect: "Allow" | "Deny";
  Principal?: "*" | Record<string, string | string[]>;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

/**
 * ECR actions W&B documents for the agent, verbatim, so a platform team comparing against W&B's docs finds every
 * one. All are scoped to the one repository: `CreateRepository` on an existing repository's ARN can only fail with
 * RepositoryAlreadyExists, and `BatchDeleteImage` is limited to images in this repository.
 */
export const DOCUMENTED_ECR_ACTIONS = [
  "ecr:CreateRepository",
  "ecr:UploadLayerPart",
  "ecr:PutImage",
  "ecr:CompleteLayerUpload",
  "ecr:InitiateLayerUpload",
  "ecr:DescribeRepositories",
  "ecr:DescribeImages",
  "ecr:BatchCheckLayerAvailability",
  "ecr:BatchDeleteImage",
] as const;

/**
 * Pull actions W&B's list lacks but the agent needs: the existence check reads the manifest
 * (`HEAD /v2/<repo>/manifests/<tag>` is authorised as BatchGetImage) and kaniko's `--cache-repo` pulls cached
 * layers from this same repository.
 */
export const PULL_ECR_ACTIONS = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"] as const;

/** Every action the agent (and kaniko, which runs under the same ServiceAccount) performs on the repository. */
export const REPOSITORY_ACTIONS = [...DOCUMENTED_ECR_ACTIONS, ...PULL_ECR_ACTIONS] as const;

/**
 * Object actions on `bucket/*`. `s3:*Object` is W&B's documented grant (Get/Put/Delete/... Object); we add
 * `s3:AbortMultipartUpload` because the agent streams large contexts as multipart uploads and aborts a failed
 * one so no orphaned parts stay billed (the lifecycle rule is only the backstop).
 */
export const OBJECT_ACTIONS = ["s3:*Object", "s3:AbortMultipartUpload"] as const;

/**
 * What S3 asks KMS for on the caller's behalf when the bucket encrypts with a customer key (SSE-KMS):
 * GenerateDataKey for every PutObject and CreateMultipartUpload (the agent's upload), Decrypt for GetObject
 * (kaniko's read) and for the parts of a multipart upload. ECR needs no grant from the role: it encrypts and
 * decrypts image layers through the grant it created on the key with the repository.
 */
export const S3_KMS_ACTIONS = ["kms:GenerateDataKey", "kms:Decrypt"] as const;

export interface AgentPolicyTargets {
  /** `arn:aws:ecr:<region>:<account>:repository/<name>` */
  repositoryArn: string;
  /** `arn:aws:s3:::<bucket>` */
  bucketArn: string;
  /**
   * The customer-managed KMS key the bucket encrypts with, when one is used; the role may use it only through S3
   * in `region`.
   */
  kms?: { keyArn: string; region: string; dnsSuffix?: string };
}

/**
 * The agent role's permissions policy: push/pull on exactly one repository, read/write objects in exactly one
 * bucket. `sts:GetCallerIdentity` (the agent's credential check at startup) needs no grant: IAM never denies it.
 */
export function agentPolicyDocument({ repositoryArn, bucketArn, kms }: AgentPolicyTargets): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      ...(kms === undefined
        ? []
        : [
            {
              // Only this key, and only when S3 calls KMS for the caller: the role cannot decrypt anything else
              // the key protects by calling KMS directly.
              Sid: "BuildContextKeyThroughS3",
              Effect: "Allow" as const,
              Action: [...S3_KMS_ACTIONS],
              Resource: kms.keyArn,
              Condition: { StringEquals: { "kms:ViaService": `s3.${kms.region}.${kms.dnsSuffix ?? "amazonaws.com"}` } },
            },
          ]),
      { Sid: "PushPullLaunchRepository", Effect: "Allow", Action: [...REPOSITORY_ACTIONS], Resource: repositoryArn },
      // The registry login token cannot be scoped to a repository; it grants nothing by itself.
      { Sid: "RegistryLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
      // ListBucket also authorises HeadBucket, the official agent's bucket check.
      { Sid: "ListBuildContextBucket", Effect: "Allow", Action: "s3:ListBucket", Resource: bucketArn },
      { Sid: "ReadWriteBuildContexts", Effect: "Allow", Action: [...OBJECT_ACTIONS], Resource: `${bucketArn}/*` },
    ],
  };
}

export interface TrustTargets {
  /** `arn:aws:iam::<account>:oidc-provider/oidc.eks.<region>.amazonaws.com/id/<ID>` */
  oidcProviderArn: string;
  /** The cluster's OIDC issuer URL, with or without `https://`. */
  oidcIssuerUrl: string;
  namespace: string;
  serviceAccountName: string;
}

/** The issuer as IAM condition keys spell it: host and path, no scheme, no trailing slash. */
export function issuerHostPath(issuerUrl: string): string {
  return issuerUrl.replace(/^https:\/\//, "").replace(/\/+$/, "");
}

/**
 * IRSA trust policy: only tokens the cluster issued to the agent's one ServiceAccount, minted for STS, can assume
 * the role. StringEquals (not StringLike) on `sub` so no other ServiceAccount or namespace matches.
 */
export function trustPolicyDocument(t: TrustTargets): PolicyDocument {
  const issuer = issuerHostPath(t.oidcIssuerUrl);
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "LaunchAgentServiceAccount",
        Effect: "Allow",
        Principal: { Federated: t.oidcProviderArn },
        Action: "sts:AssumeRoleWithWebIdentity",
        Condition: {
          StringEquals: {
            [`${issuer}:sub`]: `system:serviceaccount:${t.namespace}:${t.serviceAccountName}`,
            [`${issuer}:aud`]: "sts.amazonaws.com",
          },
        },
      },
    ],
  };
}

/** The OIDC provider ARN EKS registers for an issuer (when the caller does not pass one). */
export function oidcProviderArn(partition: string, accountId: string, issuerUrl: string): string {
  return `arn:${partition}:iam::${accountId}:oidc-provider/${issuerHostPath(issuerUrl)}`;
}

/** Bucket policy refusing every request that does not use TLS (build contexts carry source code). */
export function tlsOnlyBucketPolicy(bucketArn: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
}

export type EcrLifecycleSelection =
  | { tagStatus: "untagged" | "any"; countType: "sinceImagePushed"; countUnit: "days"; countNumber: number }
  | { tagStatus: "tagged"; tagPrefixList: string[]; countType: "imageCountMoreThan"; countNumber: number };

export interface EcrLifecycleRule {
  rulePriority: number;
  description: string;
  selection: EcrLifecycleSelection;
  action: { type: "expire" };
}

export interface EcrLifecycleOptions {
  /** Untagged manifests (overwritten tags, interrupted pushes) expire after this many days. */
  untaggedImageExpirationDays: number;
  /**
   * When set, every image (run images and kaniko cache layers alike) expires this many days after its push. A
   * later run of the same source then rebuilds. Off unless set.
   */
  imageExpirationDays?: number;
  /**
   * Tag of the agent's own image in this repository (default `launch-agent`). With `imageExpirationDays` set it is
   * shielded from the age rule: ECR never lets a lower-priority rule expire an image a higher-priority rule's tag
   * selection matched, and only one image ever carries this moving tag, so the count of 1 never expires it either.
   */
  agentImageTag?: string;
}

/**
 * ECR lifecycle policy. Rules are by age only: kaniko's `--cache-repo` writes cache layers into this same
 * repository, so a "keep the last N images" rule would let a burst of cache pushes evict the run images a queued
 * job is about to pull.
 */
export function ecrLifecyclePolicy(o: EcrLifecycleOptions): { rules: EcrLifecycleRule[] } {
  const rules: EcrLifecycleRule[] = [
    {
      rulePriority: 1,
      description: `Expire untagged images ${o.untaggedImageExpirationDays} days after push`,
      selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: o.untaggedImageExpirationDays },
      action: { type: "expire" },
    },
  ];
  if (o.imageExpirationDays !== undefined) {
    rules.push({
      rulePriority: 2,
      description: "Keep the agent's current image out of the age rule below",
      selection: { tagStatus: "tagged", tagPrefixList: [o.agentImageTag ?? "launch-agent"], countType: "imageCountMoreThan", countNumber: 1 },
      action: { type: "expire" },
    });
    rules.push({
      rulePriority: 3,
      description: `Expire every image (runs and kaniko cache) ${o.imageExpirationDays} days after push`,
      selection: { tagStatus: "any", countType: "sinceImagePushed", countUnit: "days", countNumber: o.imageExpirationDays },
      action: { type: "expire" },
    });
  }
  return { rules };
}

/** Validates a day count for a lifecycle rule, naming the argument on error. */
export function requirePositiveDays(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a whole number of days >= 1 (got ${String(value)})`);
  }
  return value;
}
