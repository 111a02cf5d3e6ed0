// The name and value rules the environments check at preview, each against names the real service accepts and
// names it refuses (boundaries included), so a rule that is too loose or too strict fails here.
import { describe, expect, it } from "vitest";
import * as azure from "../../components/azure/policy.js";
import * as gcp from "../../components/gcp/policy.js";
import { isK8sNamespace, isK8sServiceAccountName } from "../../components/kubernetes/names.js";

const cases = (accept: (v: string) => boolean, good: string[], bad: string[]) => {
  for (const v of good) expect(accept(v), `accepts ${JSON.stringify(v)}`).toBe(true);
  for (const v of bad) expect(accept(v), `refuses ${JSON.stringify(v)}`).toBe(false);
};

describe("Kubernetes names (DNS-1123)", () => {
  it("namespaces: labels of at most 63, alphanumeric at both ends", () => {
    cases(isK8sNamespace, ["a", "wandb", "ml-runs", "9", `a${"b".repeat(61)}c`], ["", "-a", "a-", "Wandb", "a.b", "a_b", `a${"b".repeat(62)}c`, "ml runs"]);
  });
  it("ServiceAccounts: dot-separated labels, at most 253 in all", () => {
    const long = Array.from({ length: 4 }, () => "a".repeat(62)).join("."); // 251
    cases(isK8sServiceAccountName, ["a", "wandb-launch-agent", "a.b-c.d", long, `${long}.b`], ["", "-a", "a-", "a..b", ".a", "a.", "A", "a_b", `${long}.bc`, "a.-b", "a.b-"]);
  });
  it("the GCP and Azure environments use these same rules", () => {
    expect(gcp.isK8sNamespace).toBe(isK8sNamespace);
    expect(azure.isK8sServiceAccountName).toBe(isK8sServiceAccountName);
  });
});

describe("GCP rules", () => {
  it("Artifact Registry segments and object prefixes as the agent's patterns read them", () => {
    cases(gcp.isGarSegment, ["launch", "launch-job", "a_b", "A1"], ["", "a/b", "a.b", " a", "a "]);
    cases(gcp.isObjectPrefix, ["", "build-contexts", "a/b.c/d_e-f"], ["/a", "a/", "a//b", "a b", "a/b c", "ü"]);
  });
  it("days are whole numbers of at least 1, named with the component and field", () => {
    expect(gcp.checkDays("env", "contextExpirationDays", 1)).toBe(1);
    for (const bad of [0, -1, 1.5, "7", undefined]) {
      expect(() => gcp.checkDays("env", "contextExpirationDays", bad), String(bad)).toThrow(
        new RegExp(`^GcpLaunchEnvironment "env": contextExpirationDays = ${JSON.stringify(bad) ?? "undefined"} is invalid\\. Use a whole number of days, 1 or more\\.$`.replace(/[[\]]/g, "\\$&")),
      );
    }
    try {
      gcp.checkDays("env", "x", 0);
    } catch (e) {
      expect((e as Error).name).toBe("GcpArgumentError");
    }
  });
  it("ids: custom roles pad to 3 and cut at 64, repositories start with a letter, lose trailing hyphens and cut at 63", () => {
    expect(gcp.customRoleId("a", "")).toBe("a__");
    expect(gcp.customRoleId("", "")).toBe("___");
    expect(gcp.customRoleId("my-env", "ctx")).toBe("my_env_ctx");
    expect(gcp.customRoleId("x".repeat(70), "y")).toBe("x".repeat(64));
    expect(gcp.repositoryIdFrom("Launch__Env--1")).toBe("launch-env-1");
    expect(gcp.repositoryIdFrom("9lives")).toBe("r-9lives");
    expect(gcp.repositoryIdFrom("env-")).toBe("env");
    expect(gcp.repositoryIdFrom(`${"a".repeat(62)}-b`)).toBe("a".repeat(62));
    const scope = { project: "wandb-launch", stack: "prod", component: `${"c".repeat(70)}-` };
    expect(gcp.defaultRepositoryId(scope)).toMatch(/^c{56}-[0-9a-f]{6}$/);
    expect(gcp.defaultContextStoreRoleId({ ...scope, component: "env_" , stack: "_" })).toMatch(/^env_launchContextStore_[0-9a-f]{6}$/);
  });
  it("node service accounts: every pool, the default config and auto-provisioning, `default` as the compute account", () => {
    const cluster = {
      nodePools: [{ nodeConfigs: [{ serviceAccount: "pool@p.iam.gserviceaccount.com" }] }, { nodeConfigs: [{ serviceAccount: "default" }] }],
      nodeConfigs: [{ serviceAccount: "" }],
      clusterAutoscalings: [{ autoProvisioningDefaults: [{ serviceAccount: "nap@p.iam.gserviceaccount.com" }] }],
    } as unknown as gcp.ClusterNodeIdentities;
    expect(gcp.nodeServiceAccounts(cluster, "123")).toEqual(["123-compute@developer.gserviceaccount.com", "nap@p.iam.gserviceaccount.com", "pool@p.iam.gserviceaccount.com"]);
    expect(gcp.nodeServiceAccounts({} as gcp.ClusterNodeIdentities, "123")).toEqual([]);
    expect(gcp.nodeServiceAccounts({ nodePools: [{}], clusterAutoscalings: [{}] } as unknown as gcp.ClusterNodeIdentities, "1")).toEqual([]);
  });
});

