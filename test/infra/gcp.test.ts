import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { validateAgentConfig } from "../../agent/config/index.js";
import {
  CONTEXT_STORE_PERMISSIONS,
  GcpArgumentError,
  GcpLaunchEnvironment,
  artifactRegistryCleanupPolicies,
  contextLifecycleRules,
  gcsContextStore,
  workloadIdentityMember,
  type GcpLaunchEnvironmentArgs,
} from "../../components/gcp/index.js";
import { customRoleId, defaultContextStoreRoleId, defaultRepositoryId, nodeServiceAccounts, repositoryIdFrom, type ClusterNodeIdentities } from "../../components/gcp/policy.js";
import { installGcpMocks } from "./gcp-mocks.js";
import { isSecretOutput, promiseOf, settle, type MockRecorder, type RecordedResource } from "./mocks.js";

let mocks: MockRecorder;
let resources: RecordedResource[];

beforeAll(async () => {
  mocks = await installGcpMocks();
  resources = mocks.resources;
});

// The agent's Artifact Registry and GCS patterns (reference wandb-launch-agent.md §4.1), kept here as a
// second guard next to validateAgentConfig.
const GAR_URI =
  /^(?:https:\/\/)?(?<region>[\w-]+)-docker\.pkg\.dev\/(?<project>[\w-]+)\/(?<repository>[\w-]+)\/?(?<image>[\w-]+)?(?<tag>:.*)?$/i;
const GCS_URI = /^gs:\/\/([^/]+)(?:\/(.*))?$/;

const BASE: GcpLaunchEnvironmentArgs = {
  project: "acme-ml",
  region: "us-central1",
  namespace: "wandb",
  serviceAccountName: "wandb-launch-agent",
};

interface Built {
  env: GcpLaunchEnvironment;
  outputs: {
    region: string | null;
    destination: string;
    buildContextStore: string;
    serviceAccountAnnotations: Record<string, string>;
    podLabels: Record<string, string>;
    identity: string;
  };
  children: RecordedResource[];
  one: (type: string) => RecordedResource;
}

async function build(name: string, extra: Partial<GcpLaunchEnvironmentArgs> = {}): Promise<Built> {
  const env = new GcpLaunchEnvironment(name, { ...BASE, ...extra });
  const o = env.outputs;
  const [region, destination, buildContextStore, serviceAccountAnnotations, podLabels, identity] = await Promise.all([
    promiseOf(o.region),
    promiseOf(o.destination),
    promiseOf(o.buildContextStore),
    promiseOf(o.serviceAccountAnnotations),
    promiseOf(o.podLabels),
    promiseOf(o.identity),
  ]);
  await settle();
  const children = resources.filter((r) => r.custom && r.name.startsWith(`${name}-`));
  const one = (type: string): RecordedResource => {
    const found = children.filter((r) => r.type === type);
    expect(found, `exactly one ${type}`).toHaveLength(1);
    return found[0]!;
  };
  return { env, outputs: { region, destination, buildContextStore, serviceAccountAnnotations, podLabels, identity }, children, one };
}

const T = {
  repo: "gcp:artifactregistry/repository:Repository",
  bucket: "gcp:storage/bucket:Bucket",
  gsa: "gcp:serviceaccount/account:Account",
  role: "gcp:projects/iAMCustomRole:IAMCustomRole",
  repoMember: "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember",
  bucketMember: "gcp:storage/bucketIAMMember:BucketIAMMember",
  gsaMember: "gcp:serviceaccount/iAMMember:IAMMember",
};

