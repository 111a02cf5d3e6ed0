// Each cloud's runtime path, shown on what the whole stack program registers (Pulumi mocks): names that do not
// collide, pull grants for the nodes, the KMS grant, the Kubernetes provider built from the looked-up cluster,
// build pods without an API token, namespace/Secret ordering, kaniko settings, tags and labels.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { afterAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { kanikoJob } from "../../agent/builders/kaniko-manifest.js";
import { validateAgentConfig } from "../../agent/config/index.js";
import type { PolicyDocument } from "../../components/aws/policy.js";
import { renderLaunchConfig } from "../../components/launch-config.js";
import { parseStackConfig, StackConfigError } from "../../stacks/config.js";
import { renderStack } from "../../stacks/render.js";
import { DEFAULT_MOCK_CLOUD, installMocks, type MockRecorder, promiseOf, type RecordedResource, settle } from "./mocks.js";

type Flat = Record<string, string>;
type Obj = Record<string, unknown>;
const NS = "wandb-launch";

const BASE: Record<"aws" | "gcp" | "azure" | "kubernetes", Flat> = {
  aws: { [`${NS}:cloud`]: "aws", "aws:region": "us-west-2", [`${NS}:eksClusterName`]: "ml-eks", [`${NS}:queues`]: '["q"]', [`${NS}:apiKey`]: "k-123456" },
  gcp: { [`${NS}:cloud`]: "gcp", "gcp:project": "my-project", "gcp:region": "us-central1", [`${NS}:gkeClusterName`]: "ml-gke", [`${NS}:queues`]: '["q"]', [`${NS}:apiKey`]: "k-123456" },
  azure: {
    [`${NS}:cloud`]: "azure",
    [`${NS}:resourceGroupName`]: "ml-launch",
    [`${NS}:aksClusterName`]: "ml-aks",
    [`${NS}:queues`]: '["q"]',
    [`${NS}:apiKey`]: "k-123456",
    [`${NS}:agentImage`]: "mlacr.azurecr.io/launch:agent",
  },
  kubernetes: {
    [`${NS}:cloud`]: "kubernetes",
    [`${NS}:destination`]: "registry.example.com/ml/launch",
    [`${NS}:buildContextStore`]: "s3://ctx/build-contexts",
    [`${NS}:s3CredentialsSecretName`]: "s3-creds",
    [`${NS}:queues`]: '["q"]',
    [`${NS}:apiKey`]: "k-123456",
    [`${NS}:agentImage`]: "registry.example.com/ml/launch-agent:1",
  },
};

interface Run {
  mocks: MockRecorder;
  launchConfig: Obj;
  all: (type: string) => RecordedResource[];
  one: (type: string, nameContains?: string) => RecordedResource;
  kube: RecordedResource[];
}

/** Runs the stack program under fresh mocks, as `pulumi up` would for stack `stack` with this flat config. */
async function run(kind: keyof typeof BASE, extra: Flat = {}, stack = "test"): Promise<Run> {
  const config = { ...BASE[kind], ...extra };
  for (const [k, v] of Object.entries(config)) if (v === "") delete config[k];
  const mocks = await installMocks({ project: NS, stack, config, secretKeys: [`${NS}:apiKey`] });
  const { runProgram } = await import("../../stacks/program.js");
  const out = runProgram();
  const yaml = await promiseOf(out.launchConfig);
  await Promise.all([promiseOf(out.agentImage), promiseOf(out.identity), promiseOf(out.namespace)]);
  await settle();
  return {
    mocks,
    launchConfig: parse(yaml) as Obj,
    all: (type) => mocks.byType(type),
    one: (type, nameContains) => mocks.one(type, nameContains),
    kube: mocks.resources.filter((r) => r.custom && r.type.startsWith("kubernetes:")),
  };
}

const problems = (kind: keyof typeof BASE, extra: Flat): string[] => {
  const config = { ...BASE[kind], ...extra };
  for (const [k, v] of Object.entries(config)) if (v === "") delete config[k];
  try {
    parseStackConfig(config);
  } catch (err) {
    if (err instanceof StackConfigError) return err.problems;
    throw err;
  }
  return [];
};

const kanikoConfigOf = (r: Run) => (r.launchConfig.builder as Obj)["kaniko-config"] as Obj;
const podSpecOf = (fragment: Obj) => ((fragment.spec as Obj).template as Obj).spec as Obj;

