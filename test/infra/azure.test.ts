import * as pulumi from "@pulumi/pulumi";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { validateAgentConfig } from "../../agent/config/index.js";
import {
  AzureArgumentError,
  AzureLaunchEnvironment,
  BUILT_IN_ROLES,
  contextLifecyclePolicy,
  roleDefinitionId,
  serviceAccountSubject,
  type AzureLaunchEnvironmentArgs,
} from "../../components/azure/index.js";
import { defaultGlobalName, isContainerName } from "../../components/azure/policy.js";
import { installAzureMocks } from "./azure-mocks.js";
import { DEFAULT_MOCK_CLOUD, isSecretOutput, promiseOf, settle, type MockRecorder, type RecordedResource } from "./mocks.js";

let mocks: MockRecorder;

beforeAll(async () => {
  mocks = await installAzureMocks();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const SUB = DEFAULT_MOCK_CLOUD.azureSubscriptionId;
const RG = "ml-launch";
const ISSUER = "https://eastus.oic.prod-aks.azure.com/00000000-0000-4000-8000-000000000002/11111111-2222-4333-8444-555555555555/";

// The agent's ACR and Azure Blob patterns (reference wandb-launch-agent.md §4.1), a second guard next to
// validateAgentConfig.
const ACR_URI = /^(?:https:\/\/)?([\w]+)\.azurecr\.io\/(?<repository>[\w-]+):?(?<tag>.*)/;
const BLOB_URI = /^https:\/\/([^.]+)\.blob\.core\.windows\.net\/([^/]+)\/?(.*)$/;

const BASE: AzureLaunchEnvironmentArgs = {
  resourceGroupName: RG,
  location: "eastus",
  oidcIssuerUrl: ISSUER,
  namespace: "wandb",
  serviceAccountName: "wandb-launch-agent",
};

const T = {
  registry: "azure-native:containerregistry:Registry",
  account: "azure-native:storage:StorageAccount",
  container: "azure-native:storage:BlobContainer",
  policy: "azure-native:storage:ManagementPolicy",
  identity: "azure-native:managedidentity:UserAssignedIdentity",
  role: "azure-native:authorization:RoleAssignment",
  fic: "azure-native:managedidentity:FederatedIdentityCredential",
};

interface Resolved {
  environmentType: string | undefined;
  region: string | null;
  destination: string;
  buildContextStore: string;
  serviceAccountAnnotations: Record<string, string>;
  podLabels: Record<string, string>;
  identity: string;
}

async function build(name: string, extra: Partial<AzureLaunchEnvironmentArgs> = {}) {
  const env = new AzureLaunchEnvironment(name, { ...BASE, ...extra });
  const o = env.outputs;
  const [region, destination, buildContextStore, serviceAccountAnnotations, podLabels, identity] = await Promise.all([
    promiseOf(o.region),
    promiseOf(o.destination),
    promiseOf(o.buildContextStore),
    promiseOf(o.serviceAccountAnnotations),
    promiseOf(o.podLabels),
    promiseOf(o.identity),
  ]);
  if (env.storageAccessKey) await promiseOf(env.storageAccessKey);
  await settle();
  const outputs: Resolved = { environmentType: o.environmentType, region, destination, buildContextStore, serviceAccountAnnotations, podLabels, identity };
  const children = mocks.resources.filter((r) => r.custom && r.name.startsWith(`${name}-`));
  const all = (type: string): RecordedResource[] => children.filter((r) => r.type === type);
  const one = (type: string): RecordedResource => {
    const found = all(type);
    expect(found, `exactly one ${type}`).toHaveLength(1);
    return found[0]!;
  };
  return { env, outputs, children, all, one };
}

describe("AzureLaunchEnvironment resources", () => {
  it("creates exactly the registry, storage account, container, lifecycle policy, identity, two role assignments and one federated credential, all children of the component", async () => {
    const { env, children } = await build("set");
    expect(children.map((r) => r.type).sort()).toEqual([...Object.values(T), T.role].sort());
    expect(mocks.resources.filter((r) => !r.custom && r.name === "set").map((r) => r.type)).toEqual([
      "wandb-launch:azure:LaunchEnvironment",
    ]);
    const urns = await Promise.all(
      [env.registry, env.storageAccount, env.container, env.lifecyclePolicy, env.identity, env.acrPush, env.blobContributor, env.federatedCredential].map(
        (r) => promiseOf(r.urn),
      ),
    );
    for (const urn of urns) expect(urn).toContain("::wandb-launch:azure:LaunchEnvironment$");
    expect(children.map((r) => r.name).sort()).toEqual(
      ["set-registry", "set-storage", "set-contexts", "set-lifecycle", "set-agent", "set-acr-push", "set-blob-contributor", "set-aks"].sort(),
    );
  });

  it("registers its outputs and its main resources as the component's outputs, and no secret (the storage key stays out)", async () => {
    const { outputs, one } = await build("outs");
    const component = mocks.resources.find((r) => r.type === "wandb-launch:azure:LaunchEnvironment" && r.name === "outs")!;
    const stored = component.outputs!;
    expect(Object.keys(stored).sort()).toEqual(["container", "identity", "outputs", "registry", "storageAccount"]);
    expect(stored).toMatchObject({ registry: one(T.registry).urn, storageAccount: one(T.account).urn, container: one(T.container).urn, identity: one(T.identity).urn });
    expect(stored.outputs).toMatchObject(outputs);
    expect(component.outputSecretPaths).toEqual([]);
  });

  it("creates a Basic registry with the admin user off and no retention by default", async () => {
    const { one } = await build("acr");
    const reg = one(T.registry).inputs;
    expect(reg.adminUserEnabled).toBe(false);
    expect(reg.sku).toEqual({ name: "Basic" });
    expect(reg.resourceGroupName).toBe(RG);
    expect(reg.policies).toBeUndefined();
  });

  it("purges untagged manifests by age on a Premium registry, and refuses retention on Basic", async () => {
    const { one } = await build("acrp", { registrySku: "Premium", untaggedImageExpirationDays: 14 });
    expect(one(T.registry).inputs.policies).toEqual({ retentionPolicy: { days: 14, status: "enabled" } });
    expect(() => new AzureLaunchEnvironment("acrb", { ...BASE, untaggedImageExpirationDays: 7 })).toThrow(
      /untaggedImageExpirationDays = 7 is invalid\. ACR retention policies need registrySku "Premium" \(got "Basic"\)/,
    );
  });

  it("locks the storage account down and keeps the container private", async () => {
    const { one } = await build("st");
    const acct = one(T.account).inputs;
    expect(acct.allowBlobPublicAccess).toBe(false);
    expect(acct.minimumTlsVersion).toBe("TLS1_2");
    expect(acct.enableHttpsTrafficOnly).toBe(true);
    expect(acct.allowCrossTenantReplication).toBe(false);
    expect(acct.kind).toBe("StorageV2");
    // Kept on by default: kaniko reads Azure build contexts with the account key.
    expect(acct.allowSharedKeyAccess).toBe(true);
    const container = one(T.container).inputs;
    expect(container.publicAccess).toBe("None");
    expect(container.accountName).toBe(one(T.account).state.name);
    expect(container.containerName).toBe("build-contexts");
  });

  it("deletes block blobs in the context container only, 7 days after their last write", async () => {
    const { one } = await build("lc");
    const policy = one(T.policy).inputs;
    expect(policy.accountName).toBe(one(T.account).state.name);
    expect(policy.managementPolicyName).toBe("default");
    expect(policy.policy).toEqual({
      rules: [
        {
          name: "delete-build-contexts",
          enabled: true,
          type: "Lifecycle",
          definition: {
            actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 7 } } },
            filters: { blobTypes: ["blockBlob"], prefixMatch: ["build-contexts/"] },
          },
        },
      ],
    });
  });

  it("honours containerName and contextExpirationDays in the container and the policy", async () => {
    const { one, outputs } = await build("lc2", { containerName: "ctx", contextExpirationDays: 2 });
    const rule = (one(T.policy).inputs.policy as { rules: Array<{ definition: unknown }> }).rules[0]!;
    expect(rule.definition).toEqual({
      actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: 2 } } },
      filters: { blobTypes: ["blockBlob"], prefixMatch: ["ctx/"] },
    });
    expect(outputs.buildContextStore).toMatch(/\/ctx$/);
  });
});

