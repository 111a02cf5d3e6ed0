// Pure documents for the GCP launch environment: permissions, cleanup and lifecycle rules, the
// Workload Identity member and the URIs the agent config needs. No Pulumi resources here, so every
// rule can be tested directly.
import { createHash } from "node:crypto";
import type * as gcp from "@pulumi/gcp";

/** What the seed (W&B "advanced agent setup") lists for the registry. All of them are in ARTIFACT_REGISTRY_ROLE. */
export const SEED_ARTIFACT_REGISTRY_PERMISSIONS = [
  "artifactregistry.dockerimages.list",
  "artifactregistry.repositories.downloadArtifacts",
  "artifactregistry.repositories.list",
  "artifactregistry.repositories.uploadArtifacts",
] as const;

/**
 * Predefined role bound on the repository (never the project). Google documents Artifact Registry Writer
 * as the minimum role for `docker push` on a repository. Besides the seed's four permissions it carries
 * tag create/update and version/tag reads, which pushing over an existing tag (kaniko re-pushes cache
 * keys into this same repository) and the existence check may need. Bound on this one repository,
 * nothing it grants reaches another repository; `repositories.list` is inert at repository scope.
 */
export const ARTIFACT_REGISTRY_ROLE = "roles/artifactregistry.writer";

/**
 * Permissions of the custom role bound on the build-context bucket. No predefined role fits: the object
 * roles (objectUser/objectAdmin) lack `storage.buckets.get`, which the agent's bucket check calls, and
 * `storage.admin` adds bucket deletion and IAM changes. `objects.list` lets the agent and kaniko look up
 * an object before reading it.
 */
export const CONTEXT_STORE_PERMISSIONS = [
  "storage.buckets.get",
  "storage.objects.create",
  "storage.objects.delete",
  "storage.objects.get",
  "storage.objects.list",
] as const;

/**
 * Bound on the repository for the cluster's node service accounts: on GKE the kubelet pulls images with the
 * node's own identity, so without it neither run pods nor the agent start from this repository.
 */
export const ARTIFACT_REGISTRY_READER_ROLE = "roles/artifactregistry.reader";

/** GKE Workload Identity: the role that lets a KSA act as the GSA. Bound on the GSA itself. */
export const WORKLOAD_IDENTITY_ROLE = "roles/iam.workloadIdentityUser";

/** Annotation GKE reads on the KSA to pick the GSA. */
export const GKE_SA_ANNOTATION = "iam.gke.io/gcp-service-account";

const SECONDS_PER_DAY = 86_400;

/** A GCP input error that names the argument, the bad value and the fix. */
export class GcpArgumentError extends Error {
  constructor(component: string, field: string, value: unknown, fix: string) {
    super(`GcpLaunchEnvironment "${component}": ${field} = ${JSON.stringify(value)} is invalid. ${fix}`);
    this.name = "GcpArgumentError";
  }
}

/** Require a whole number of days >= 1. */
export function checkDays(component: string, field: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new GcpArgumentError(component, field, value, "Use a whole number of days, 1 or more.");
  }
  return value;
}

export interface CleanupPolicy {
  id: string;
  action: "DELETE";
  condition: { tagState: "UNTAGGED" | "ANY"; olderThan: string; packageNamePrefixes?: string[] };
}

/**
 * Artifact Registry cleanup policies. Always: delete UNTAGGED versions older than `untaggedDays`
 * (superseded pushes, dangling layers). Never "keep the last N": kaniko's layer cache lives in the same
 * repository, so a count would evict cache and run images alike. Optionally delete ANY version of the
 * launch image `imageName` (run images and kaniko's cache, which kaniko writes under the same image)
 * older than `anyDays`; the agent rebuilds an image whose tag has gone (it checks existence before
 * running). Other images in the repository, such as the agent's own image, are never age-deleted.
 */
export function artifactRegistryCleanupPolicies(untaggedDays: number, anyDays?: number, imageName?: string): CleanupPolicy[] {
  const policies: CleanupPolicy[] = [
    {
      id: `delete-untagged-after-${untaggedDays}d`,
      action: "DELETE",
      condition: { tagState: "UNTAGGED", olderThan: `${untaggedDays * SECONDS_PER_DAY}s` },
    },
  ];
  if (anyDays !== undefined) {
    const condition: CleanupPolicy["condition"] = { tagState: "ANY", olderThan: `${anyDays * SECONDS_PER_DAY}s` };
    if (imageName !== undefined) condition.packageNamePrefixes = [imageName];
    policies.push({ id: `delete-any-after-${anyDays}d`, action: "DELETE", condition });
  }
  return policies;
}

export interface BucketLifecycleRule {
  action: { type: "Delete" };
  condition: { age: number; matchesPrefixes?: string[] };
}

/** Delete build contexts `days` after upload: the agent never deletes `<store>/<run_id>.tgz` itself. */
export function contextLifecycleRules(days: number, prefix: string): BucketLifecycleRule[] {
  const condition: BucketLifecycleRule["condition"] = { age: days };
  if (prefix !== "") condition.matchesPrefixes = [`${prefix}/`];
  return [{ action: { type: "Delete" }, condition }];
}