describe("names that do not collide", () => {
  it("GCP: a second stack in the same project gets its own repository and custom role ids", async () => {
    const ids = async (stack: string) => {
      const r = await run("gcp", {}, stack);
      return [String(r.one("gcp:artifactregistry/repository:Repository").inputs.repositoryId), String(r.one("gcp:projects/iAMCustomRole:IAMCustomRole").inputs.roleId)];
    };
    const [devRepo, devRole] = await ids("dev");
    const [prodRepo, prodRole] = await ids("prod");
    expect(devRepo).not.toBe(prodRepo);
    expect(devRole).not.toBe(prodRole);
    for (const id of [devRepo, prodRepo]) expect(id).toMatch(/^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/);
    for (const id of [devRole, prodRole]) expect(id).toMatch(/^[a-zA-Z0-9_.]{3,64}$/);
    // Stable: the next `up` of the same stack asks for the same ids (a change would replace the repository).
    expect(await ids("dev")).toEqual([devRepo, devRole]);
  });

  it("Azure: registry and storage account names differ per resource group (and subscription), stay the same per stack", async () => {
    const names = async (rg: string) => {
      const r = await run("azure", { [`${NS}:resourceGroupName`]: rg });
      return [String(r.one("azure-native:containerregistry:Registry").inputs.registryName), String(r.one("azure-native:storage:StorageAccount").inputs.accountName)];
    };
    const a = await names("team-a");
    const b = await names("team-b");
    expect(a[0]).not.toBe(b[0]);
    expect(a[1]).not.toBe(b[1]);
    expect(a[0]).toMatch(/^[a-zA-Z0-9]{5,50}$/);
    expect(a[1]).toMatch(/^[a-z0-9]{3,24}$/);
    expect(await names("team-a")).toEqual(a);
  });
});

describe("nodes can pull what the agent builds", () => {
  it("Azure: AcrPull on the registry for the kubelet identity of the cluster the stack looked up; opt-out", async () => {
    const r = await run("azure");
    const lookup = r.mocks.calls.find((c) => c.token === "azure-native:containerservice:getManagedCluster")!;
    expect(lookup.inputs).toEqual({ resourceGroupName: "ml-launch", resourceName: "ml-aks" });
    const pull = r.one("azure-native:authorization:RoleAssignment", "kubelet-acr-pull");
    const registry = r.one("azure-native:containerregistry:Registry");
    const { CALL_STUBS } = await import("./mocks.js");
    const cluster = CALL_STUBS["azure-native:containerservice:getManagedCluster"]!(lookup.inputs, DEFAULT_MOCK_CLOUD) as { identityProfile: { kubeletidentity: { objectId: string } } };
    expect(pull.inputs).toMatchObject({
      scope: registry.id,
      principalId: cluster.identityProfile.kubeletidentity.objectId,
      principalType: "ServicePrincipal",
      roleDefinitionId: `/subscriptions/${DEFAULT_MOCK_CLOUD.azureSubscriptionId}/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d`,
    });
    const off = await run("azure", { [`${NS}:grantClusterPull`]: "false" });
    expect(off.all("azure-native:authorization:RoleAssignment").map((x) => x.name).sort()).toEqual(["wandb-launch-acr-push", "wandb-launch-blob-contributor"]);
  });

  it("GCP: roles/artifactregistry.reader on the repository for every node pool's service account; opt-out", async () => {
    const r = await run("gcp");
    const lookup = r.mocks.calls.find((c) => c.token === "gcp:container/getCluster:getCluster")!;
    expect(lookup.inputs).toMatchObject({ name: "ml-gke", location: "us-central1", project: "my-project" });
    const repo = r.one("gcp:artifactregistry/repository:Repository");
    const binding = r.one("gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding");
    expect(binding.inputs).toEqual({
      project: "my-project",
      location: "us-central1",
      repository: repo.state.name,
      role: "roles/artifactregistry.reader",
      // The default pool runs as the Compute Engine default account ("default"), the GPU pool as its own.
      members: [
        `serviceAccount:${DEFAULT_MOCK_CLOUD.gcpProjectNumber}-compute@developer.gserviceaccount.com`,
        "serviceAccount:gke-gpu-nodes@my-project.iam.gserviceaccount.com",
      ],
    });
    // The agent's GSA trusts the cluster's own Workload Identity pool.
    expect(r.one("gcp:serviceaccount/iAMMember:IAMMember").inputs.member).toBe("serviceAccount:my-project.svc.id.goog[wandb/wandb-launch-agent]");
    const off = await run("gcp", { [`${NS}:grantClusterPull`]: "false" });
    expect(off.all("gcp:artifactregistry/repositoryIamBinding:RepositoryIamBinding")).toEqual([]);
  });

  it("asks for the cluster when the pull grant needs it", () => {
    expect(problems("gcp", { [`${NS}:gkeClusterName`]: "" })).toEqual([expect.stringMatching(/^wandb-launch:gkeClusterName is required for cloud gcp: the node service accounts .*grantClusterPull false/)]);
    expect(problems("azure", { [`${NS}:aksClusterName`]: "", [`${NS}:oidcIssuerUrl`]: "https://issuer.example.com/x" })).toEqual([
      expect.stringMatching(/^wandb-launch:aksClusterName is required for cloud azure: the kubelet identity that needs AcrPull/),
    ]);
  });
});