describe("AzureLaunchEnvironment role assignments", () => {
  it("grants AcrPush on the registry and Storage Blob Data Contributor on the container, to the managed identity", async () => {
    const { all, one } = await build("rbac");
    const identity = one(T.identity);
    const registry = one(T.registry);
    const container = one(T.container);
    const byRole = new Map(all(T.role).map((r) => [String(r.inputs.roleDefinitionId), r.inputs]));
    expect([...byRole.keys()].sort()).toEqual(
      [
        `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/8311e382-0749-4cb8-b61a-304f252e45ec`,
        `/subscriptions/${SUB}/providers/Microsoft.Authorization/roleDefinitions/ba92f5b4-2d11-453d-a403-e96b0029c9fe`,
      ].sort(),
    );
    const acrPush = byRole.get(roleDefinitionId(SUB, BUILT_IN_ROLES.AcrPush))!;
    const blob = byRole.get(roleDefinitionId(SUB, BUILT_IN_ROLES.StorageBlobDataContributor))!;
    expect(acrPush.scope).toBe(registry.id);
    expect(blob.scope).toBe(container.id);
    expect(blob.scope).toMatch(/\/providers\/Microsoft\.Storage\/storageAccounts\/[a-z0-9]+\/blobServices\/default\/containers\/build-contexts$/);
    for (const ra of [acrPush, blob]) {
      expect(ra.principalId).toBe(identity.state.principalId);
      expect(ra.principalType).toBe("ServicePrincipal");
      expect(ra.condition).toBeUndefined();
    }
  });

  it("grants AcrPull on the registry to the cluster's kubelet identity when given, and only then", async () => {
    const kubelet = "9b2c4d6e-1f3a-4b5c-8d7e-0a1b2c3d4e5f";
    const { all, one, outputs } = await build("pull", { kubeletPrincipalId: kubelet });
    const pulls = all(T.role).filter((r) => r.inputs.roleDefinitionId === roleDefinitionId(SUB, BUILT_IN_ROLES.AcrPull));
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.name).toBe("pull-kubelet-acr-pull");
    expect(pulls[0]!.inputs).toMatchObject({ scope: one(T.registry).id, principalId: kubelet, principalType: "ServicePrincipal" });
    // The kubelet gets nothing else, and the agent's identity is not the one pulling.
    expect(all(T.role).filter((r) => r.inputs.principalId === kubelet)).toHaveLength(1);
    expect(outputs.identity).toBe(one(T.identity).state.clientId);
    expect(BUILT_IN_ROLES.AcrPull).toBe("7f951dda-4ed3-4680-a7ca-43fe172d538d");
    const none = await build("nopull");
    expect(none.all(T.role).some((r) => String(r.inputs.roleDefinitionId).endsWith(BUILT_IN_ROLES.AcrPull))).toBe(false);
  });

  it("grants nothing at subscription, resource-group or storage-account scope", async () => {
    const { all, one } = await build("scope");
    const account = one(T.account);
    const rgId = `/subscriptions/${SUB}/resourceGroups/${RG}`;
    const assignments = mocks.resources.filter((r) => r.type.startsWith("azure-native:authorization:"));
    // Only role assignments: no custom role definitions, no policy or lock resources.
    expect(new Set(assignments.map((r) => r.type))).toEqual(new Set([T.role]));
    const scopes = all(T.role).map((r) => String(r.inputs.scope));
    expect(scopes).toHaveLength(2);
    for (const scope of scopes) {
      expect(scope).not.toBe(`/subscriptions/${SUB}`);
      expect(scope).not.toBe(rgId);
      expect(scope).not.toBe(account.id);
      // Strictly inside one named resource of this resource group.
      expect(scope.startsWith(`${rgId}/providers/`)).toBe(true);
      expect(scope.split("/").length).toBeGreaterThanOrEqual(9);
    }
  });

  it("federates exactly the agent's KSA from the AKS issuer with the token-exchange audience", async () => {
    const { one } = await build("fic", { namespace: "wandb", serviceAccountName: "agent-sa" });
    const fic = one(T.fic).inputs;
    expect(fic.issuer).toBe(ISSUER);
    expect(fic.subject).toBe("system:serviceaccount:wandb:agent-sa");
    expect(fic.audiences).toEqual(["api://AzureADTokenExchange"]);
    expect(fic.resourceName).toBe(one(T.identity).state.name);
    expect(fic.resourceGroupName).toBe(RG);
  });
});

