// The fake cloud account: what the providers would compute and what the data sources answer. The Pulumi engine and
// the cloud providers cannot run here (no CLI, no credentials), so the infra tests run components against
// `pulumi.runtime.setMocks` with these answers, and the engine-contract harness (test/engine/, which `npm run render`
// runs through) serves the same answers over gRPC. The mocks return the
// state the real provider would compute (ARNs, URLs, ids, emails, client ids) so that everything downstream of
// those outputs (IAM documents, launch-config, annotations) is rendered exactly as `pulumi up` would.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/** The cloud "account" the mocks pretend to be signed in to. */
export interface MockCloud {
  awsAccountId: string;
  awsRegion: string;
  gcpProject: string;
  gcpProjectNumber: string;
  gcpRegion: string;
  azureSubscriptionId: string;
  azureTenantId: string;
  azureLocation: string;
}

export const DEFAULT_MOCK_CLOUD: MockCloud = {
  awsAccountId: "123456789012",
  awsRegion: "us-west-2",
  gcpProject: "my-project",
  gcpProjectNumber: "987654321098",
  gcpRegion: "us-central1",
  azureSubscriptionId: "00000000-0000-4000-8000-000000000001",
  azureTenantId: "00000000-0000-4000-8000-000000000002",
  azureLocation: "eastus",
};

/** One `newResource` call as seen by the mocks. `inputs`/`state` have secrets unwrapped; see `secretPaths`. */
export interface RecordedResource {
  type: string;
  name: string;
  custom: boolean;
  id: string | undefined;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
  /** Dotted paths (relative to inputs) whose value was a Pulumi secret. */
  secretPaths: string[];
  /** The explicit provider reference (`<provider urn>::<provider id>`), or undefined for the default provider. */
  provider?: string;
  /** Set once the registration completes (installMocks only): what the engine would record for the resource. */
  urn?: string;
  /** The parent's URN ("" for the stack's children). */
  parent?: string;
  /** URNs the engine must create first: `dependsOn` plus every resource whose outputs feed an input. */
  dependencies?: string[];
  /** A component's `registerOutputs` values as the engine stores them: secrets unwrapped, resources as URNs. */
  outputs?: Record<string, unknown>;
  /** Dotted paths (relative to outputs) the engine stores encrypted. */
  outputSecretPaths?: string[];
}

export interface RecordedCall {
  token: string;
  inputs: Record<string, unknown>;
}

type Obj = Record<string, unknown>;
/** Computes the provider-side state for one resource type: `id` plus the properties the provider fills in. */
export type ResourceStub = (name: string, inputs: Obj, cloud: MockCloud) => { id: string; state: Obj };
/** Answers one data-source invoke. */
export type CallStub = (inputs: Obj, cloud: MockCloud) => Obj;

