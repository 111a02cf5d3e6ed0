import * as pulumi from "@pulumi/pulumi";
import * as gcp from "@pulumi/gcp";
import type { LaunchEnvironmentOutputs, RegistryAuth } from "../types.js";
import {
  ARTIFACT_REGISTRY_READER_ROLE,
  ARTIFACT_REGISTRY_ROLE,
  CONTEXT_STORE_PERMISSIONS,
  GKE_SA_ANNOTATION,
  GcpArgumentError,
  WORKLOAD_IDENTITY_ROLE,
  artifactRegistryCleanupPolicies,
  checkDays,
  contextLifecycleRules,
  defaultContextStoreRoleId,
  defaultRepositoryId,
  garDestination,
  gcsContextStore,
  isGarSegment,
  isK8sNamespace,
  isK8sServiceAccountName,
  isObjectPrefix,
  workloadIdentityMember,
  workloadIdentityPool,
} from "./policy.js";

import { vertexAccess, type VertexAccess } from "./vertex.js";
import { vertexQueueConfig } from "../queue-configs.js";

export interface GcpLaunchEnvironmentArgs {
  /** Project that holds the repository, bucket and service account. Default: the `gcp:project` stack config. */
  readonly project?: pulumi.Input<string>;
  /**
   * Region of the Artifact Registry repository and the bucket, e.g. `us-central1`; also `environment.region`
   * in launch-config.yaml. Default: the `gcp:region` stack config.
   */
  readonly region?: pulumi.Input<string>;
  /** Kubernetes namespace of the agent's ServiceAccount (kaniko pods run there too). Default `wandb`. */
  readonly namespace?: pulumi.Input<string>;
  /** Name of the agent's Kubernetes ServiceAccount, bound to the GSA through Workload Identity. Required. */
  readonly serviceAccountName: pulumi.Input<string>;
  /** Workload Identity pool of the GKE cluster. Default `<project>.svc.id.goog` (cluster in the same project). */
  readonly workloadIdentityPool?: pulumi.Input<string>;
  /**
   * Artifact Registry repository id. Default `<component>-<stack>-<hash>`: one per Pulumi stack, so dev and prod
   * stacks can share a GCP project.
   */
  readonly repositoryId?: pulumi.Input<string>;
  /** Image name inside the repository; GAR destinations must name one. Default `launch-job`. */
  readonly imageName?: pulumi.Input<string>;
  /** Delete untagged image versions older than this many days (plain number). Default 7. */
  readonly untaggedImageExpirationDays?: number;
  /**
   * Also delete every version of `imageName` (run images and kaniko cache), tagged or not, older than this
   * many days (plain number). Other images in the repository are untouched. Default: unset, tagged images are
   * kept. The agent rebuilds an image whose tag has been deleted.
   */
  readonly imageExpirationDays?: number;
  /** Bucket name (globally unique). Default: auto-named by Pulumi from the component name. */
  readonly bucketName?: pulumi.Input<string>;
  /** Object prefix for build contexts, no leading or trailing `/`; `""` uses the bucket root. Default `build-contexts`. */
  readonly contextPrefix?: string;
  /** Delete build contexts this many days after upload (plain number). Default 7. */
  readonly contextExpirationDays?: number;
  /**
   * Id of the project-level custom role for the bucket grant, `[a-zA-Z0-9_.]{3,64}`. Default
   * `<component>_<stack>_launchContextStore_<hash>`, one per stack. Stable on purpose: a deleted custom role
   * keeps its id reserved.
   */
  readonly contextStoreRoleId?: string;
  /** Google service account id (6-30 chars). Default: auto-named by Pulumi from the component name. */
  readonly serviceAccountId?: pulumi.Input<string>;
  /** Let `pulumi destroy` delete a bucket that still holds build contexts (plain boolean). Default false. */
  readonly forceDestroy?: boolean;
  /** Resource labels applied to the repository and the bucket. Default `{}`. */
  readonly labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /**
   * Emails of the service accounts the GKE nodes run as (see `nodeServiceAccounts`). When set, they get
   * `roles/artifactregistry.reader` on the repository: the kubelet pulls run images (and the agent image) with
   * the node's identity. The binding is authoritative for that role on this repository. Leave unset when the
   * nodes' pull access is managed elsewhere.
   */
  readonly nodeServiceAccounts?: pulumi.Input<pulumi.Input<string>[]>;
  /**
   * Opt-in: create a service account for Vertex AI custom jobs and let the agent run `resource: vertex` items
   * (create, get and cancel custom jobs; act as that one service account only). Default false.
   */
  readonly vertex?: boolean;
}

/**
 * Everything a W&B Launch agent on GKE needs in one project: an Artifact Registry docker repository, a
 * build-context bucket and a Google service account bound to the agent's Kubernetes ServiceAccount through
 * Workload Identity. Every grant is on the repository, the bucket or the GSA itself, never on the project.
 */
