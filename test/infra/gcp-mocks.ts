// Strict Pulumi mocks for the GCP resource types GcpLaunchEnvironment creates. They reject what the
// provider would reject (missing required inputs, ids the API refuses) and return the computed state
// the real provider exposes (repository path, GSA email, custom role name), so tests see real shapes.
import type * as pulumi from "@pulumi/pulumi";

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
  custom: boolean;
}

type Inputs = Record<string, unknown>;

function need(type: string, name: string, inputs: Inputs, key: string): unknown {
  const v = inputs[key];
  if (v === undefined || v === null || v === "") {
    throw new Error(`${type} ${name}: missing required input "${key}"`);
  }
  return v;
}

function str(type: string, name: string, inputs: Inputs, key: string): string {
  const v = need(type, name, inputs, key);
  if (typeof v !== "string") throw new Error(`${type} ${name}: input "${key}" must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Pulumi auto-names append a random suffix; the mock uses a fixed one so tests are deterministic. */
function autoName(name: string): string {
  return `${name}-a1b2c3d`;
}

const PROJECT_MEMBER = /^(serviceAccount|user|group|domain|principal|principalSet):/;

function checkMember(type: string, name: string, member: string): void {
  if (!PROJECT_MEMBER.test(member)) throw new Error(`${type} ${name}: member ${JSON.stringify(member)} has no valid principal type prefix`);
}

function gcpState(type: string, name: string, inputs: Inputs): Inputs {
  switch (type) {
    case "gcp:artifactregistry/repository:Repository": {
      const project = str(type, name, inputs, "project");
      const location = str(type, name, inputs, "location");
      const repositoryId = str(type, name, inputs, "repositoryId");
      const format = str(type, name, inputs, "format");
      if (!/^[a-z][a-z0-9-]{0,62}$/.test(repositoryId)) throw new Error(`${type} ${name}: invalid repositoryId ${repositoryId}`);
      if (!["DOCKER", "MAVEN", "NPM", "PYTHON", "APT", "YUM", "GO", "KFP", "GENERIC"].includes(format)) {
        throw new Error(`${type} ${name}: invalid format ${format}`);
      }
      for (const p of (inputs.cleanupPolicies as Inputs[] | undefined) ?? []) {
        const cond = p.condition as Inputs | undefined;
        if (p.action === "DELETE" && p.mostRecentVersions !== undefined) throw new Error(`${type} ${name}: mostRecentVersions is only valid with KEEP`);
        if (cond?.olderThan !== undefined && !/^\d+s$/.test(String(cond.olderThan))) throw new Error(`${type} ${name}: olderThan must be a duration like 604800s`);
      }
      return { ...inputs, name: `projects/${project}/locations/${location}/repositories/${repositoryId}`, mode: "STANDARD_REPOSITORY" };
    }
    case "gcp:storage/bucket:Bucket": {
      str(type, name, inputs, "location");
      const bucket = typeof inputs.name === "string" ? inputs.name : autoName(name);
      if (!/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) throw new Error(`${type} ${name}: invalid bucket name ${bucket}`);
      if (inputs.publicAccessPrevention !== undefined && !["enforced", "inherited"].includes(String(inputs.publicAccessPrevention))) {
        throw new Error(`${type} ${name}: publicAccessPrevention must be enforced or inherited`);
      }
      return { ...inputs, name: bucket, url: `gs://${bucket}`, selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}` };
    }
    case "gcp:serviceaccount/account:Account": {
      const project = str(type, name, inputs, "project");
      const accountId = typeof inputs.accountId === "string" ? inputs.accountId : autoName(name).slice(-30).replace(/^[^a-z]+/, "");
      if (!/^[a-z][-a-z0-9]{4,28}[a-z0-9]$/.test(accountId)) throw new Error(`${type} ${name}: invalid accountId ${accountId}`);
      const email = `${accountId}@${project}.iam.gserviceaccount.com`;
      return {
        ...inputs,
        accountId,
        email,
        member: `serviceAccount:${email}`,
        name: `projects/${project}/serviceAccounts/${email}`,
        uniqueId: "112233445566778899001",
      };
    }
    case "gcp:projects/iAMCustomRole:IAMCustomRole": {
      const project = str(type, name, inputs, "project");
      const roleId = str(type, name, inputs, "roleId");
      str(type, name, inputs, "title");
      if (!/^[a-zA-Z0-9_.]{3,64}$/.test(roleId)) throw new Error(`${type} ${name}: invalid roleId ${roleId}`);
      const perms = need(type, name, inputs, "permissions");
      if (!Array.isArray(perms) || perms.length === 0) throw new Error(`${type} ${name}: permissions must be a non-empty list`);
      return { ...inputs, name: `projects/${project}/roles/${roleId}`, deleted: false, stage: "GA" };
    }
    case "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember": {
      str(type, name, inputs, "repository");
      str(type, name, inputs, "role");
      checkMember(type, name, str(type, name, inputs, "member"));
      return { ...inputs, etag: "BwYmock=" };
    }
    case "gcp:storage/bucketIAMMember:BucketIAMMember": {
      str(type, name, inputs, "bucket");
      str(type, name, inputs, "role");
      checkMember(type, name, str(type, name, inputs, "member"));
      return { ...inputs, etag: "CAE=" };
    }
    case "gcp:serviceaccount/iAMMember:IAMMember": {
      const sa = str(type, name, inputs, "serviceAccountId");
      if (!/^projects\/[^/]+\/serviceAccounts\/[^/]+$/.test(sa)) throw new Error(`${type} ${name}: serviceAccountId must be projects/<p>/serviceAccounts/<email>, got ${sa}`);
      str(type, name, inputs, "role");
      checkMember(type, name, str(type, name, inputs, "member"));
      return { ...inputs, etag: "BwYmock=" };
    }
    default:
      throw new Error(`gcp-mocks: unexpected resource type ${type} (${name}); add it to the strict mock deliberately`);
  }
}

/** A recorder + strict mocks; `resources` holds every registered resource in creation order. */
export function createGcpMocks(): { mocks: pulumi.runtime.Mocks; resources: RecordedResource[] } {
  const resources: RecordedResource[] = [];
  const mocks: pulumi.runtime.Mocks = {
    newResource(args) {
      const inputs = (args.inputs ?? {}) as Inputs;
      if (args.custom === false) {
        resources.push({ type: args.type, name: args.name, inputs, state: {}, custom: false });
        return { id: undefined, state: {} };
      }
      const state = gcpState(args.type, args.name, inputs);
      resources.push({ type: args.type, name: args.name, inputs, state, custom: true });
      return { id: `${args.name}-id`, state };
    },
    call(args) {
      throw new Error(`gcp-mocks: unexpected invoke ${args.token}`);
    },
  };
  return { mocks, resources };
}