describe("AzureLaunchEnvironment outputs", () => {
  it("exposes destination, context store, annotation, pod label, client id and a null region", async () => {
    const { outputs, one } = await build("out", { registryName: "acmelaunch", storageAccountName: "acmelaunchctx" });
    const clientId = String(one(T.identity).state.clientId);
    expect(outputs.environmentType).toBe("azure");
    expect(outputs.region).toBeNull();
    expect(outputs.destination).toBe("acmelaunch.azurecr.io/launch");
    expect(outputs.buildContextStore).toBe("https://acmelaunchctx.blob.core.windows.net/build-contexts");
    expect(outputs.serviceAccountAnnotations).toEqual({ "azure.workload.identity/client-id": clientId });
    expect(outputs.podLabels).toEqual({ "azure.workload.identity/use": "true" });
    expect(outputs.identity).toBe(clientId);
  });

  it("produces a kaniko config the agent accepts without warnings", async () => {
    const { outputs } = await build("cfg");
    const acr = ACR_URI.exec(outputs.destination);
    expect(acr?.groups?.repository).toBe("launch");
    expect(acr?.groups?.tag).toBe("");
    expect(BLOB_URI.exec(outputs.buildContextStore)?.[2]).toBe("build-contexts");
    const result = validateAgentConfig({
      queues: ["default"],
      builder: { type: "kaniko", destination: outputs.destination, "build-context-store": outputs.buildContextStore },
      environment: { type: outputs.environmentType, region: outputs.region },
    });
    expect(result).toEqual({ valid: true, errors: [], warnings: [] });
    // The validator is the real one: a destination with a tag, or a missing region key, is rejected.
    const tagged = validateAgentConfig({
      queues: ["default"],
      builder: { type: "kaniko", destination: `${outputs.destination}:v1`, "build-context-store": outputs.buildContextStore },
      environment: { type: "azure", region: null },
    });
    expect(tagged.valid).toBe(false);
    expect(tagged.errors.map((e) => e.path)).toContain("builder.destination");
    const noRegion = validateAgentConfig({
      queues: ["default"],
      builder: { type: "kaniko", destination: outputs.destination, "build-context-store": outputs.buildContextStore },
      environment: { type: "azure" },
    });
    expect(noRegion.valid).toBe(false);
  });

  it("exposes the storage key for kaniko only as a secret, never in the non-secret outputs", async () => {
    const { env, outputs } = await build("key");
    expect(env.storageAccessKey).toBeDefined();
    expect(await isSecretOutput(env.storageAccessKey!)).toBe(true);
    const key = await promiseOf(env.storageAccessKey!);
    expect(key.length).toBeGreaterThan(20);
    expect(JSON.stringify(outputs)).not.toContain(key);
    expect(env.storageAccessKeySecret).toEqual({ name: "azure-storage-access-key", key: "password", namespace: "wandb" });
    for (const o of Object.values(env.outputs)) {
      if (pulumi.Output.isInstance(o)) expect(await isSecretOutput(o)).toBe(false);
    }
  });

  it("turns shared-key access off and lists no keys when kaniko's account key is not wanted", async () => {
    const before = mocks.calls.filter((c) => c.token === "azure-native:storage:listStorageAccountKeys").length;
    const { env, one } = await build("nokey", { kanikoStorageAccessKey: false });
    expect(env.storageAccessKey).toBeUndefined();
    expect(one(T.account).inputs.allowSharedKeyAccess).toBe(false);
    expect(mocks.calls.filter((c) => c.token === "azure-native:storage:listStorageAccountKeys")).toHaveLength(before);
  });
});