export { isK8sNamespace, isK8sServiceAccountName } from "../kubernetes/names.js";

/** Member string GKE uses for a KSA: `serviceAccount:<pool>[<ns>/<ksa>]`, pool = `<project>.svc.id.goog`. */
export function workloadIdentityMember(pool: string, namespace: string, serviceAccount: string): string {
  return `serviceAccount:${pool}[${namespace}/${serviceAccount}]`;
}

/** The default Workload Identity pool of a GKE cluster in `project`. */
export function workloadIdentityPool(project: string): string {
  return `${project}.svc.id.goog`;
}

/** What makes a default id unique inside one GCP project: the Pulumi project, stack and component. */
export interface StackScope {
  project: string;
  stack: string;
  component: string;
}

const scopeHash = (s: StackScope, n: number): string =>
  createHash("sha256").update(`${s.project}/${s.stack}/${s.component}`).digest("hex").slice(0, n);

/**
 * Default Artifact Registry repository id: `<component>-<stack>-<hash>`, so a second stack (dev, prod) in the
 * same GCP project gets its own repository instead of "already exists". The hash of Pulumi project, stack and
 * component keeps ids distinct where the readable part is cut or folded; the id is stable across `up`s.
 */
export function defaultRepositoryId(s: StackScope): string {
  const hash = scopeHash(s, 6);
  return `${repositoryIdFrom(`${s.component}-${s.stack}`).slice(0, 63 - hash.length - 1).replace(/-+$/, "")}-${hash}`;
}

/**
 * Default id of the context-store custom role, per stack like `defaultRepositoryId` (`[a-zA-Z0-9_.]{3,64}`).
 * Stable, not random: a deleted custom role keeps its id for up to 37 days and the provider undeletes it.
 */
export function defaultContextStoreRoleId(s: StackScope): string {
  const suffix = `_launchContextStore_${scopeHash(s, 6)}`;
  return `${customRoleId(`${s.component}_${s.stack}`, "").replace(/_+$/, "").slice(0, 64 - suffix.length)}${suffix}`;
}

/** The parts of a GKE cluster lookup that say which service accounts its nodes run as. */
export type ClusterNodeIdentities = Pick<gcp.container.GetClusterResult, "nodePools" | "nodeConfigs" | "clusterAutoscalings">;

/**
 * Emails of the service accounts the cluster's nodes (every node pool, the default node config and
 * Autopilot/auto-provisioned nodes) run as, sorted and deduplicated. `default` (or unset) is the Compute
 * Engine default service account of the project.
 */
export function nodeServiceAccounts(cluster: ClusterNodeIdentities, projectNumber: string): string[] {
  const named = [
    ...(cluster.nodePools ?? []).flatMap((p) => (p.nodeConfigs ?? []).map((c) => c.serviceAccount)),
    ...(cluster.nodeConfigs ?? []).map((c) => c.serviceAccount),
    ...(cluster.clusterAutoscalings ?? []).flatMap((a) => (a.autoProvisioningDefaults ?? []).map((d) => d.serviceAccount)),
  ];
  const emails = named.map((sa) => (!sa || sa === "default" ? `${projectNumber}-compute@developer.gserviceaccount.com` : sa));
  return [...new Set(emails)].sort();
}

/**
 * Custom role id from a component name: roles allow `[a-zA-Z0-9_.]{3,64}` only. Deleted custom roles
 * keep their id reserved for up to 37 days, so the id is stable per component, not random.
 */
export function customRoleId(componentName: string, suffix: string): string {
  const base = `${componentName}_${suffix}`.replace(/[^a-zA-Z0-9_.]/g, "_");
  const id = base.length < 3 ? `${base}___`.slice(0, 3) : base;
  return id.slice(0, 64);
}

/**
 * Artifact Registry repository id from a component name: lowercase letters, digits and hyphens,
 * starting with a letter, at most 63 characters.
 */
export function repositoryIdFrom(componentName: string): string {
  let id = componentName.toLowerCase().replace(/[^a-z0-9-]/g, "-").replace(/-+/g, "-");
  if (!/^[a-z]/.test(id)) id = `r-${id}`;
  return id.slice(0, 63).replace(/-+$/, "");
}

// The agent's GAR pattern (reference §4.1) accepts `[\w-]+` for project, repository and image.
const GAR_SEGMENT = /^[\w-]+$/;

export function isGarSegment(value: string): boolean {
  return GAR_SEGMENT.test(value);
}

/** `builder.destination` for Artifact Registry; the image name is mandatory for GAR. */
export function garDestination(location: string, project: string, repository: string, image: string): string {
  return `${location}-docker.pkg.dev/${project}/${repository}/${image}`;
}

/** `builder.build-context-store`: `gs://<bucket>/<prefix>`, or the bucket root when prefix is empty. */
export function gcsContextStore(bucket: string, prefix: string): string {
  return prefix === "" ? `gs://${bucket}` : `gs://${bucket}/${prefix}`;
}

/** Object prefixes: no leading/trailing slash, no empty segments, GCS object-name safe. */
export function isObjectPrefix(value: string): boolean {
  return value === "" || /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(value);
}