describe("GcpLaunchEnvironment resources", () => {
  it("creates exactly the repository, bucket, GSA, custom role and three bindings, all children of the component", async () => {
    const { env, children } = await build("set");
    expect(children.map((r) => r.type).sort()).toEqual(Object.values(T).sort());
    expect(resources.filter((r) => !r.custom && r.name === "set").map((r) => r.type)).toEqual([
      "wandb-launch:gcp:LaunchEnvironment",
    ]);
    const urns = await Promise.all(
      [env.repository, env.bucket, env.serviceAccount, env.contextStoreRole, env.repositoryBinding, env.bucketBinding, env.workloadIdentityBinding].map(
        (r) => promiseOf(r.urn),
      ),
    );
    for (const urn of urns) expect(urn).toContain("::wandb-launch:gcp:LaunchEnvironment$");
    expect(children.map((r) => r.name).sort()).toEqual(
      ["set-repository", "set-contexts", "set-agent", "set-context-store-role", "set-repository-writer", "set-bucket-context-store", "set-workload-identity"].sort(),
    );
  });

  it("registers its outputs and its main resources as the component's outputs", async () => {
    const { outputs, one } = await build("outs");
    const component = resources.find((r) => r.type === "wandb-launch:gcp:LaunchEnvironment" && r.name === "outs")!;
    expect(component.outputs).toEqual({
      outputs: { environmentType: "gcp", ...outputs, registryAuth: { address: "us-central1-docker.pkg.dev", username: "oauth2accesstoken", password: "mock-gcp-access-token" } },
      repository: one(T.repo).urn,
      bucket: one(T.bucket).urn,
      serviceAccount: one(T.gsa).urn,
    });
    // The registry login (an access token) is stored encrypted in the state.
    expect(component.outputSecretPaths).toEqual(["outputs.registryAuth"]);
  });

  it("configures a DOCKER repository whose only cleanup is age-based deletion of untagged versions", async () => {
    const { one } = await build("repo");
    const repo = one(T.repo).inputs;
    expect(repo.format).toBe("DOCKER");
    expect(repo.location).toBe("us-central1");
    expect(repo.project).toBe("acme-ml");
    expect(repo.cleanupPolicyDryRun).toBe(false);
    expect(repo.cleanupPolicies).toEqual([
      { id: "delete-untagged-after-7d", action: "DELETE", condition: { tagState: "UNTAGGED", olderThan: "604800s" } },
    ]);
    // Never "keep the last N": kaniko's cache shares the repository.
    expect(JSON.stringify(repo.cleanupPolicies)).not.toContain("mostRecentVersions");
  });

  it("adds an any-tag age rule only when asked, limited to the launch image, with the given day counts", async () => {
    const { one } = await build("repo2", { untaggedImageExpirationDays: 2, imageExpirationDays: 30 });
    expect(one(T.repo).inputs.cleanupPolicies).toEqual([
      { id: "delete-untagged-after-2d", action: "DELETE", condition: { tagState: "UNTAGGED", olderThan: "172800s" } },
      {
        id: "delete-any-after-30d",
        action: "DELETE",
        condition: { tagState: "ANY", olderThan: "2592000s", packageNamePrefixes: ["launch-job"] },
      },
    ]);
  });

  it("locks the bucket down and expires build contexts under the prefix after 7 days", async () => {
    const { one } = await build("bkt");
    const bucket = one(T.bucket).inputs;
    expect(bucket.uniformBucketLevelAccess).toBe(true);
    expect(bucket.publicAccessPrevention).toBe("enforced");
    expect(bucket.forceDestroy).toBe(false);
    expect(bucket.location).toBe("us-central1");
    expect(bucket.lifecycleRules).toEqual([
      { action: { type: "Delete" }, condition: { age: 7, matchesPrefixes: ["build-contexts/"] } },
    ]);
  });

  it("lets forceDestroy through only when asked", async () => {
    const { one } = await build("fd", { forceDestroy: true });
    expect(one(T.bucket).inputs.forceDestroy).toBe(true);
  });

  it("uses the bucket root when contextPrefix is empty, and honours contextExpirationDays", async () => {
    const { one, outputs } = await build("root", { contextPrefix: "", contextExpirationDays: 3, bucketName: "acme-launch-ctx" });
    expect(one(T.bucket).inputs.lifecycleRules).toEqual([{ action: { type: "Delete" }, condition: { age: 3 } }]);
    expect(outputs.buildContextStore).toBe("gs://acme-launch-ctx");
  });
});