export class GcpLaunchEnvironment extends pulumi.ComponentResource {
  public readonly outputs: LaunchEnvironmentOutputs;
  public readonly repository: gcp.artifactregistry.Repository;
  public readonly bucket: gcp.storage.Bucket;
  public readonly serviceAccount: gcp.serviceaccount.Account;
  /** With `vertex: true`: the jobs' service account and staging bucket. */
  public readonly vertex?: VertexAccess;
  /** With `vertex: true`: a queue config (resource_args) for `resource: vertex` wired to what was created. */
  public readonly queueConfig?: pulumi.Output<Record<string, unknown>>;
  /** Project-level custom role *definition* with CONTEXT_STORE_PERMISSIONS; bound only on the bucket. */
  public readonly contextStoreRole: gcp.projects.IAMCustomRole;
  public readonly repositoryBinding: gcp.artifactregistry.RepositoryIamMember;
  /** Reader on the repository for the node service accounts; undefined without `nodeServiceAccounts`. */
  public readonly nodePullBinding: gcp.artifactregistry.RepositoryIamBinding | undefined;
  public readonly bucketBinding: gcp.storage.BucketIAMMember;
  public readonly workloadIdentityBinding: gcp.serviceaccount.IAMMember;

  constructor(name: string, args: GcpLaunchEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wandb-launch:gcp:LaunchEnvironment", name, {}, opts);

    const project = args.project ?? gcp.config.project;
    if (project === undefined || project === "") {
      throw new GcpArgumentError(name, "project", project, "Pass `project`, or run `pulumi config set gcp:project <project-id>`.");
    }
    const region = args.region ?? gcp.config.region;
    if (region === undefined || region === "") {
      throw new GcpArgumentError(name, "region", region, "Pass `region`, or run `pulumi config set gcp:region <region>` (e.g. us-central1).");
    }
    const namespace = args.namespace ?? "wandb";
    checkPlain(name, "namespace", namespace, isK8sNamespace, "Use a Kubernetes namespace name (DNS-1123 label).");
    checkPlain(name, "serviceAccountName", args.serviceAccountName, isK8sServiceAccountName, "Use a Kubernetes ServiceAccount name (DNS-1123 subdomain).");
    const scope = { project: pulumi.getProject(), stack: pulumi.getStack(), component: name };
    const repositoryId = args.repositoryId ?? defaultRepositoryId(scope);
    checkPlain(name, "repositoryId", repositoryId, (v) => /^[a-z][a-z0-9-]{0,62}$/.test(v), "Use lowercase letters, digits and hyphens, starting with a letter.");
    const imageName = args.imageName ?? "launch-job";
    checkPlain(name, "imageName", imageName, isGarSegment, "Use letters, digits, `_` and `-` only: the agent's Artifact Registry URI rule allows one path segment.");
    checkPlain(name, "region", region, isGarSegment, "Use a GCP region or multi-region name such as us-central1 or us.");
    checkPlain(name, "project", project, isGarSegment, "Domain-scoped projects (`example.com:proj`) do not fit the agent's Artifact Registry URI rule.");
    const untaggedDays = checkDays(name, "untaggedImageExpirationDays", args.untaggedImageExpirationDays ?? 7);
    const anyDays =
      args.imageExpirationDays === undefined ? undefined : checkDays(name, "imageExpirationDays", args.imageExpirationDays);
    const contextDays = checkDays(name, "contextExpirationDays", args.contextExpirationDays ?? 7);
    const prefix = args.contextPrefix ?? "build-contexts";
    if (!isObjectPrefix(prefix)) {
      throw new GcpArgumentError(name, "contextPrefix", prefix, "Use path segments of letters, digits, `.`, `_`, `-` joined by `/`, with no leading or trailing `/`.");
    }
    const roleId = args.contextStoreRoleId ?? defaultContextStoreRoleId(scope);
    if (!/^[a-zA-Z0-9_.]{3,64}$/.test(roleId)) {
      throw new GcpArgumentError(name, "contextStoreRoleId", roleId, "Use 3-64 letters, digits, `_` and `.` (no hyphens).");
    }
    const labels = args.labels ?? {};
    const parent = { parent: this };

    this.repository = new gcp.artifactregistry.Repository(
      `${name}-repository`,
      {
        project,
        location: region,
        repositoryId,
        format: "DOCKER",
        description: "W&B Launch images and kaniko layer cache",
        cleanupPolicies: pulumi.output(imageName).apply((image) => artifactRegistryCleanupPolicies(untaggedDays, anyDays, image)),
        // Dry run defaults differ across provider versions; the policy must actually delete.
        cleanupPolicyDryRun: false,
        labels,
      },
      parent,
    );

    this.bucket = new gcp.storage.Bucket(
      `${name}-contexts`,
      {
        project,
        name: args.bucketName,
        location: region,
        uniformBucketLevelAccess: true,
        publicAccessPrevention: "enforced",
        // Off by default: `pulumi destroy` must not silently delete objects someone may still rely on.
        forceDestroy: args.forceDestroy ?? false,
        lifecycleRules: contextLifecycleRules(contextDays, prefix),
        labels,
      },
      parent,
    );

    this.serviceAccount = new gcp.serviceaccount.Account(
      `${name}-agent`,
      {
        project,
        accountId: args.serviceAccountId,
        displayName: "W&B Launch agent",
        description: pulumi.interpolate`Used by KSA ${namespace}/${args.serviceAccountName} through Workload Identity`,
      },
      parent,
    );

    this.contextStoreRole = new gcp.projects.IAMCustomRole(
      `${name}-context-store-role`,
      {
        project,
        roleId,
        title: "W&B Launch build-context store",
        description: "Bound on one bucket only: read the bucket, write/read/delete build contexts",
        permissions: [...CONTEXT_STORE_PERMISSIONS],
      },
      parent,
    );

    const member = pulumi.interpolate`serviceAccount:${this.serviceAccount.email}`;

    this.repositoryBinding = new gcp.artifactregistry.RepositoryIamMember(
      `${name}-repository-writer`,
      {
        project: this.repository.project,
        location: this.repository.location,
        repository: this.repository.name,
        role: ARTIFACT_REGISTRY_ROLE,
        member,
      },
      parent,
    );

    this.nodePullBinding =
      args.nodeServiceAccounts === undefined
        ? undefined
        : new gcp.artifactregistry.RepositoryIamBinding(
            `${name}-repository-node-reader`,
            {
              project: this.repository.project,
              location: this.repository.location,
              repository: this.repository.name,
              role: ARTIFACT_REGISTRY_READER_ROLE,
              members: pulumi.output(args.nodeServiceAccounts).apply((emails) => {
                if (emails.length === 0) {
                  throw new GcpArgumentError(name, "nodeServiceAccounts", emails, "Name at least one node service account, or leave nodeServiceAccounts unset.");
                }
                return emails.map((e) => `serviceAccount:${e}`);
              }),
            },
            parent,
          );

    this.bucketBinding = new gcp.storage.BucketIAMMember(
      `${name}-bucket-context-store`,
      { bucket: this.bucket.name, role: this.contextStoreRole.name, member },
      parent,
    );

    const pool = args.workloadIdentityPool ?? pulumi.output(project).apply(workloadIdentityPool);
    this.workloadIdentityBinding = new gcp.serviceaccount.IAMMember(
      `${name}-workload-identity`,
      {
        serviceAccountId: this.serviceAccount.name,
        role: WORKLOAD_IDENTITY_ROLE,
        member: pulumi
          .all([pool, namespace, args.serviceAccountName])
          .apply(([p, ns, ksa]) => workloadIdentityMember(p, ns, ksa)),
      },
      parent,
    );

    if (args.vertex) {
      this.vertex = vertexAccess(name, { project, agentEmail: this.serviceAccount.email, repository: this.repository, bucket: this.bucket }, this);
      this.queueConfig = pulumi
        .all([this.vertex.jobServiceAccountEmail, this.vertex.stagingBucket])
        .apply(([serviceAccount, stagingBucket]) => vertexQueueConfig({ serviceAccount, stagingBucket }));
    }

    // Consumers get the identity only once its grants exist, so the agent never starts half-authorised.
    const email = pulumi
      .all([this.serviceAccount.email, this.repositoryBinding.id, this.bucketBinding.id, this.workloadIdentityBinding.id, this.nodePullBinding?.id])
      .apply(([e]) => e);

    // The deployer's own OAuth token, for pushing the agent image during `pulumi up` when no image is named.
    const token = gcp.organizations.getClientConfigOutput(parent).accessToken;
    const registryAuth: pulumi.Output<RegistryAuth> = pulumi.secret(
      pulumi.all([this.repository.location, token]).apply(([loc, password]) => ({
        address: `${loc}-docker.pkg.dev`,
        username: "oauth2accesstoken",
        password,
      })),
    );

    this.outputs = {
      environmentType: "gcp",
      region: pulumi.output(region),
      destination: pulumi
        .all([this.repository.location, this.repository.project, this.repository.repositoryId, imageName])
        .apply(([loc, proj, repo, image]) => garDestination(loc, proj, repo, image)),
      buildContextStore: this.bucket.name.apply((b) => gcsContextStore(b, prefix)),
      serviceAccountAnnotations: email.apply((e): Record<string, string> => ({ [GKE_SA_ANNOTATION]: e })),
      podLabels: pulumi.output<Record<string, string>>({}),
      identity: email,
      registryAuth,
    };

    this.registerOutputs({
      outputs: this.outputs,
      repository: this.repository,
      bucket: this.bucket,
      serviceAccount: this.serviceAccount,
    });
  }
}

/** Validate a plain string now; an Output is checked by the provider at apply time. */
function checkPlain(
  component: string,
  field: string,
  value: pulumi.Input<string>,
  ok: (v: string) => boolean,
  fix: string,
): void {
  if (typeof value === "string" && !ok(value)) throw new GcpArgumentError(component, field, value, fix);
}
