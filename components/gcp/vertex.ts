// What the agent's `vertex` runner needs in GCP, opt-in: a service account the custom jobs run as, the
// custom-job permissions for the agent, and `iam.serviceAccounts.actAs` for the agent on that one service
// account only (Vertex checks actAs on the job's `service_account`), so the agent cannot start jobs that run
// as any other identity. Pure lists here; `vertexAccess` creates the resources.
import * as gcp from "@pulumi/gcp";
import * as pulumi from "@pulumi/pulumi";
import { customRoleId } from "./policy.js";

/** The agent's custom role on the project: exactly what the runner calls (create, get, cancel a CustomJob). */
export const VERTEX_AGENT_PERMISSIONS = ["aiplatform.customJobs.create", "aiplatform.customJobs.get", "aiplatform.customJobs.cancel"] as const;

/** Bound on the job service account only: carries iam.serviceAccounts.actAs (and get/list) for that account. */
export const ACT_AS_ROLE = "roles/iam.serviceAccountUser";

/** What a job needs as its identity: pull run images from the repository, write logs, write output under the staging prefix. */
export const VERTEX_JOB_REPOSITORY_ROLE = "roles/artifactregistry.reader";
export const VERTEX_JOB_LOG_ROLE = "roles/logging.logWriter";
export const VERTEX_JOB_BUCKET_ROLE = "roles/storage.objectUser";

/** Staging prefix in the environment's bucket; the generated queue config uses it. */
export const VERTEX_STAGING_PREFIX = "vertex-staging";

export interface VertexAccessArgs {
  project: pulumi.Input<string>;
  /** The agent's Google service account email. */
  agentEmail: pulumi.Input<string>;
  repository: gcp.artifactregistry.Repository;
  bucket: gcp.storage.Bucket;
  /** Custom role id for the agent's Vertex permissions. Default `<component>_<stack>_launchVertexJobs`, one per stack. */
  roleId?: string;
  /** Account id of the jobs' service account. Default `<component>-<stack>-vx` (at most 30 characters), one per stack. */
  jobServiceAccountId?: pulumi.Input<string>;
}

export interface VertexAccess {
  jobServiceAccount: gcp.serviceaccount.Account;
  /** The jobs' service account email, once every grant exists. */
  jobServiceAccountEmail: pulumi.Output<string>;
  /** `gs://<bucket>/vertex-staging`, for spec.staging_bucket. */
  stagingBucket: pulumi.Output<string>;
}

/** `<component>-<stack>-vx` as a service account id: lowercase, starts with a letter, 6-30 characters. */
export function defaultJobServiceAccountId(component: string, stack: string): string {
  let base = `${component}-${stack}`.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-");
  if (!/^[a-z]/.test(base)) base = `w-${base}`;
  return `${base.slice(0, 26).replace(/-+$/, "")}-vx`.padEnd(6, "x");
}

export function vertexAccess(name: string, args: VertexAccessArgs, parent: pulumi.Resource): VertexAccess {
  const opts = { parent };
  const agent = pulumi.interpolate`serviceAccount:${args.agentEmail}`;
  const jobServiceAccount = new gcp.serviceaccount.Account(
    `${name}-vertex-runs`,
    {
      project: args.project,
      accountId: args.jobServiceAccountId ?? defaultJobServiceAccountId(name, pulumi.getStack()),
      displayName: "W&B Launch Vertex AI runs",
      description: "Identity of the Vertex AI custom jobs the W&B launch agent starts",
    },
    opts,
  );
  const role = new gcp.projects.IAMCustomRole(
    `${name}-vertex-jobs-role`,
    {
      project: args.project,
      roleId: args.roleId ?? customRoleId(`${name}_${pulumi.getStack()}`, "launchVertexJobs"),
      title: "W&B Launch Vertex AI custom jobs",
      description: "Create, read and cancel Vertex AI custom jobs",
      permissions: [...VERTEX_AGENT_PERMISSIONS],
    },
    opts,
  );
  const grants: pulumi.Resource[] = [
    new gcp.projects.IAMMember(`${name}-agent-vertex-jobs`, { project: args.project, role: role.name, member: agent }, opts),
    new gcp.serviceaccount.IAMMember(`${name}-agent-act-as-vertex-runs`, { serviceAccountId: jobServiceAccount.name, role: ACT_AS_ROLE, member: agent }, opts),
  ];
  const job = pulumi.interpolate`serviceAccount:${jobServiceAccount.email}`;
  grants.push(
    new gcp.artifactregistry.RepositoryIamMember(
      `${name}-vertex-runs-pull`,
      { project: args.repository.project, location: args.repository.location, repository: args.repository.name, role: VERTEX_JOB_REPOSITORY_ROLE, member: job },
      opts,
    ),
    new gcp.storage.BucketIAMMember(`${name}-vertex-runs-staging`, { bucket: args.bucket.name, role: VERTEX_JOB_BUCKET_ROLE, member: job }, opts),
    new gcp.projects.IAMMember(`${name}-vertex-runs-logs`, { project: args.project, role: VERTEX_JOB_LOG_ROLE, member: job }, opts),
  );
  return {
    jobServiceAccount,
    jobServiceAccountEmail: pulumi.all([jobServiceAccount.email, ...grants.map((g) => (g as pulumi.CustomResource).id)]).apply(([email]) => email as string),
    stagingBucket: pulumi.interpolate`gs://${args.bucket.name}/${VERTEX_STAGING_PREFIX}`,
  };
}