describe("GcpLaunchEnvironment IAM scope", () => {
  it("creates no project-, folder- or organization-level IAM binding", async () => {
    await build("scope0");
    const iamTypes = resources.map((r) => r.type).filter((t) => /IAM|Iam/.test(t));
    expect(iamTypes.length).toBeGreaterThan(0);
    for (const t of iamTypes) {
      expect(t).not.toMatch(/^gcp:(projects|organizations|folders)\/iAM(Member|Binding|Policy|AuditConfig)/);
    }
    // The only projects/* resource is the custom role *definition*; nothing binds it project-wide.
    expect(new Set(resources.filter((r) => r.type.startsWith("gcp:projects/")).map((r) => r.type))).toEqual(new Set([T.role]));
  });

  it("binds Artifact Registry Writer on this repository only, to this GSA", async () => {
    const { one, outputs } = await build("scope1");
    const repo = one(T.repo);
    const binding = one(T.repoMember).inputs;
    expect(binding.role).toBe("roles/artifactregistry.writer");
    // A repository binding is addressed by (project, location, repository name): all three are this repository's.
    expect(binding.repository).toBe(repo.state.name);
    expect(binding.repository).toBe(repo.inputs.repositoryId);
    expect(binding.location).toBe(repo.state.location);
    expect(binding.project).toBe(repo.state.project);
    expect([binding.project, binding.location]).toEqual(["acme-ml", "us-central1"]);
    expect(binding.condition).toBeUndefined();
    expect(binding.member).toBe(`serviceAccount:${outputs.identity}`);
  });

  it("binds the custom context-store role on this bucket only, and the role holds exactly the storage permissions", async () => {
    const { one, outputs } = await build("scope2");
    const bucket = one(T.bucket);
    const role = one(T.role);
    const binding = one(T.bucketMember).inputs;
    expect(binding.bucket).toBe(bucket.state.name);
    expect(binding.role).toBe(role.state.name);
    expect(binding.role).toBe(`projects/acme-ml/roles/${defaultContextStoreRoleId({ project: "wandb-launch", stack: "test", component: "scope2" })}`);
    expect(binding.role).toMatch(/^projects\/acme-ml\/roles\/scope2_test_launchContextStore_[0-9a-f]{6}$/);
    const named = await build("scope3", { contextStoreRoleId: "wandbLaunch.ctx" });
    expect(named.one(T.bucketMember).inputs.role).toBe("projects/acme-ml/roles/wandbLaunch.ctx");
    expect(binding.member).toBe(`serviceAccount:${outputs.identity}`);
    expect([...(role.inputs.permissions as string[])].sort()).toEqual([
      "storage.buckets.get",
      "storage.objects.create",
      "storage.objects.delete",
      "storage.objects.get",
      "storage.objects.list",
    ]);
    // Nothing that could change IAM, delete the bucket or reach another service.
    for (const p of role.inputs.permissions as string[]) {
      expect(p).toMatch(/^storage\.(buckets\.get|objects\.(create|delete|get|list))$/);
    }
  });

  it("lets the cluster's node service accounts pull from this repository when given, and only then", async () => {
    const nodes = ["987654321098-compute@developer.gserviceaccount.com", "gpu-nodes@acme-ml.iam.gserviceaccount.com"];
    const { one, children } = await build("pull", { nodeServiceAccounts: nodes });
    const repo = one(T.repo);
    const binding = one("gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding");
    expect(binding.name).toBe("pull-repository-node-reader");
    expect(binding.inputs).toMatchObject({
      role: "roles/artifactregistry.reader",
      repository: repo.state.name,
      location: repo.state.location,
      project: repo.state.project,
      members: nodes.map((e) => `serviceAccount:${e}`),
    });
    expect(binding.inputs.condition).toBeUndefined();
    // No other grant names the nodes.
    expect(children.filter((r) => JSON.stringify(r.inputs).includes("gpu-nodes@")).map((r) => r.name)).toEqual(["pull-repository-node-reader"]);
    const none = await build("nopull");
    expect(none.children.some((r) => r.type.includes("repositoryIamBinding"))).toBe(false);
  });

  it("finds the service accounts of every node pool, the default node config and auto-provisioned nodes", () => {
    const cluster = {
      nodePools: [
        { nodeConfigs: [{ serviceAccount: "default" }] },
        { nodeConfigs: [{ serviceAccount: "gpu@p.iam.gserviceaccount.com" }] },
        { nodeConfigs: [{ serviceAccount: "gpu@p.iam.gserviceaccount.com" }] },
      ],
      nodeConfigs: [{ serviceAccount: "" }],
      clusterAutoscalings: [{ autoProvisioningDefaults: [{ serviceAccount: "auto@p.iam.gserviceaccount.com" }] }],
    } as unknown as ClusterNodeIdentities;
    expect(nodeServiceAccounts(cluster, "42")).toEqual([
      "42-compute@developer.gserviceaccount.com",
      "auto@p.iam.gserviceaccount.com",
      "gpu@p.iam.gserviceaccount.com",
    ]);
  });

  it("lets exactly the agent's KSA impersonate the GSA through Workload Identity", async () => {
    const { one } = await build("wi");
    const gsa = one(T.gsa);
    const binding = one(T.gsaMember).inputs;
    expect(binding.serviceAccountId).toBe(gsa.state.name);
    expect(binding.role).toBe("roles/iam.workloadIdentityUser");
    expect(binding.member).toBe("serviceAccount:acme-ml.svc.id.goog[wandb/wandb-launch-agent]");
  });

  it("uses the cluster's own Workload Identity pool when the cluster lives in another project", async () => {
    const { one } = await build("wi2", {
      namespace: "launch",
      serviceAccountName: "agent",
      workloadIdentityPool: "gke-host.svc.id.goog",
    });
    expect(one(T.gsaMember).inputs.member).toBe("serviceAccount:gke-host.svc.id.goog[launch/agent]");
  });
});

