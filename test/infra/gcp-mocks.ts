// Strictness for the GCP types GcpLaunchEnvironment creates, layered on the shared recorder
// (test/infra/mocks.ts): each stub first rejects what the GCP API would reject (missing required
// inputs, ids and names it refuses, malformed members), then returns the shared provider state.
import {
  installMocks,
  RESOURCE_STUBS,
  type InstallMocksOptions,
  type MockRecorder,
  type ResourceStub,
} from "./mocks.js";

type Inputs = Record<string, unknown>;

function str(type: string, name: string, inputs: Inputs, key: string): string {
  const v = inputs[key];
  if (typeof v !== "string" || v === "") {
    throw new Error(`${type} ${name}: required input "${key}" must be a non-empty string, got ${JSON.stringify(v)}`);
  }
  return v;
}

const MEMBER = /^(serviceAccount|user|group|domain|principal|principalSet):\S+$/;
const SA_RESOURCE = /^projects\/[^/]+\/serviceAccounts\/[^/]+@[^/]+$/;

function member(type: string, name: string, inputs: Inputs): void {
  const m = str(type, name, inputs, "member");
  if (!MEMBER.test(m)) throw new Error(`${type} ${name}: member ${JSON.stringify(m)} lacks a principal type prefix`);
}

const CHECKS: Record<string, (name: string, i: Inputs) => void> = {
  "gcp:artifactregistry/repository:Repository": (name, i) => {
    const t = "gcp:artifactregistry/repository:Repository";
    const id = str(t, name, i, "repositoryId");
    if (!/^[a-z][a-z0-9-]{0,62}$/.test(id)) throw new Error(`${t} ${name}: invalid repositoryId ${id}`);
    const format = str(t, name, i, "format");
    if (!["DOCKER", "MAVEN", "NPM", "PYTHON", "APT", "YUM", "GO", "KFP", "GENERIC"].includes(format)) {
      throw new Error(`${t} ${name}: invalid format ${format}`);
    }
    for (const p of (i.cleanupPolicies as Inputs[] | undefined) ?? []) {
      str(t, name, p, "id");
      if (p.action === "DELETE" && p.mostRecentVersions !== undefined) throw new Error(`${t} ${name}: mostRecentVersions needs action KEEP`);
      const older = (p.condition as Inputs | undefined)?.olderThan;
      if (older !== undefined && !/^\d+s$/.test(String(older))) throw new Error(`${t} ${name}: olderThan ${String(older)} is not a duration like 604800s`);
    }
  },
  "gcp:storage/bucket:Bucket": (name, i) => {
    const t = "gcp:storage/bucket:Bucket";
    str(t, name, i, "location");
    if (i.name !== undefined && !/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/.test(String(i.name))) throw new Error(`${t} ${name}: invalid bucket name ${String(i.name)}`);
    if (i.publicAccessPrevention !== undefined && !["enforced", "inherited"].includes(String(i.publicAccessPrevention))) {
      throw new Error(`${t} ${name}: publicAccessPrevention must be "enforced" or "inherited"`);
    }
  },
  "gcp:serviceaccount/account:Account": (name, i) => {
    const t = "gcp:serviceaccount/account:Account";
    if (i.accountId !== undefined && !/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(String(i.accountId))) {
      throw new Error(`${t} ${name}: accountId ${String(i.accountId)} must be 6-30 chars [a-z0-9-], starting with a letter`);
    }
  },
  "gcp:projects/iAMCustomRole:IAMCustomRole": (name, i) => {
    const t = "gcp:projects/iAMCustomRole:IAMCustomRole";
    const roleId = str(t, name, i, "roleId");
    if (!/^[a-zA-Z0-9_.]{3,64}$/.test(roleId)) throw new Error(`${t} ${name}: invalid roleId ${roleId}`);
    str(t, name, i, "title");
    if (!Array.isArray(i.permissions) || i.permissions.length === 0) throw new Error(`${t} ${name}: permissions must be a non-empty list`);
  },
  "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": (name, i) => {
    const t = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember";
    str(t, name, i, "repository");
    str(t, name, i, "role");
    member(t, name, i);
  },
  "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding": (name, i) => {
    const t = "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding";
    str(t, name, i, "repository");
    str(t, name, i, "role");
    if (!Array.isArray(i.members) || i.members.length === 0) throw new Error(`${t} ${name}: members must be a non-empty list`);
    for (const m of i.members) member(t, name, { member: m });
  },
  "gcp:storage/bucketIAMMember:BucketIAMMember": (name, i) => {
    const t = "gcp:storage/bucketIAMMember:BucketIAMMember";
    str(t, name, i, "bucket");
    str(t, name, i, "role");
    member(t, name, i);
  },
  "gcp:serviceaccount/iAMMember:IAMMember": (name, i) => {
    const t = "gcp:serviceaccount/iAMMember:IAMMember";
    const sa = str(t, name, i, "serviceAccountId");
    if (!SA_RESOURCE.test(sa)) throw new Error(`${t} ${name}: serviceAccountId must be projects/<p>/serviceAccounts/<email>, got ${sa}`);
    str(t, name, i, "role");
    member(t, name, i);
  },
  "gcp:projects/iAMMember:IAMMember": (name, i) => {
    const t = "gcp:projects/iAMMember:IAMMember";
    str(t, name, i, "project");
    str(t, name, i, "role");
    member(t, name, i);
  },
};

// IAM member resources: the provider id is `<resource>/<role>/<member>` and it adds an etag.
const iamMemberStub =
  (resourceKey: string): ResourceStub =>
  (_name, i) => ({ id: `${String(i[resourceKey])}/${String(i.role)}/${String(i.member)}`, state: { etag: "BwYmockEtag=" } });

const EXTRA_STUBS: Record<string, ResourceStub> = {
  "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": iamMemberStub("repository"),
  "gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding": (_name, i) => ({
    id: `projects/${String(i.project)}/locations/${String(i.location)}/repositories/${String(i.repository)}/${String(i.role)}`,
    state: { etag: "BwYmockEtag=" },
  }),
  "gcp:storage/bucketIAMMember:BucketIAMMember": iamMemberStub("bucket"),
  "gcp:serviceaccount/iAMMember:IAMMember": iamMemberStub("serviceAccountId"),
  "gcp:projects/iAMMember:IAMMember": iamMemberStub("project"),
};

/** The shared recorder with strict stubs for every type GcpLaunchEnvironment creates. */
export async function installGcpMocks(opts: InstallMocksOptions = {}): Promise<MockRecorder> {
  const mocks = await installMocks(opts);
  for (const [type, check] of Object.entries(CHECKS)) {
    const base = RESOURCE_STUBS[type] ?? EXTRA_STUBS[type];
    if (!base) throw new Error(`gcp-mocks: no provider state for ${type}`);
    mocks.stubResource(type, (name, inputs, cloud) => {
      check(name, inputs);
      return base(name, inputs, cloud);
    });
  }
  return mocks;
}

/** Type tokens GcpLaunchEnvironment is allowed to create. */
export const GCP_TYPES = Object.keys(CHECKS);
