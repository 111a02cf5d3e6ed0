import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { LaunchEnvironmentOutputs, RegistryAuth } from "../types.js";
import {
  agentPolicyDocument,
  ecrLifecyclePolicy,
  issuerHostPath,
  oidcProviderArn,
  requirePositiveDays,
  tlsOnlyBucketPolicy,
  trustPolicyDocument,
} from "./policy.js";
import { sageMakerAccess, type SageMakerAccess } from "./sagemaker.js";
import { sageMakerQueueConfig } from "../queue-configs.js";

export * from "./policy.js";
export * from "./sagemaker.js";

export interface AwsLaunchEnvironmentArgs {
  /**
   * The EKS cluster's OIDC issuer URL (`aws eks describe-cluster --name <c> --query cluster.identity.oidc.issuer`).
   * The cluster must have an IAM OIDC provider registered for it (`eksctl utils associate-iam-oidc-provider`).
   */
  readonly oidcIssuerUrl: pulumi.Input<string>;
  /**
   * ARN of the IAM OIDC provider for that issuer.
   * Default: `arn:<partition>:iam::<this account>:oidc-provider/<issuer host/path>`, the ARN EKS tooling registers.
   */
  readonly oidcProviderArn?: pulumi.Input<string>;
  /** Namespace of the agent's ServiceAccount (the only subject the role trusts). */
  readonly namespace: pulumi.Input<string>;
  /** Name of the agent's ServiceAccount (kaniko build pods run under it too). */
  readonly serviceAccountName: pulumi.Input<string>;
  /** ECR repository name. Default: auto-named from the component name. */
  readonly repositoryName?: pulumi.Input<string>;
  /** S3 bucket name for build contexts. Default: auto-named from the component name. */
  readonly bucketName?: pulumi.Input<string>;
  /** Key prefix for build contexts inside the bucket. Default `build-contexts`. */
  readonly contextPrefix?: string;
  /** Build contexts are deleted this many days after upload (the agent never deletes them). Default 7. */
  readonly contextExpirationDays?: number;
  /** Untagged images expire this many days after push. Default 7. */
  readonly untaggedImageExpirationDays?: number;
  /** When set, every image (runs and kaniko cache) expires this many days after push. Default: never. */
  readonly imageExpirationDays?: number;
  /**
   * KMS key ARN for the repository and the bucket. Default: AWS-managed AES256 encryption. The role may then use
   * this key through S3 (GenerateDataKey, Decrypt); the key policy must let IAM policies of the account grant it.
   */
  readonly kmsKeyArn?: pulumi.Input<string>;
  /** Let `pulumi destroy` delete a non-empty repository and bucket. Default false. */
  readonly forceDestroy?: boolean;
  /** Tags for every taggable resource. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Opt-in: create a SageMaker execution role and let the agent run `resource: sagemaker` items (create,
   * describe and stop training jobs, pass only that role and only to SageMaker, read the jobs' logs). Default false.
   */
  readonly sagemaker?: boolean;
}

/**
 * Registry, build-context bucket and IRSA role for a W&B launch agent on EKS: an ECR repository, an S3 bucket
 * for kaniko build contexts, and an IAM role that only the agent's ServiceAccount can assume, allowed to push and
 * pull that repository and read/write that bucket.
 */
export class AwsLaunchEnvironment extends pulumi.ComponentResource {
  readonly repository: aws.ecr.Repository;
  readonly bucket: aws.s3.Bucket;
  readonly role: aws.iam.Role;
  readonly outputs: LaunchEnvironmentOutputs;
  /** With `sagemaker: true`: the execution role and output path. */
  readonly sagemaker?: SageMakerAccess;
  /** With `sagemaker: true`: a queue config (resource_args) for `resource: sagemaker` wired to what was created. */
  readonly queueConfig?: pulumi.Output<Record<string, unknown>>;