describe("AWS with a customer-managed KMS key", () => {
  const KEY = `arn:aws:kms:us-west-2:${DEFAULT_MOCK_CLOUD.awsAccountId}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
  const keyPolicy: PolicyDocument = {
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${DEFAULT_MOCK_CLOUD.awsAccountId}:root` }, Action: "kms:*", Resource: "*" }],
  };
  const simulate = async (doc: PolicyDocument, action: string, resource: string, ctx: Record<string, string>) => {
    const res = await runSimulation(
      {
        identityPolicies: [{ name: "agent", policy: doc }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        ...(action.startsWith("kms:") ? { resourcePolicy: keyPolicy } : {}),
        request: { action, principal: "arn:aws:iam::123456789012:role/agent", resource: { resource, accountId: DEFAULT_MOCK_CLOUD.awsAccountId }, contextVariables: ctx },
      },
      {},
    );
    if (res.resultType === "error") throw new Error(JSON.stringify(res.errors));
    return res.overallResult;
  };

  it("lets the agent role upload and kaniko read SSE-KMS build contexts with that key, and nothing else", async () => {
    const r = await run("aws", { [`${NS}:kmsKeyArn`]: KEY });
    const doc = JSON.parse(String(r.one("aws:iam/rolePolicy:RolePolicy").inputs.policy)) as PolicyDocument;
    const s3 = { "kms:ViaService": "s3.us-west-2.amazonaws.com" };
    expect(await simulate(doc, "kms:GenerateDataKey", KEY, s3)).toBe("Allowed");
    expect(await simulate(doc, "kms:Decrypt", KEY, s3)).toBe("Allowed");
    expect(await simulate(doc, "kms:Decrypt", KEY, {})).toBe("ImplicitlyDenied");
    expect(await simulate(doc, "kms:Decrypt", KEY.replace(/key\/.*/, "key/other"), s3)).toBe("ImplicitlyDenied");
    expect(await simulate(doc, "kms:ScheduleKeyDeletion", KEY, s3)).toBe("ImplicitlyDenied");
    const bucket = String(r.one("aws:s3/bucket:Bucket").state.arn);
    expect(await simulate(doc, "s3:PutObject", `${bucket}/build-contexts/x.tgz`, {})).toBe("Allowed");
    expect(parseStackConfig({ ...BASE.aws, [`${NS}:kmsKeyArn`]: KEY }).cloud).toBe("aws");
    expect(problems("aws", { [`${NS}:kmsKeyArn`]: "arn:aws:kms:us-west-2:123456789012:alias/launch" })).toEqual([expect.stringMatching(/^wandb-launch:kmsKeyArn must be a KMS key ARN .*\(got "arn:aws:kms:us-west-2:123456789012:alias\/launch"\)/)]);
  });
});