const shortHash = (s: string, n = 7): string => createHash("sha256").update(s).digest("hex").slice(0, n);
/** A deterministic UUID so renders are stable between runs. */
const fakeUuid = (s: string): string => {
  const h = shortHash(s, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
const str = (v: unknown): string | undefined => (typeof v === "string" && v.length > 0 ? v : undefined);
const obj = (v: unknown): Obj => (v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {});
/** Pulumi auto-naming appends a random suffix; we append a stable one. */
const autoName = (name: string, ...explicit: unknown[]): string => {
  for (const e of explicit) {
    const s = str(e);
    if (s) return s;
  }
  return `${name}-${shortHash(name)}`;
};

const kubernetesStub: ResourceStub = (name, inputs) => {
  const meta = obj(inputs.metadata);
  const metaName = autoName(name, meta.name);
  const namespace = str(meta.namespace);
  // The Kubernetes provider's id is `<namespace>/<name>` for namespaced objects, `<name>` otherwise.
  return {
    id: namespace ? `${namespace}/${metaName}` : metaName,
    state: { metadata: { ...meta, name: metaName, uid: fakeUuid(`k8s/${name}`), resourceVersion: "1" } },
  };
};

/** Provider-computed state per type token. Add one with `MockRecorder.stubResource` rather than editing here. */
export const RESOURCE_STUBS: Record<string, ResourceStub> = {
  // --- AWS ---
  "aws:ecr/repository:Repository": (name, i, c) => {
    const repo = autoName(name, i.name);
    const region = str(i.region) ?? c.awsRegion;
    return {
      id: repo,
      state: {
        name: repo,
        arn: `arn:aws:ecr:${region}:${c.awsAccountId}:repository/${repo}`,
        registryId: c.awsAccountId,
        repositoryUrl: `${c.awsAccountId}.dkr.ecr.${region}.amazonaws.com/${repo}`,
        region,
      },
    };
  },
  "aws:ecr/lifecyclePolicy:LifecyclePolicy": (_n, i, c) => ({
    id: String(i.repository),
    state: { registryId: c.awsAccountId },
  }),
  "aws:s3/bucket:Bucket": (name, i, c) => {
    const bucket = autoName(name, i.bucket).toLowerCase();
    const region = str(i.region) ?? c.awsRegion;
    return {
      id: bucket,
      state: {
        bucket,
        arn: `arn:aws:s3:::${bucket}`,
        bucketDomainName: `${bucket}.s3.amazonaws.com`,
        bucketRegionalDomainName: `${bucket}.s3.${region}.amazonaws.com`,
        hostedZoneId: "Z3BJ6K6RIION7M",
        region,
      },
    };
  },
  "aws:iam/role:Role": (name, i, c) => {
    const role = autoName(name, i.name);
    return {
      id: role,
      state: { name: role, arn: `arn:aws:iam::${c.awsAccountId}:role/${role}`, uniqueId: `AROA${shortHash(role, 17).toUpperCase()}` },
    };
  },
  "aws:iam/rolePolicy:RolePolicy": (name, i) => {
    const policy = autoName(name, i.name);
    return { id: `${String(i.role)}:${policy}`, state: { name: policy } };
  },
  "aws:iam/policy:Policy": (name, i, c) => {
    const policy = autoName(name, i.name);
    return { id: `arn:aws:iam::${c.awsAccountId}:policy/${policy}`, state: { name: policy, arn: `arn:aws:iam::${c.awsAccountId}:policy/${policy}`, policyId: `ANPA${shortHash(policy, 17).toUpperCase()}` } };
  },
  // --- GCP ---
  "gcp:artifactregistry/repository:Repository": (name, i, c) => {
    const repositoryId = autoName(name, i.repositoryId);
    const location = str(i.location) ?? c.gcpRegion;
    const project = str(i.project) ?? c.gcpProject;
    const id = `projects/${project}/locations/${location}/repositories/${repositoryId}`;
    return {
      id,
      state: { name: repositoryId, repositoryId, location, project, registryUri: `${location}-docker.pkg.dev/${project}/${repositoryId}`, createTime: "2026-01-01T00:00:00Z" },
    };
  },
  "gcp:storage/bucket:Bucket": (name, i, c) => {
    const bucket = autoName(name, i.name).toLowerCase();
    return {
      id: bucket,
      state: { name: bucket, url: `gs://${bucket}`, selfLink: `https://www.googleapis.com/storage/v1/b/${bucket}`, project: str(i.project) ?? c.gcpProject },
    };
  },
  "gcp:serviceaccount/account:Account": (name, i, c) => {
    const accountId = autoName(name, i.accountId);
    const project = str(i.project) ?? c.gcpProject;
    const email = `${accountId}@${project}.iam.gserviceaccount.com`;
    return {
      id: `projects/${project}/serviceAccounts/${email}`,
      state: { accountId, email, project, name: `projects/${project}/serviceAccounts/${email}`, member: `serviceAccount:${email}`, uniqueId: String(BigInt(`0x${shortHash(email, 15)}`)) },
    };
  },
  "gcp:projects/iAMCustomRole:IAMCustomRole": (name, i, c) => {
    const roleId = autoName(name, i.roleId);
    const project = str(i.project) ?? c.gcpProject;
    return { id: `projects/${project}/roles/${roleId}`, state: { name: `projects/${project}/roles/${roleId}`, roleId, project, deleted: false } };
  },
  // --- Azure (azure-native) ---
  "azure-native:resources:ResourceGroup": (name, i, c) => {
    const rg = autoName(name, i.resourceGroupName);
    return { id: `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${rg}`, state: { name: rg, location: str(i.location) ?? c.azureLocation } };
  },
  "azure-native:containerregistry:Registry": (name, i, c) => {
    const reg = autoName(name.replace(/[^a-zA-Z0-9]/g, ""), i.registryName);
    const id = `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${String(i.resourceGroupName)}/providers/Microsoft.ContainerRegistry/registries/${reg}`;
    return { id, state: { name: reg, loginServer: `${reg.toLowerCase()}.azurecr.io`, location: str(i.location) ?? c.azureLocation } };
  },
  "azure-native:storage:StorageAccount": (name, i, c) => {
    const acct = autoName(name.replace(/[^a-z0-9]/g, ""), i.accountName).toLowerCase().slice(0, 24);
    const id = `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${String(i.resourceGroupName)}/providers/Microsoft.Storage/storageAccounts/${acct}`;
    return {
      id,
      state: {
        name: acct,
        location: str(i.location) ?? c.azureLocation,
        primaryEndpoints: {
          blob: `https://${acct}.blob.core.windows.net/`,
          dfs: `https://${acct}.dfs.core.windows.net/`,
          file: `https://${acct}.file.core.windows.net/`,
          queue: `https://${acct}.queue.core.windows.net/`,
          table: `https://${acct}.table.core.windows.net/`,
          web: `https://${acct}.z13.web.core.windows.net/`,
        },
      },
    };
  },
  "azure-native:storage:BlobContainer": (name, i, c) => {
    const container = autoName(name, i.containerName);
    const id = `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${String(i.resourceGroupName)}/providers/Microsoft.Storage/storageAccounts/${String(i.accountName)}/blobServices/default/containers/${container}`;
    return { id, state: { name: container } };
  },
  "azure-native:storage:ManagementPolicy": (_n, i, c) => ({
    id: `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${String(i.resourceGroupName)}/providers/Microsoft.Storage/storageAccounts/${String(i.accountName)}/managementPolicies/default`,
    state: { name: "DefaultManagementPolicy" },
  }),
  "azure-native:managedidentity:UserAssignedIdentity": (name, i, c) => {
    const identity = autoName(name, i.resourceName);
    const id = `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${String(i.resourceGroupName)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${identity}`;
    return { id, state: { name: identity, clientId: fakeUuid(`client/${identity}`), principalId: fakeUuid(`principal/${identity}`), tenantId: c.azureTenantId } };
  },
  "azure-native:managedidentity:FederatedIdentityCredential": (name, i) => {
    const fic = autoName(name, i.federatedIdentityCredentialResourceName);
    return { id: `${String(i.resourceName)}/federatedIdentityCredentials/${fic}`, state: { name: fic } };
  },
  "azure-native:authorization:RoleAssignment": (name, i) => {
    const ra = str(i.roleAssignmentName) ?? fakeUuid(`ra/${name}`);
    return { id: `${String(i.scope)}/providers/Microsoft.Authorization/roleAssignments/${ra}`, state: { name: ra } };
  },
  // --- image build ---
  "docker-build:index:Image": (name, i) => {
    const digest = `sha256:${createHash("sha256").update(`image/${name}`).digest("hex")}`;
    const tags = Array.isArray(i.tags) ? i.tags.map(String) : [];
    const first = tags[0];
    return { id: digest, state: { digest, ref: first ? `${first.replace(/:[^:/]+$/, "")}@${digest}` : digest } };
  },
};

/** Data sources the components call. Unknown tokens throw: an unexpected invoke is a bug. */
export const CALL_STUBS: Record<string, CallStub> = {
  "aws:index/getCallerIdentity:getCallerIdentity": (_i, c) => ({
    accountId: c.awsAccountId,
    arn: `arn:aws:sts::${c.awsAccountId}:assumed-role/platform/admin`,
    userId: "AROAEXAMPLEUSER:admin",
    id: c.awsAccountId,
  }),
  "aws:index/getRegion:getRegion": (i, c) => {
    const region = str(i.region) ?? str(i.name) ?? c.awsRegion;
    return { id: region, name: region, region, endpoint: `ec2.${region}.amazonaws.com`, description: region };
  },
  "aws:index/getPartition:getPartition": () => ({ id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" }),
  "aws:eks/getCluster:getCluster": (i, c) => {
    const name = String(i.name);
    const oidcId = shortHash(`eks/${name}`, 32).toUpperCase();
    return {
      id: name,
      name,
      arn: `arn:aws:eks:${c.awsRegion}:${c.awsAccountId}:cluster/${name}`,
      endpoint: `https://${oidcId}.gr7.${c.awsRegion}.eks.amazonaws.com`,
      identities: [{ oidcs: [{ issuer: `https://oidc.eks.${c.awsRegion}.amazonaws.com/id/${oidcId}` }] }],
      certificateAuthorities: [{ data: "bW9jay1jYQ==" }],
      version: "1.33",
      status: "ACTIVE",
    };
  },
  "aws:ecr/getAuthorizationToken:getAuthorizationToken": (i, c) => {
    const password = "mock-ecr-password";
    return {
      id: c.awsRegion,
      authorizationToken: Buffer.from(`AWS:${password}`).toString("base64"),
      userName: "AWS",
      password,
      proxyEndpoint: `https://${str(i.registryId) ?? c.awsAccountId}.dkr.ecr.${c.awsRegion}.amazonaws.com`,
      expiresAt: "2026-12-01T00:00:00Z",
    };
  },
  "gcp:organizations/getClientConfig:getClientConfig": (_i, c) => ({
    id: c.gcpProject,
    project: c.gcpProject,
    region: c.gcpRegion,
    zone: `${c.gcpRegion}-a`,
    accessToken: "mock-gcp-access-token",
    defaultLabels: {},
  }),
  "gcp:organizations/getProject:getProject": (i, c) => {
    const projectId = str(i.projectId) ?? c.gcpProject;
    return { id: `projects/${projectId}`, projectId, number: c.gcpProjectNumber, name: projectId, labels: {} };
  },
  "azure-native:authorization:getClientConfig": (_i, c) => ({
    clientId: fakeUuid("azure/client"),
    objectId: fakeUuid("azure/object"),
    subscriptionId: c.azureSubscriptionId,
    tenantId: c.azureTenantId,
  }),
  "azure-native:storage:listStorageAccountKeys": (i) => ({
    keys: [
      { keyName: "key1", permissions: "FULL", value: `mock-storage-key-1-${shortHash(String(i.accountName))}==` },
      { keyName: "key2", permissions: "FULL", value: `mock-storage-key-2-${shortHash(String(i.accountName))}==` },
    ],
  }),
  "azure-native:containerservice:getManagedCluster": (i, c) => ({
    id: `/subscriptions/${c.azureSubscriptionId}/resourceGroups/${String(i.resourceGroupName)}/providers/Microsoft.ContainerService/managedClusters/${String(i.resourceName)}`,
    name: String(i.resourceName),
    location: c.azureLocation,
    oidcIssuerProfile: { enabled: true, issuerURL: `https://${c.azureLocation}.oic.prod-aks.azure.com/${c.azureTenantId}/${fakeUuid(`aks/${String(i.resourceName)}`)}/` },
    securityProfile: { workloadIdentity: { enabled: true } },
    // The kubelet's user-assigned identity, which pulls images for the cluster's pods.
    identityProfile: {
      kubeletidentity: {
        clientId: fakeUuid(`aks-kubelet-client/${String(i.resourceName)}`),
        objectId: fakeUuid(`aks-kubelet/${String(i.resourceName)}`),
        resourceId: `/subscriptions/${c.azureSubscriptionId}/resourceGroups/MC_${String(i.resourceGroupName)}_${String(i.resourceName)}_${c.azureLocation}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${String(i.resourceName)}-agentpool`,
      },
    },
  }),
  "azure-native:containerservice:listManagedClusterUserCredentials": (i, c) => aksCredentials(i, c, "clusterUser"),
  "azure-native:containerservice:listManagedClusterAdminCredentials": (i, c) => aksCredentials(i, c, "clusterAdmin"),
  "gcp:container/getCluster:getCluster": (i, c) => {
    const name = String(i.name);
    const project = str(i.project) ?? c.gcpProject;
    const location = str(i.location) ?? c.gcpRegion;
    return {
      id: `projects/${project}/locations/${location}/clusters/${name}`,
      name,
      project,
      location,
      endpoint: `34.${parseInt(shortHash(`gke/${name}`, 2), 16)}.0.1`,
      masterAuths: [{ clusterCaCertificate: "bW9jay1na2UtY2E=", clientCertificate: "", clientKey: "", clientCertificateConfigs: [] }],
      workloadIdentityConfigs: [{ workloadPool: `${project}.svc.id.goog` }],
      // A default pool on the Compute Engine default account and a GPU pool on its own account.
      nodePools: [
        { name: "default-pool", nodeConfigs: [{ serviceAccount: "default" }] },
        { name: "gpu", nodeConfigs: [{ serviceAccount: `gke-gpu-nodes@${project}.iam.gserviceaccount.com` }] },
      ],
      nodeConfigs: [{ serviceAccount: "default" }],
      clusterAutoscalings: [],
    };
  },
};

/** An AKS credential listing: one base64 kubeconfig whose user holds a (fake) static token. */
function aksCredentials(i: Obj, c: MockCloud, user: string): Obj {
  const name = String(i.resourceName);
  const server = `https://${name}-dns-${shortHash(`aks/${name}`, 8)}.hcp.${c.azureLocation}.azmk8s.io:443`;
  const yaml = [
    "apiVersion: v1",
    "kind: Config",
    `clusters: [{name: ${name}, cluster: {server: "${server}", certificate-authority-data: bW9jay1ha3MtY2E=}}]`,
    `contexts: [{name: ${name}, context: {cluster: ${name}, user: ${user}_${name}}}]`,
    `current-context: ${name}`,
    `users: [{name: ${user}_${name}, user: {token: mock-aks-token-${shortHash(`${user}/${name}`, 12)}}}]`,
    "",
  ].join("\n");
  return { kubeconfigs: [{ name: user, value: Buffer.from(yaml).toString("base64") }] };
}

/** Replaces Pulumi secret envelopes with their values, remembering where they were. */
function unwrapSecrets(value: unknown, path: string, found: string[]): unknown {
  if (pulumi.runtime.isRpcSecret(value)) {
    found.push(path);
    return unwrapSecrets(pulumi.runtime.unwrapRpcSecret(value), path, found);
  }
  if (Array.isArray(value)) return value.map((v, i) => unwrapSecrets(v, path ? `${path}.${i}` : String(i), found));
  if (value !== null && typeof value === "object") {
    const out: Obj = {};
    for (const [k, v] of Object.entries(value)) out[k] = unwrapSecrets(v, path ? `${path}.${k}` : k, found);
    return out;
  }
  return value;
}

/**
 * A strict Pulumi mock that records every resource and invoke. Create one per test file (or use
 * `installMocks`), and `clear()` it between tests that assert on the full resource list.
 */
export class MockRecorder implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  readonly calls: RecordedCall[] = [];
  /** Invokes that had no stub (they also fail in the program; this keeps the message when Pulumi swallows it). */
  readonly callErrors: string[] = [];
  private readonly resourceStubs: Record<string, ResourceStub> = { ...RESOURCE_STUBS };
  private readonly callStubs: Record<string, CallStub> = { ...CALL_STUBS };

  constructor(readonly cloud: MockCloud = DEFAULT_MOCK_CLOUD) {}

  /** Adds or replaces the computed state for a type token. */
  stubResource(type: string, stub: ResourceStub): void {
    this.resourceStubs[type] = stub;
  }

  /** Adds or replaces a data-source answer. */
  stubCall(token: string, stub: CallStub): void {
    this.callStubs[token] = stub;
  }

  clear(): void {
    this.resources.length = 0;
    this.calls.length = 0;
    this.callErrors.length = 0;
  }

  newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Obj } {
    const rawInputs = obj(args.inputs);
    const secretPaths: string[] = [];
    const inputs = obj(unwrapSecrets(rawInputs, "", secretPaths));
    const custom = args.custom !== false;
    let id: string | undefined;
    let computed: Obj = {};
    if (custom) {
      const stub = this.resourceStubs[args.type] ?? (args.type.startsWith("kubernetes:") ? kubernetesStub : undefined);
      if (stub) ({ id, state: computed } = stub(args.name, inputs, this.cloud));
      else id = `${args.name}_id`;
    }
    // The real provider echoes inputs into state; secret envelopes stay in the returned state so secretness
    // survives into the resource's outputs.
    const state: Obj = custom ? { ...rawInputs, ...computed } : {};
    this.resources.push({
      type: args.type,
      name: args.name,
      custom,
      id,
      inputs,
      state: custom ? { ...inputs, ...computed } : {},
      secretPaths,
      ...(args.provider ? { provider: args.provider } : {}),
    });
    return { id, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Obj {
    const inputs = obj(args.inputs);
    this.calls.push({ token: args.token, inputs });
    const stub = this.callStubs[args.token];
    if (!stub) {
      // The runtime surfaces only `details` of a failed invoke (it expects a gRPC error).
      const message = `Pulumi mocks: no stub for invoke "${args.token}". Add one with MockRecorder.stubCall() (stacks/mocks.ts).`;
      this.callErrors.push(message);
      throw Object.assign(new Error(message), { details: message });
    }
    return stub(inputs, this.cloud);
  }

  /** The resource registered with exactly this type and name; throws if there is none. */
  named(type: string, name: string): RecordedResource {
    const found = this.resources.find((r) => r.type === type && r.name === name);
    if (!found) throw new Error(`no ${type} named ${name} was registered`);
    return found;
  }

  /** The registered children of a component (by URN), in registration order. */
  childrenOf(component: RecordedResource): RecordedResource[] {
    return this.resources.filter((r) => component.urn !== undefined && r.parent === component.urn);
  }

  /** Every recorded resource of one type token, in registration order. */
  byType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The single resource of `type` (whose name contains `nameContains`, if given); throws if not exactly one. */
  one(type: string, nameContains?: string): RecordedResource {
    const found = this.byType(type).filter((r) => nameContains === undefined || r.name.includes(nameContains));
    if (found.length !== 1) {
      const names = this.resources.map((r) => `${r.type} ${r.name}`).join("\n  ");
      throw new Error(`expected exactly one ${type}${nameContains ? ` named *${nameContains}*` : ""}, found ${found.length}. Recorded:\n  ${names}`);
    }
    return found[0]!;
  }
}

export interface InstallMocksOptions {
  cloud?: Partial<MockCloud>;
  project?: string;
  stack?: string;
  /** Flat Pulumi config, e.g. `{"wandb-launch:cloud": "aws", "aws:region": "us-west-2"}`. */
  config?: Record<string, string>;
  /** Config keys whose values are secrets (like `pulumi config set --secret`). */
  secretKeys?: string[];
}

/**
 * Installs a fresh recorder as the Pulumi mock monitor (preview=false: with preview=true, properties the mock
 * does not return stay unknown and `apply` never runs) and sets the program config.
 */
export async function installMocks(opts: InstallMocksOptions = {}): Promise<MockRecorder> {
  const recorder = new MockRecorder({ ...DEFAULT_MOCK_CLOUD, ...opts.cloud });
  await pulumi.runtime.setMocks(recorder, opts.project ?? "wandb-launch", opts.stack ?? "test", false, "organization");
  recordGraph(recorder, pulumi.runtime.getMonitor() as unknown as GraphMonitor);
  pulumi.runtime.setAllConfig(opts.config ?? {}, opts.secretKeys ?? []);
  return recorder;
}

type Callback<T> = (err: Error | null, res?: T) => void;
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getDependenciesList(): string[];
}
interface OutputsRequest {
  getUrn(): string;
  getOutputs(): unknown;
}

/** A serialized property as the engine stores it: secrets unwrapped, each resource reference as its URN. */
function engineValue(value: unknown, path: string, secrets: string[]): unknown {
  const at = (k: string | number) => (path ? `${path}.${k}` : String(k));
  if (Array.isArray(value)) return value.map((v, i) => engineValue(v, at(i), secrets));
  if (value === null || typeof value !== "object") return value;
  const o = value as Obj;
  const sig = o[pulumi.runtime.specialSigKey];
  if (sig === pulumi.runtime.specialSecretSig) {
    secrets.push(path);
    return engineValue(o.value, path, secrets);
  }
  if (sig === pulumi.runtime.specialResourceSig) return o.urn;
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, engineValue(v, at(k), secrets)]));
}
/** The two calls of Pulumi's MockMonitor that carry the resource graph (Mocks.newResource sees neither). */
interface GraphMonitor {
  registerResource(req: RegisterRequest, cb: Callback<{ getUrn(): string }>): Promise<void>;
  registerResourceOutputs(req: OutputsRequest, cb: Callback<unknown>): void;
}