describe("GcpLaunchEnvironment outputs", () => {
  it("exposes destination, context store, annotation, labels, identity and region", async () => {
    const { outputs, one } = await build("out", { repositoryId: "launch", imageName: "jobs" });
    const gsa = one(T.gsa);
    const bucket = one(T.bucket);
    expect(outputs.destination).toBe("us-central1-docker.pkg.dev/acme-ml/launch/jobs");
    expect(outputs.buildContextStore).toBe(`gs://${String(bucket.state.name)}/build-contexts`);
    expect(outputs.identity).toBe(gsa.state.email);
    expect(outputs.identity).toMatch(/@acme-ml\.iam\.gserviceaccount\.com$/);
    expect(outputs.serviceAccountAnnotations).toEqual({ "iam.gke.io/gcp-service-account": gsa.state.email });
    expect(outputs.podLabels).toEqual({});
    expect(outputs.region).toBe("us-central1");
  });

  it("offers the deployer's Artifact Registry login only as a secret, for pushing the agent image", async () => {
    const { env, outputs } = await build("auth");
    const auth = env.outputs.registryAuth!;
    expect(auth).toBeDefined();
    expect(await isSecretOutput(auth)).toBe(true);
    const value = await promiseOf(auth);
    expect(value).toEqual({ address: "us-central1-docker.pkg.dev", username: "oauth2accesstoken", password: "mock-gcp-access-token" });
    expect(outputs.destination.startsWith(`${value.address}/`)).toBe(true);
    for (const o of [env.outputs.destination, env.outputs.buildContextStore, env.outputs.identity, env.outputs.serviceAccountAnnotations]) {
      expect(await isSecretOutput(o)).toBe(false);
    }
    expect(JSON.stringify(outputs)).not.toContain(value.password);
  });

  it("produces a kaniko config the agent accepts without warnings", async () => {
    const { env, outputs } = await build("cfg");
    const m = GAR_URI.exec(outputs.destination);
    expect(m?.groups?.image, "GAR destination must name an image").toBe("launch-job");
    expect(m?.groups?.tag).toBeUndefined();
    expect(GCS_URI.test(outputs.buildContextStore)).toBe(true);
    const result = validateAgentConfig({
      queues: ["default"],
      builder: { type: "kaniko", destination: outputs.destination, "build-context-store": outputs.buildContextStore },
      environment: { type: env.outputs.environmentType, region: outputs.region },
    });
    expect(result).toEqual({ valid: true, errors: [], warnings: [] });
    // The validator is the real one: the same config without GAR's image segment is rejected.
    const noImage = outputs.destination.replace(/\/[^/]+$/, "");
    const bad = validateAgentConfig({
      queues: ["default"],
      builder: { type: "kaniko", destination: noImage, "build-context-store": outputs.buildContextStore },
      environment: { type: "gcp", region: outputs.region },
    });
    expect(bad.valid).toBe(false);
    expect(bad.errors.map((e) => e.path)).toContain("builder.destination");
  });
});