describe("AzureLaunchEnvironment arguments", () => {
  it("derives valid registry and storage account names, unique per subscription and resource group, stable across runs", async () => {
    const names = async (component: string, resourceGroupName: string) => {
      const r = await build(component, { resourceGroupName });
      return [String(r.one(T.registry).inputs.registryName), String(r.one(T.account).inputs.accountName)] as const;
    };
    const [regA, acctA] = await names("names", RG);
    expect(regA).toMatch(/^[a-z0-9]{5,50}$/);
    expect(acctA).toMatch(/^[a-z0-9]{3,24}$/);
    const scope = { subscriptionId: SUB, resourceGroup: RG, project: "wandb-launch", stack: "test", component: "names" };
    expect(defaultGlobalName(scope, "acr", 50)).toBe(regA);
    expect(defaultGlobalName(scope, "ctx", 24)).toBe(acctA);
    // The same component in another resource group of the subscription asks for other names ...
    mocks.clear();
    const [regB, acctB] = await names("names", "other-rg");
    expect(regB).not.toBe(regA);
    expect(acctB).not.toBe(acctA);
    // ... and the same stack gets the same names on the next `up` (resource-group names are case-insensitive).
    mocks.clear();
    expect(await names("names", RG.toUpperCase())).toEqual([regA, acctA]);
    // Another subscription following the same sample gets other names too.
    expect(defaultGlobalName({ ...scope, subscriptionId: "00000000-0000-4000-8000-000000000009" }, "acr", 50)).not.toBe(regA);
    expect(defaultGlobalName({ ...scope, component: "a-very-long-component-name-for-storage" }, "ctx", 24)).toHaveLength(24);
  });

  it("does not tie the agent to namespace wandb: our agent reads the storage-key Secret from its own namespace", async () => {
    const warn = vi.spyOn(pulumi.log, "warn");
    const { one } = await build("ns", { namespace: "launch" });
    expect(warn).not.toHaveBeenCalled();
    expect(one(T.fic).inputs.subject).toBe("system:serviceaccount:launch:wandb-launch-agent");
  });

  it("names the field, the value and the fix for bad input", () => {
    expect(() => new AzureLaunchEnvironment("bad1", { ...BASE, oidcIssuerUrl: "http://issuer" })).toThrow(
      /oidcIssuerUrl = "http:\/\/issuer" is invalid\. Use the cluster's https issuer/,
    );
    expect(() => new AzureLaunchEnvironment("bad2", { ...BASE, registryName: "my-registry" })).toThrow(/registryName = "my-registry"/);
    expect(() => new AzureLaunchEnvironment("bad3", { ...BASE, storageAccountName: "Bad_Name" })).toThrow(/storageAccountName/);
    expect(() => new AzureLaunchEnvironment("bad4", { ...BASE, repositoryName: "team/jobs" })).toThrow(/repositoryName = "team\/jobs".*nested ACR/);
    expect(() => new AzureLaunchEnvironment("bad5", { ...BASE, contextExpirationDays: 0 })).toThrow(AzureArgumentError);
    expect(() => new AzureLaunchEnvironment("bad6", { ...BASE, serviceAccountName: "Agent" })).toThrow(/serviceAccountName = "Agent"/);
  });
});

describe("Azure policy documents", () => {
  it("builds role definition ids, subjects and the lifecycle policy", () => {
    expect(roleDefinitionId("s", "g")).toBe("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/g");
    expect(serviceAccountSubject("ns", "sa")).toBe("system:serviceaccount:ns:sa");
    expect(contextLifecyclePolicy("c", 5).rules[0]!.definition.filters.prefixMatch).toEqual(["c/"]);
  });

  it("applies Azure's container naming rules", () => {
    expect(isContainerName("build-contexts")).toBe(true);
    expect(isContainerName("ab")).toBe(false);
    expect(isContainerName("a--b")).toBe(false);
    expect(isContainerName("-ab")).toBe(false);
    expect(isContainerName("Abc")).toBe(false);
  });
});