describe("Azure rules", () => {
  it("registry, storage account and container names as Azure enforces them", () => {
    cases(azure.isRegistryName, ["abcde", "Launch01", "a".repeat(50)], ["abcd", "a".repeat(51), "launch-acr", "launch_acr", " abcde"]);
    cases(azure.isStorageAccountName, ["abc", "a".repeat(24), "launch01"], ["ab", "a".repeat(25), "Launch", "launch-ctx", "abc "]);
    cases(azure.isContainerName, ["abc", "build-contexts", "a".repeat(63)], ["ab", "a".repeat(64), "-abc", "abc-", "a--b", "Abc", "a_b"]);
  });
  it("issuers are https URLs with a host", () => {
    cases(azure.isIssuerUrl, ["https://eastus.oic.prod-aks.azure.com/t/g/"], ["http://eastus.oic.prod-aks.azure.com/t/g/", "not a url", "", "file:///x"]);
  });
  it("days are whole numbers within the bounds, named with the component and field", () => {
    expect(azure.checkDays("env", "d", 1)).toBe(1);
    expect(azure.checkDays("env", "d", 36_500)).toBe(36_500);
    expect(azure.checkDays("env", "d", 5, 5, 5)).toBe(5);
    for (const [bad, min, max] of [[0, 1, 10], [11, 1, 10], [1.5, 1, 10], ["3", 1, 10], [4, 5, 9], [10, 5, 9]] as Array<[unknown, number, number]>) {
      expect(() => azure.checkDays("env", "d", bad, min, max), String(bad)).toThrow(`Use a whole number of days from ${min} to ${max}.`);
    }
    expect(() => azure.checkDays("env", "d", 36_501)).toThrow(azure.AzureArgumentError);
    try {
      azure.checkDays("env", "d", 0);
    } catch (e) {
      expect((e as Error).name).toBe("AzureArgumentError");
    }
  });
  it("default global names: the component's lowercase alphanumerics (starting with a letter) plus a 10-character hash", () => {
    const scope = { subscriptionId: "sub", resourceGroup: "ML-Launch", project: "p", stack: "s", component: "9-Launch_Env" };
    const name = azure.defaultGlobalName(scope, "registry", 24);
    expect(name).toMatch(/^wl9launchenv[0-9a-f]{10}$/);
    // The resource group's case does not change the name (Azure compares group names case-insensitively).
    expect(azure.defaultGlobalName({ ...scope, resourceGroup: "ml-launch" }, "registry", 24)).toBe(name);
    expect(azure.defaultGlobalName({ ...scope, resourceGroup: "other" }, "registry", 24)).not.toBe(name);
    expect(azure.defaultGlobalName(scope, "storage", 24)).not.toBe(name);
    expect(azure.defaultGlobalName({ ...scope, component: "launch" }, "registry", 12)).toMatch(/^la[0-9a-f]{10}$/);
  });
});