/**
 * Adds to each recorded resource what the engine sees but Pulumi's mocks drop: its URN, parent, dependencies and
 * (for components) registered outputs, so in-process tests can check ordering and component outputs.
 */
function recordGraph(recorder: MockRecorder, monitor: GraphMonitor): void {
  const register = monitor.registerResource.bind(monitor);
  const registerOutputs = monitor.registerResourceOutputs.bind(monitor);
  monitor.registerResource = (req, cb) =>
    register(req, (err, res) => {
      const rec = recorder.resources.find((r) => r.urn === undefined && r.type === req.getType() && r.name === req.getName());
      if (!err && res && rec) Object.assign(rec, { urn: res.getUrn(), parent: req.getParent(), dependencies: req.getDependenciesList() });
      cb(err, res);
    });
  monitor.registerResourceOutputs = (req, cb) => {
    const rec = recorder.resources.find((r) => r.urn === req.getUrn());
    if (rec) {
      rec.outputSecretPaths = [];
      rec.outputs = obj(engineValue((req.getOutputs() as { toJavaScript(): unknown }).toJavaScript(), "", rec.outputSecretPaths));
    }
    registerOutputs(req, cb);
  };
}

/** Resolves an Output's value (works with preview=false mocks; unknowns would hang). */
export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise<T>((resolve) => output.apply((v) => resolve(v)));
}

/** Whether an Output is marked secret. */
export function isSecretOutput(output: pulumi.Output<unknown>): Promise<boolean> {
  return pulumi.isSecret(output);
}

type WaitForRPCs = () => Promise<void>;
/**
 * Waits until every pending resource registration has reached the mocks. Uses the runtime's RPC queue
 * (`waitForRPCs`, exported but untyped); falls back to letting the event loop drain a few times.
 */
export async function settle(): Promise<void> {
  const wait = (pulumi.runtime as unknown as { waitForRPCs?: WaitForRPCs }).waitForRPCs;
  for (let i = 0; i < 3; i++) {
    if (wait) await wait();
    await new Promise((r) => setImmediate(r));
  }
}