describe("GcpLaunchEnvironment argument errors", () => {
  it("names the field, the value and the fix", () => {
    expect(() => new GcpLaunchEnvironment("bad1", { ...BASE, serviceAccountName: "Launch_Agent" })).toThrow(
      /serviceAccountName = "Launch_Agent" is invalid\. Use a Kubernetes ServiceAccount name/,
    );
    expect(() => new GcpLaunchEnvironment("bad2", { ...BASE, contextExpirationDays: 0 })).toThrow(GcpArgumentError);
    expect(() => new GcpLaunchEnvironment("bad3", { ...BASE, imageName: "team/jobs" })).toThrow(/imageName = "team\/jobs"/);
    expect(() => new GcpLaunchEnvironment("bad4", { ...BASE, contextPrefix: "/ctx/" })).toThrow(/contextPrefix/);
    expect(() => new GcpLaunchEnvironment("bad7", { ...BASE, region: "us central1" })).toThrow(/region = "us central1"/);
    expect(() => new GcpLaunchEnvironment("bad6", { ...BASE, contextStoreRoleId: "launch-ctx" })).toThrow(/contextStoreRoleId = "launch-ctx"/);
    expect(() => new GcpLaunchEnvironment("bad5", { ...BASE, project: "example.com:ml" })).toThrow(/project = "example.com:ml"/);
  });

  it("falls back to the gcp:project and gcp:region stack config", async () => {
    pulumi.runtime.setAllConfig({ "gcp:project": "cfg-proj", "gcp:region": "europe-west4" });
    try {
      const { project: _p, region: _r, ...rest } = BASE;
      const env = new GcpLaunchEnvironment("fromcfg", rest);
      expect(await promiseOf(env.outputs.destination)).toMatch(/^europe-west4-docker\.pkg\.dev\/cfg-proj\//);
      expect(await promiseOf(env.outputs.region)).toBe("europe-west4");
      await settle();
      expect(mocks.one("gcp:serviceaccount/iAMMember:IAMMember", "fromcfg").inputs.member).toBe(
        "serviceAccount:cfg-proj.svc.id.goog[wandb/wandb-launch-agent]",
      );
    } finally {
      pulumi.runtime.setAllConfig({});
    }
  });

  it("asks for gcp:project when neither the argument nor the stack config gives one", () => {
    const { project: _omit, ...noProject } = BASE;
    expect(() => new GcpLaunchEnvironment("noproj", noProject)).toThrow(/pulumi config set gcp:project/);
  });
});

describe("GCP policy documents", () => {
  it("builds the Workload Identity member and GCS URIs", () => {
    expect(workloadIdentityMember("p.svc.id.goog", "ns", "sa")).toBe("serviceAccount:p.svc.id.goog[ns/sa]");
    expect(gcsContextStore("b", "")).toBe("gs://b");
    expect(gcsContextStore("b", "a/b")).toBe("gs://b/a/b");
  });

  it("names the repository and the custom role per stack, within GCP's id rules", () => {
    const dev = { project: "wandb-launch", stack: "dev", component: "wandb-launch" };
    const prod = { ...dev, stack: "prod" };
    expect(defaultRepositoryId(dev)).not.toBe(defaultRepositoryId(prod));
    expect(defaultContextStoreRoleId(dev)).not.toBe(defaultContextStoreRoleId(prod));
    expect(defaultRepositoryId(dev)).toMatch(/^wandb-launch-dev-[0-9a-f]{6}$/);
    expect(defaultContextStoreRoleId(dev)).toMatch(/^wandb_launch_dev_launchContextStore_[0-9a-f]{6}$/);
    // Stable: the same stack asks for the same ids on every run.
    expect(defaultRepositoryId({ ...dev })).toBe(defaultRepositoryId(dev));
    // Stack names that fold to the same readable part still differ.
    expect(defaultRepositoryId({ ...dev, stack: "a.b" })).not.toBe(defaultRepositoryId({ ...dev, stack: "a_b" }));
    const long = { project: "p", stack: "s".repeat(100), component: "9" + "c".repeat(100) };
    expect(defaultRepositoryId(long)).toMatch(/^[a-z][a-z0-9-]{0,61}[a-z0-9]$/);
    expect(defaultContextStoreRoleId(long)).toMatch(/^[a-zA-Z0-9_.]{3,64}$/);
  });

  it("keeps role and repository ids within GCP's character rules", () => {
    expect(customRoleId("my-env", "launchContextStore")).toBe("my_env_launchContextStore");
    expect(customRoleId("x".repeat(80), "s")).toHaveLength(64);
    expect(repositoryIdFrom("9Launch_Env")).toBe("r-9launch-env");
    expect(repositoryIdFrom("prod")).toBe("prod");
  });

  it("never produces a keep-last-N rule and scales day counts to seconds", () => {
    for (const p of artifactRegistryCleanupPolicies(1, 5)) {
      expect(p.action).toBe("DELETE");
      expect(p).not.toHaveProperty("mostRecentVersions");
    }
    expect(artifactRegistryCleanupPolicies(1)[0]!.condition.olderThan).toBe("86400s");
    expect(contextLifecycleRules(9, "x")).toEqual([{ action: { type: "Delete" }, condition: { age: 9, matchesPrefixes: ["x/"] } }]);
    expect(CONTEXT_STORE_PERMISSIONS).toContain("storage.buckets.get");
  });
});