describe("the agent lands on the cluster the stack looked up", () => {
  const providerOf = (r: Run) => {
    const providers = r.all("pulumi:providers:kubernetes");
    expect(providers.map((p) => p.name)).toEqual(["wandb-launch-cluster"]);
    return providers[0]!;
  };
  const everyObjectUses = (r: Run, provider: RecordedResource) => {
    expect(r.kube.length).toBeGreaterThanOrEqual(8);
    for (const obj of r.kube) expect(obj.provider, `${obj.type} ${obj.name}`).toMatch(new RegExp(`::wandb-launch-cluster::${provider.id}$`));
  };

  it("EKS: exec kubeconfig for the named cluster's endpoint and CA, tokens from aws eks get-token", async () => {
    const r = await run("aws", { "aws:profile": "platform" });
    const provider = providerOf(r);
    const kc = JSON.parse(String(provider.inputs.kubeconfig)) as Obj;
    expect(kc).toMatchObject({
      clusters: [{ name: "ml-eks", cluster: { server: expect.stringMatching(/^https:\/\/[0-9A-F]+\.gr7\.us-west-2\.eks\.amazonaws\.com$/), "certificate-authority-data": "bW9jay1jYQ==" } }],
      "current-context": "ml-eks",
      users: [
        {
          name: "ml-eks",
          user: {
            exec: {
              apiVersion: "client.authentication.k8s.io/v1beta1",
              command: "aws",
              args: ["eks", "get-token", "--cluster-name", "ml-eks", "--region", "us-west-2", "--output", "json"],
              env: [{ name: "AWS_PROFILE", value: "platform" }],
              interactiveMode: "Never",
            },
          },
        },
      ],
    });
    everyObjectUses(r, provider);
  });

  it("GKE: exec kubeconfig through gke-gcloud-auth-plugin for the named cluster", async () => {
    const r = await run("gcp", { [`${NS}:gkeClusterLocation`]: "us-central1-a" });
    const provider = providerOf(r);
    const kc = JSON.parse(String(provider.inputs.kubeconfig)) as { clusters: Array<{ cluster: { server: string } }>; users: Array<{ user: { exec: Obj } }>; "current-context": string };
    expect(kc["current-context"]).toBe("gke_my-project_us-central1-a_ml-gke");
    expect(kc.clusters[0]!.cluster.server).toMatch(/^https:\/\/34\.\d+\.0\.1$/);
    expect(kc.users[0]!.user.exec).toMatchObject({ command: "gke-gcloud-auth-plugin", provideClusterInfo: true, interactiveMode: "Never" });
    expect(r.mocks.calls.find((c) => c.token === "gcp:container/getCluster:getCluster")!.inputs).toMatchObject({ location: "us-central1-a" });
    everyObjectUses(r, provider);
  });

  it("AKS: the cluster's user kubeconfig (or admin, when asked), kept secret", async () => {
    const r = await run("azure");
    const provider = providerOf(r);
    expect(provider.secretPaths).toContain("kubeconfig");
    expect(String(provider.inputs.kubeconfig)).toContain("current-context: ml-aks\n");
    expect(String(provider.inputs.kubeconfig)).toContain("name: clusterUser_ml-aks");
    everyObjectUses(r, provider);
    const admin = await run("azure", { [`${NS}:aksCredentials`]: "admin" });
    expect(String(providerOf(admin).inputs.kubeconfig)).toContain("clusterAdmin_ml-aks");
    expect(admin.mocks.calls.map((c) => c.token)).toContain("azure-native:containerservice:listManagedClusterAdminCredentials");
  });

  it("uses the default provider when the stack names a kubeconfig context, and never for a cloud kind otherwise", async () => {
    for (const kind of ["aws", "gcp", "azure"] as const) {
      const r = await run(kind, { "kubernetes:context": "my-context" });
      expect(r.all("pulumi:providers:kubernetes"), kind).toEqual([]);
      for (const obj of r.kube) expect(obj.provider ?? "", `${kind} ${obj.name}`).not.toContain("wandb-launch-cluster");
    }
    // Without a cluster name and without a named context the target would be whatever is current: refused.
    expect(problems("aws", { [`${NS}:eksClusterName`]: "", [`${NS}:oidcIssuerUrl`]: "https://oidc.eks.us-west-2.amazonaws.com/id/X" })).toEqual([
      expect.stringMatching(/^wandb-launch:eksClusterName is not set, so the agent would be deployed to whatever cluster .*kubernetes:context/),
    ]);
    expect(problems("aws", { [`${NS}:eksClusterName`]: "", [`${NS}:oidcIssuerUrl`]: "https://oidc.eks.us-west-2.amazonaws.com/id/X", "kubernetes:context": "eks-prod" })).toEqual([]);
  });
});

describe("build pods get no Kubernetes API token", () => {
  it.each(["aws", "gcp", "azure", "kubernetes"] as const)("%s: the generated kaniko-config turns the token mount off, and the agent accepts it", async (kind) => {
    const r = await run(kind);
    const fragment = kanikoConfigOf(r);
    expect(podSpecOf(fragment).automountServiceAccountToken).toBe(false);
    const check = validateAgentConfig(r.launchConfig);
    expect(check.errors).toEqual([]);
    // The official agent's merge keeps it: the Job it builds from this fragment mounts no token.
    const job = kanikoJob({ jobName: "j", namespace: "wandb", serviceAccountName: "wandb-launch-agent", kanikoImage: "k", kanikoConfig: fragment, context: "s3://b/c.tgz", destination: "r/x:1", repositoryUri: "r/x", registryKind: "anonymous" });
    expect(job.spec!.template.spec!.automountServiceAccountToken).toBe(false);
  });
});