  constructor(name: string, args: AwsLaunchEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wandb-launch:aws:LaunchEnvironment", name, {}, opts);
    const parent = { parent: this };
    const contextDays = requirePositiveDays("contextExpirationDays", args.contextExpirationDays ?? 7);
    const untaggedDays = requirePositiveDays("untaggedImageExpirationDays", args.untaggedImageExpirationDays ?? 7);
    const imageDays =
      args.imageExpirationDays === undefined ? undefined : requirePositiveDays("imageExpirationDays", args.imageExpirationDays);
    const prefix = (args.contextPrefix ?? "build-contexts").replace(/^\/+|\/+$/g, "");
    if (!/^[a-zA-Z0-9!_.*'()/-]+$/.test(prefix)) {
      throw new Error(`contextPrefix must be a non-empty S3 key prefix without spaces (got "${args.contextPrefix}")`);
    }

    const region = aws.getRegionOutput({}, parent).region;
    const account = aws.getCallerIdentityOutput({}, parent).accountId;
    const partitionInfo = aws.getPartitionOutput({}, parent);
    const partition = partitionInfo.partition;

    // --- registry ---
    this.repository = new aws.ecr.Repository(
      `${name}-registry`,
      {
        name: args.repositoryName,
        // Tags must stay mutable: kaniko re-pushes cache tags and the agent may rebuild a tag whose push failed.
        imageTagMutability: "MUTABLE",
        imageScanningConfiguration: { scanOnPush: true },
        encryptionConfigurations: [
          args.kmsKeyArn ? { encryptionType: "KMS", kmsKey: args.kmsKeyArn } : { encryptionType: "AES256" },
        ],
        forceDelete: args.forceDestroy ?? false,
        tags: args.tags,
      },
      parent,
    );
    new aws.ecr.LifecyclePolicy(
      `${name}-registry-lifecycle`,
      {
        repository: this.repository.name,
        policy: JSON.stringify(
          ecrLifecyclePolicy({ untaggedImageExpirationDays: untaggedDays, imageExpirationDays: imageDays }),
        ),
      },
      parent,
    );

    // --- build-context bucket ---
    this.bucket = new aws.s3.Bucket(
      `${name}-contexts`,
      { bucket: args.bucketName, forceDestroy: args.forceDestroy ?? false, tags: args.tags },
      parent,
    );
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
      `${name}-contexts-public-access`,
      {
        bucket: this.bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    // ACLs off: every object belongs to the bucket owner, access is decided by IAM alone.
    new aws.s3.BucketOwnershipControls(
      `${name}-contexts-ownership`,
      { bucket: this.bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-contexts-encryption`,
      {
        bucket: this.bucket.id,
        rules: [
          args.kmsKeyArn
            ? {
                applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn },
                bucketKeyEnabled: true,
              }
            : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
        ],
      },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-contexts-lifecycle`,
      {
        bucket: this.bucket.id,
        rules: [
          {
            id: "expire-build-contexts",
            status: "Enabled",
            filter: { prefix: `${prefix}/` },
            expiration: { days: contextDays },
          },
          {
            // Parts of an interrupted multipart upload are invisible to listings but billed until aborted.
            id: "abort-incomplete-uploads",
            status: "Enabled",
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: 1 },
          },
        ],
      },
      parent,
    );
    new aws.s3.BucketPolicy(
      `${name}-contexts-tls-only`,
      { bucket: this.bucket.id, policy: this.bucket.arn.apply((arn) => JSON.stringify(tlsOnlyBucketPolicy(arn))) },
      // S3 rejects concurrent bucket-policy and public-access-block writes with OperationAborted.
      { parent: this, dependsOn: [publicAccess] },
    );

    // --- identity (IRSA) ---
    const providerArn = args.oidcProviderArn
      ? pulumi.output(args.oidcProviderArn)
      : pulumi.all([partition, account, args.oidcIssuerUrl]).apply(([p, a, i]) => oidcProviderArn(p, a, i));
    this.role = new aws.iam.Role(
      `${name}-agent`,
      {
        description: "W&B launch agent (IRSA): push/pull one ECR repository, read/write one build-context bucket",
        assumeRolePolicy: pulumi
          .all([providerArn, args.oidcIssuerUrl, args.namespace, args.serviceAccountName])
          .apply(([oidcProviderArn, oidcIssuerUrl, namespace, serviceAccountName]) => {
            if (!issuerHostPath(oidcIssuerUrl)) throw new Error("oidcIssuerUrl is empty: pass the EKS cluster's OIDC issuer URL");
            return JSON.stringify(trustPolicyDocument({ oidcProviderArn, oidcIssuerUrl, namespace, serviceAccountName }));
          }),
        tags: args.tags,
      },
      parent,
    );
    const policy = new aws.iam.RolePolicy(
      `${name}-agent-policy`,
      {
        role: this.role.id,
        policy: pulumi
          .all([this.repository.arn, this.bucket.arn, args.kmsKeyArn, region, partitionInfo.dnsSuffix])
          .apply(([repositoryArn, bucketArn, keyArn, r, dnsSuffix]) =>
            JSON.stringify(agentPolicyDocument({ repositoryArn, bucketArn, kms: keyArn ? { keyArn, region: r, dnsSuffix } : undefined })),
          ),
      },
      parent,
    );
    if (args.sagemaker) {
      this.sagemaker = sageMakerAccess(
        name,
        {
          agentRoleId: this.role.id,
          repositoryArn: this.repository.arn,
          bucketArn: this.bucket.arn,
          bucketName: this.bucket.bucket,
          scope: pulumi.all([partition, region, account]).apply(([partition, region, account]) => ({ partition, region, account })),
          tags: args.tags,
        },
        this,
      );
      this.queueConfig = pulumi
        .all([this.sagemaker.executionRoleArn, this.sagemaker.outputPath])
        .apply(([executionRoleArn, outputPath]) => sageMakerQueueConfig({ executionRoleArn, outputPath }));
    }

    // Consumers (the agent Deployment) must not start before the role can actually do its job.
    const roleArn = pulumi.all([this.role.arn, policy.id]).apply(([arn]) => arn);

    const token = aws.ecr.getAuthorizationTokenOutput({ registryId: this.repository.registryId }, parent);
    const registryAuth: pulumi.Output<RegistryAuth> = pulumi.secret(
      pulumi.all([token.proxyEndpoint, token.userName, token.password]).apply(([endpoint, username, password]) => ({
        address: endpoint.replace(/^https:\/\//, ""),
        username,
        password,
      })),
    );

    this.outputs = {
      environmentType: "aws",
      region: region.apply((r): string | null => r),
      destination: this.repository.repositoryUrl,
      buildContextStore: pulumi.interpolate`s3://${this.bucket.bucket}/${prefix}`,
      serviceAccountAnnotations: roleArn.apply((arn): Record<string, string> => ({ "eks.amazonaws.com/role-arn": arn })),
      podLabels: pulumi.output<Record<string, string>>({}),
      identity: roleArn,
      registryAuth,
    };
    this.registerOutputs({
      repositoryUrl: this.repository.repositoryUrl,
      bucket: this.bucket.bucket,
      roleArn,
      destination: this.outputs.destination,
      buildContextStore: this.outputs.buildContextStore,
    });
  }
}