describe("namespace and existing Secrets", () => {
  it("does not create the namespace when the config names Secrets that must already be in it", async () => {
    const r = await run("kubernetes");
    expect(r.all("kubernetes:core/v1:Namespace")).toEqual([]);
    const byKey = await run("aws", { [`${NS}:apiKey`]: "", [`${NS}:apiKeySecretName`]: "wandb-key" });
    expect(byKey.all("kubernetes:core/v1:Namespace")).toEqual([]);
    // The stack still creates it when it creates every Secret the agent needs.
    expect((await run("aws")).all("kubernetes:core/v1:Namespace")).toHaveLength(1);
  });

  it("refuses createNamespace true with existing Secrets, saying what to do", () => {
    expect(problems("kubernetes", { [`${NS}:createNamespace`]: "true" })).toEqual([
      expect.stringMatching(
        /^wandb-launch:createNamespace is true, but wandb-launch:s3CredentialsSecretName \(s3-creds\) must already exist in namespace "wandb", which the stack would only create: create the namespace and the Secrets first .*`pulumi config set wandb-launch:createNamespace false`$/,
      ),
    ]);
    expect(problems("gcp", { [`${NS}:apiKey`]: "", [`${NS}:apiKeySecretName`]: "wandb-key", [`${NS}:createNamespace`]: "true" })).toEqual([
      expect.stringMatching(/wandb-launch:apiKeySecretName \(wandb-key\) must already exist .*or let the stack hold the key \(`pulumi config rm wandb-launch:apiKeySecretName`/),
    ]);
    expect(problems("kubernetes", { [`${NS}:createNamespace`]: "false" })).toEqual([]);
  });
});

describe("Azure shared-key access", () => {
  it("is on by default (kaniko reads contexts with the key) and can be turned off, with no key Secret then", async () => {
    const on = await run("azure", { [`${NS}:namespace`]: "ml-launch" });
    expect(on.one("azure-native:storage:StorageAccount").inputs.allowSharedKeyAccess).toBe(true);
    // The key Secret sits in the agent's own namespace, where our agent's kaniko builder looks for it.
    const key = on.one("kubernetes:core/v1:Secret", "azure-storage-key");
    expect(key.inputs.metadata).toMatchObject({ name: "azure-storage-access-key", namespace: "ml-launch" });
    const off = await run("azure", { [`${NS}:storageSharedKeyAccess`]: "false" });
    expect(off.one("azure-native:storage:StorageAccount").inputs.allowSharedKeyAccess).toBe(false);
    expect(off.all("kubernetes:core/v1:Secret").map((s) => s.name)).toEqual(["wandb-launch-api-key"]);
    expect(off.mocks.calls.map((c) => c.token)).not.toContain("azure-native:storage:listStorageAccountKeys");
  });
});

describe("kaniko settings from the stack config", () => {
  const fragment = { spec: { template: { spec: { nodeSelector: { pool: "build" }, containers: [{ resources: { requests: { cpu: "2" } } }] } } } };

  it.each(["aws", "gcp", "azure", "kubernetes"] as const)("%s: kanikoImage, buildJobName and kanikoConfig reach builder.*", async (kind) => {
    const r = await run(kind, {
      [`${NS}:kanikoImage`]: "cgr.dev/chainguard/kaniko:latest",
      [`${NS}:buildJobName`]: "ml-build",
      [`${NS}:kanikoConfig`]: JSON.stringify(fragment),
    });
    const builder = r.launchConfig.builder as Obj;
    expect(builder["kaniko-image"]).toBe("cgr.dev/chainguard/kaniko:latest");
    expect(builder["build-job-name"]).toBe("ml-build");
    const pod = podSpecOf(builder["kaniko-config"] as Obj);
    expect(pod).toMatchObject({ nodeSelector: { pool: "build" }, automountServiceAccountToken: false });
    const container = (pod.containers as Obj[])[0]!;
    expect(container.resources).toEqual({ requests: { cpu: "2" } });
    // The kubernetes kind's store credentials are merged into the same container, not a second one.
    expect((pod.containers as Obj[]).length).toBe(1);
    if (kind === "kubernetes") expect(container.env).toEqual(expect.arrayContaining([{ name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_ACCESS_KEY_ID" } } }]));
    expect(validateAgentConfig(r.launchConfig).errors).toEqual([]);
  });

  const tmpRoots: string[] = [];
  afterAll(async () => {
    await Promise.all(tmpRoots.map((d) => rm(d, { recursive: true, force: true })));
  });

  it("rejects kaniko settings the agent would reject, naming the stack key, before anything is deployed", async () => {
    expect(problems("aws", { [`${NS}:buildJobName`]: "Bad_Name" })).toEqual([expect.stringMatching(/^wandb-launch:buildJobName cannot prefix a Kubernetes Job name.*\(got "Bad_Name"\)/)]);
    expect(problems("gcp", { [`${NS}:kanikoConfig`]: JSON.stringify({ spec: { template: { spec: { containers: [{}, {}] } } } }) })).toEqual([
      expect.stringMatching(/^wandb-launch:kanikoConfig would fail every build: Multiple container configs not supported.*`pulumi config rm wandb-launch:kanikoConfig`/),
    ]);
    expect(problems("azure", { [`${NS}:storageSharedKeyAccess`]: "no" })).toEqual([`${NS}:storageSharedKeyAccess must be true or false (got "no")`]);
    expect(problems("aws", { [`${NS}:kanikoConfig`]: "[1,2]" })).toEqual([expect.stringMatching(/^wandb-launch:kanikoConfig must be a Kubernetes Job fragment/)]);
    // The launch-config renderer checks the same with the agent's code (a component used without this program).
    expect(() =>
      renderLaunchConfig({ queues: ["q"], environmentType: "aws", region: "us-west-2", destination: "1.dkr.ecr.us-west-2.amazonaws.com/r", buildContextStore: "s3://b/p", kanikoConfig: { spec: { template: { spec: { containers: [{ args: "--x" }] } } } } }),
    ).toThrow(/builder\.kaniko-config: builder\.kaniko-config\.spec\.template\.spec\.containers\[0\]\.args must be a list/);
    // A map in the stack file works like the JSON text `pulumi config set --path` stores.
    const root = await mkdtemp(join(tmpdir(), "runtime-path-"));
    tmpRoots.push(root);
    await mkdir(join(root, "stacks"));
    await writeFile(join(root, "stacks", "Pulumi.mapconfig.yaml"), stringify({ config: { ...BASE.kubernetes, [`${NS}:kanikoConfig`]: fragment } }));
    const ok = await renderStack("mapconfig", root);
    expect(parse(String(ok.outputs.launchConfig)).builder["kaniko-config"].spec.template.spec.nodeSelector).toEqual({ pool: "build" });
  });
});

describe("tags and labels", () => {
  const tags = { team: "ml-platform", "cost-center": "c42" };
  const set = { [`${NS}:tags`]: JSON.stringify(tags) };
  const labelsOf = (r: RecordedResource) => ((r.inputs.metadata as Obj).labels ?? {}) as Obj;

  const everyKubeObjectLabelled = (r: Run) => {
    expect(r.kube.length).toBeGreaterThanOrEqual(8);
    for (const obj of r.kube) {
      expect(labelsOf(obj), `${obj.type} ${obj.name}`).toMatchObject(tags);
      // Our own labels stay: selectors and workload-identity labels must not change.
      expect(labelsOf(obj)["app.kubernetes.io/part-of"] ?? "wandb-launch", obj.name).toBe("wandb-launch");
    }
    const dep = r.one("kubernetes:apps/v1:Deployment");
    const tpl = ((dep.inputs.spec as Obj).template as Obj).metadata as Obj;
    expect(tpl.labels).toMatchObject({ ...tags, "app.kubernetes.io/name": "wandb-launch-agent" });
    const k = kanikoConfigOf(r);
    expect((k.metadata as Obj).labels).toEqual(tags);
    expect((((k.spec as Obj).template as Obj).metadata as Obj).labels).toEqual(tags);
  };

  it("AWS: every taggable resource is tagged, every Kubernetes object labelled", async () => {
    const r = await run("aws", set);
    for (const t of ["aws:ecr/repository:Repository", "aws:s3/bucket:Bucket", "aws:iam/role:Role"]) expect(r.one(t).inputs.tags, t).toEqual(tags);
    everyKubeObjectLabelled(r);
    // Labels go to Kubernetes objects only; cloud resources have no metadata to put them in.
    for (const res of r.mocks.resources.filter((x) => x.type.startsWith("aws:") || x.type.startsWith("docker-build:"))) expect(res.inputs, res.type).not.toHaveProperty("metadata");
  });

  it("GCP: repository and bucket carry the labels, every Kubernetes object too", async () => {
    const r = await run("gcp", set);
    for (const t of ["gcp:artifactregistry/repository:Repository", "gcp:storage/bucket:Bucket"]) expect(r.one(t).inputs.labels, t).toEqual(tags);
    everyKubeObjectLabelled(r);
  });

  it("Azure: registry, storage account and identity are tagged, every Kubernetes object labelled", async () => {
    const r = await run("azure", set);
    for (const t of ["azure-native:containerregistry:Registry", "azure-native:storage:StorageAccount", "azure-native:managedidentity:UserAssignedIdentity"]) {
      expect(r.one(t).inputs.tags, t).toEqual(tags);
    }
    everyKubeObjectLabelled(r);
  });

  it("kubernetes kind: every Kubernetes object labelled", async () => {
    everyKubeObjectLabelled(await run("kubernetes", set));
  });

  it("rejects tags a cloud or Kubernetes would refuse, naming the tag and the fix", () => {
    expect(problems("aws", { [`${NS}:tags`]: '{"Team Name":"x"}' })).toEqual([expect.stringMatching(/^wandb-launch:tags has "Team Name": "x", which is not a Kubernetes label key/)]);
    expect(problems("aws", { [`${NS}:tags`]: '{"team":"has space"}' })).toEqual([expect.stringMatching(/^wandb-launch:tags has a value that is not a Kubernetes label value/)]);
    expect(problems("aws", { [`${NS}:tags`]: '{"app.kubernetes.io/name":"x"}' })).toEqual([expect.stringMatching(/^wandb-launch:tags has "app.kubernetes.io\/name": "x", a key prefix reserved/)]);
    expect(problems("gcp", { [`${NS}:tags`]: '{"Team":"ML"}' })).toEqual([expect.stringMatching(/^wandb-launch:tags has "Team": "ML", which GCP labels do not allow/)]);
    expect(problems("azure", { [`${NS}:tags`]: '{"example.com/team":"ml"}' })).toEqual([expect.stringMatching(/which Azure tags do not allow \(no '\/' in keys\)/)]);
    expect(problems("aws", { [`${NS}:tags`]: '{"example.com/team":"ML_1"}' })).toEqual([]);
  });
});

describe("pure builders behind the runtime path", () => {
  it("kubeconfigs refuse a cluster without endpoint or CA, and decode what AKS returns", async () => {
    const { eksKubeconfig, gkeKubeconfig, aksKubeconfig } = await import("../../components/kubernetes/kubeconfig.js");
    const eks = { name: "c", endpoint: "https://x.eks.amazonaws.com", certificateAuthorityData: "Q0E=", region: "us-east-1" };
    expect(() => eksKubeconfig({ ...eks, endpoint: "" })).toThrow(/cluster c has no API endpoint yet/);
    expect(() => eksKubeconfig({ ...eks, certificateAuthorityData: "" })).toThrow(/cluster c reported no certificate authority/);
    expect(eksKubeconfig(eks).users[0]!.user.exec.env).toBeUndefined();
    const gke = { name: "g", endpoint: "10.0.0.1", clusterCaCertificate: "Q0E=", project: "p", location: "l" };
    expect(gkeKubeconfig(gke).clusters[0]!.cluster.server).toBe("https://10.0.0.1");
    expect(gkeKubeconfig({ ...gke, endpoint: "https://10.0.0.1" }).clusters[0]!.cluster.server).toBe("https://10.0.0.1");
    expect(() => gkeKubeconfig({ ...gke, endpoint: "" })).toThrow(/no API endpoint/);
    expect(aksKubeconfig("a", [{ name: "clusterUser", value: Buffer.from("apiVersion: v1\n").toString("base64") }])).toBe("apiVersion: v1\n");
    expect(() => aksKubeconfig("a", [])).toThrow(/AKS cluster a returned no kubeconfig: .*az aks get-credentials -n a/);
    expect(() => aksKubeconfig("a", undefined)).toThrow(/returned no kubeconfig/);
  });

  it("kubeconfigs are the ones `aws eks update-kubeconfig` and `gcloud container clusters get-credentials` write", async () => {
    const { eksKubeconfig, gkeKubeconfig } = await import("../../components/kubernetes/kubeconfig.js");
    const frame = (name: string, server: string, exec: object) => ({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name, cluster: { server, "certificate-authority-data": "Q0E=" } }],
      contexts: [{ name, context: { cluster: name, user: name } }],
      "current-context": name,
      users: [{ name, user: { exec } }],
      preferences: {},
    });
    const eks = { name: "c", endpoint: "https://x.eks.amazonaws.com", certificateAuthorityData: "Q0E=", region: "us-east-1", profile: "ml" };
    expect(eksKubeconfig(eks)).toEqual(
      frame("c", "https://x.eks.amazonaws.com", {
        apiVersion: "client.authentication.k8s.io/v1beta1",
        command: "aws",
        args: ["eks", "get-token", "--cluster-name", "c", "--region", "us-east-1", "--output", "json"],
        env: [{ name: "AWS_PROFILE", value: "ml" }],
        installHint: expect.stringMatching(/^Install the AWS CLI v2 .*`aws eks get-token`\.$/),
        interactiveMode: "Never",
      }),
    );
    const gke = { name: "g", endpoint: "10.0.0.1", clusterCaCertificate: "Q0E=", project: "p", location: "l" };
    expect(gkeKubeconfig(gke)).toEqual(
      frame("gke_p_l_g", "https://10.0.0.1", {
        apiVersion: "client.authentication.k8s.io/v1beta1",
        command: "gke-gcloud-auth-plugin",
        args: [],
        installHint: expect.stringMatching(/^Install gke-gcloud-auth-plugin .*`gcloud auth login`\.$/),
        provideClusterInfo: true,
        interactiveMode: "Never",
      }),
    );
  });

  it("composes kaniko-config: one container merged by index, lists appended, the operator's scalars kept, the token always off", async () => {
    const { composeKanikoConfig } = await import("../../components/launch-config.js");
    const user = {
      metadata: { annotations: { a: "1" } },
      spec: { backoffLimit: 2, template: { spec: { automountServiceAccountToken: true, containers: [{ env: [{ name: "A", value: "1" }], resources: { limits: { cpu: "4" } } }], volumes: [{ name: "v", emptyDir: {} }] } } },
    };
    const environment = { spec: { template: { spec: { containers: [{ env: [{ name: "B", value: "2" }] }] } } } };
    const out = composeKanikoConfig({ user, environment, labels: { team: "ml" } });
    expect(out).toEqual({
      metadata: { annotations: { a: "1" }, labels: { team: "ml" } },
      spec: {
        backoffLimit: 2,
        template: {
          metadata: { labels: { team: "ml" } },
          spec: {
            automountServiceAccountToken: false,
            containers: [{ env: [{ name: "A", value: "1" }, { name: "B", value: "2" }], resources: { limits: { cpu: "4" } } }],
            volumes: [{ name: "v", emptyDir: {} }],
          },
        },
      },
    });
    expect(user.spec.template.spec.automountServiceAccountToken).toBe(true);
    expect(composeKanikoConfig({ labels: {} })).toEqual({ spec: { template: { spec: { automountServiceAccountToken: false } } } });
    // Only the environment's container when the operator names none.
    expect(podSpecOf(composeKanikoConfig({ environment }) as Obj).containers).toEqual([{ env: [{ name: "B", value: "2" }] }]);
  });
});

describe("sample stack files", () => {
  // The commented-out optional settings are documentation: uncommented, each must be a real key of that kind
  // with a value the program accepts (placeholders like <auto> aside).
  it.each(["aws", "gcp", "azure", "kubernetes"] as const)("%s: every optional setting shown is accepted when uncommented", async (kind) => {
    const { readFile } = await import("node:fs/promises");
    const text = await readFile(join("stacks", `Pulumi.${kind}.yaml`), "utf8");
    const lines = text.split("\n");
    const shown: string[] = [];
    const uncommented = lines.map((line, i) => {
      const m = /^ {2}# (wandb-launch:[A-Za-z]+):(.*)$/.exec(line);
      if (!m) return line;
      shown.push(m[1]!);
      // A value on the next commented lines (a map or list) is uncommented with it.
      let j = i + 1;
      while (j < lines.length && /^ {2}# {3}\S/.test(lines[j]!)) lines[j] = lines[j]!.replace(/^ {2}# /, "  "), j++;
      const value = m[2]!.replace(/\s+#.*$/, "").trim();
      return value.startsWith("<") ? "" : `  ${m[1]}:${m[2]!.replace(/\s+#.*$/, "")}`;
    });
    expect(shown.length).toBeGreaterThan(2);
    const config = (parse(uncommented.join("\n")) as { config: Record<string, unknown> }).config;
    const flat = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
    if (flat[`${NS}:apiKey`] === undefined) flat[`${NS}:apiKey`] = "k-123456";
    expect(() => parseStackConfig(flat)).not.toThrow();
  });
});
