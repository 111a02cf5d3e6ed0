// Strictness for the azure-native types AzureLaunchEnvironment creates, layered on the shared recorder
// (test/infra/mocks.ts): each stub first rejects what ARM would reject (bad names, retention on a
// non-Premium registry, a lifecycle prefix that names no container, malformed role assignments), then
// returns the shared provider state. Also answers listStorageAccountKeys, which the shared stubs lack.
import { createHash } from "node:crypto";
import {
  installMocks,
  RESOURCE_STUBS,
  type InstallMocksOptions,
  type MockRecorder,
} from "./mocks.js";

type Inputs = Record<string, unknown>;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function str(type: string, name: string, inputs: Inputs, key: string): string {
  const v = inputs[key];
  if (typeof v !== "string" || v === "") {
    throw new Error(`${type} ${name}: required input "${key}" must be a non-empty string, got ${JSON.stringify(v)}`);
  }
  return v;
}

function obj(v: unknown): Inputs {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Inputs) : {};
}

function checks(mocks: MockRecorder): Record<string, (name: string, i: Inputs) => void> {
  return {
    "azure-native:containerregistry:Registry": (name, i) => {
      const t = "azure-native:containerregistry:Registry";
      str(t, name, i, "resourceGroupName");
      const reg = str(t, name, i, "registryName");
      if (!/^[a-zA-Z0-9]{5,50}$/.test(reg)) throw new Error(`${t} ${name}: registryName ${reg} must be 5-50 alphanumerics`);
      const sku = String(obj(i.sku).name);
      if (!["Basic", "Standard", "Premium"].includes(sku)) throw new Error(`${t} ${name}: invalid sku ${sku}`);
      const retention = obj(obj(i.policies).retentionPolicy);
      if (retention.status === "enabled" && sku !== "Premium") {
        throw new Error(`${t} ${name}: retention policy is only supported on Premium registries`);
      }
    },
    "azure-native:storage:StorageAccount": (name, i) => {
      const t = "azure-native:storage:StorageAccount";
      str(t, name, i, "resourceGroupName");
      const acct = str(t, name, i, "accountName");
      if (!/^[a-z0-9]{3,24}$/.test(acct)) throw new Error(`${t} ${name}: accountName ${acct} must be 3-24 lowercase alphanumerics`);
      if (!["Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage"].includes(str(t, name, i, "kind"))) {
        throw new Error(`${t} ${name}: invalid kind`);
      }
      if (!/^(Standard|Premium)_(LRS|GRS|RAGRS|ZRS|GZRS|RAGZRS)$/.test(String(obj(i.sku).name))) throw new Error(`${t} ${name}: invalid sku`);
      if (i.minimumTlsVersion !== undefined && !["TLS1_0", "TLS1_1", "TLS1_2", "TLS1_3"].includes(String(i.minimumTlsVersion))) {
        throw new Error(`${t} ${name}: invalid minimumTlsVersion`);
      }
    },
    "azure-native:storage:BlobContainer": (name, i) => {
      const t = "azure-native:storage:BlobContainer";
      str(t, name, i, "resourceGroupName");
      str(t, name, i, "accountName");
      const c = str(t, name, i, "containerName");
      if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(c)) throw new Error(`${t} ${name}: invalid containerName ${c}`);
      if (i.publicAccess !== undefined && !["None", "Blob", "Container"].includes(String(i.publicAccess))) throw new Error(`${t} ${name}: invalid publicAccess`);
    },
    "azure-native:storage:ManagementPolicy": (name, i) => {
      const t = "azure-native:storage:ManagementPolicy";
      str(t, name, i, "resourceGroupName");
      const account = str(t, name, i, "accountName");
      if (i.managementPolicyName !== "default") throw new Error(`${t} ${name}: managementPolicyName must be "default"`);
      const rules = obj(i.policy).rules;
      if (!Array.isArray(rules) || rules.length === 0) throw new Error(`${t} ${name}: policy.rules must be a non-empty list`);
      const containers = mocks
        .byType("azure-native:storage:BlobContainer")
        .filter((r) => r.inputs.accountName === account)
        .map((r) => String(r.state.name));
      for (const rule of rules as Inputs[]) {
        if (!/^[a-zA-Z0-9-]{1,256}$/.test(String(rule.name))) throw new Error(`${t} ${name}: invalid rule name`);
        if (rule.type !== "Lifecycle") throw new Error(`${t} ${name}: rule type must be Lifecycle`);
        const def = obj(rule.definition);
        const filters = obj(def.filters);
        if (!Array.isArray(filters.blobTypes) || filters.blobTypes.length === 0) throw new Error(`${t} ${name}: filters.blobTypes is required`);
        for (const p of (filters.prefixMatch as string[] | undefined) ?? []) {
          if (!containers.includes(p.split("/")[0]!)) throw new Error(`${t} ${name}: prefixMatch ${p} names no container of account ${account}`);
        }
        const del = obj(obj(obj(def.actions).baseBlob).delete);
        const days = del.daysAfterModificationGreaterThan;
        if (days !== undefined && (typeof days !== "number" || days < 0 || days > 99_999)) throw new Error(`${t} ${name}: invalid day count`);
      }
    },
    "azure-native:managedidentity:UserAssignedIdentity": (name, i) => {
      str("azure-native:managedidentity:UserAssignedIdentity", name, i, "resourceGroupName");
    },
    "azure-native:managedidentity:FederatedIdentityCredential": (name, i) => {
      const t = "azure-native:managedidentity:FederatedIdentityCredential";
      str(t, name, i, "resourceGroupName");
      str(t, name, i, "resourceName");
      str(t, name, i, "subject");
      if (!str(t, name, i, "issuer").startsWith("https://")) throw new Error(`${t} ${name}: issuer must be an https URL`);
      if (!Array.isArray(i.audiences) || i.audiences.length !== 1) throw new Error(`${t} ${name}: audiences must hold exactly one value`);
    },
    "azure-native:authorization:RoleAssignment": (name, i) => {
      const t = "azure-native:authorization:RoleAssignment";
      const role = str(t, name, i, "roleDefinitionId");
      if (!/^\/subscriptions\/[0-9a-f-]{36}\/providers\/Microsoft\.Authorization\/roleDefinitions\/[0-9a-f-]{36}$/i.test(role)) {
        throw new Error(`${t} ${name}: roleDefinitionId ${role} is not a role definition resource id`);
      }
      if (!str(t, name, i, "scope").startsWith("/")) throw new Error(`${t} ${name}: scope must be a resource id`);
      if (!GUID.test(str(t, name, i, "principalId"))) throw new Error(`${t} ${name}: principalId must be an object id GUID`);
      if (i.principalType !== undefined && !["User", "Group", "ServicePrincipal", "ForeignGroup", "Device"].includes(String(i.principalType))) {
        throw new Error(`${t} ${name}: invalid principalType`);
      }
    },
  };
}

/** The shared recorder with strict stubs for every type AzureLaunchEnvironment creates. */
export async function installAzureMocks(opts: InstallMocksOptions = {}): Promise<MockRecorder> {
  const mocks = await installMocks(opts);
  for (const [type, check] of Object.entries(checks(mocks))) {
    const base = RESOURCE_STUBS[type];
    if (!base) throw new Error(`azure-mocks: no provider state for ${type}`);
    mocks.stubResource(type, (name, inputs, cloud) => {
      check(name, inputs);
      return base(name, inputs, cloud);
    });
  }
  mocks.stubCall("azure-native:storage:listStorageAccountKeys", (i) => {
    const account = String(i.accountName);
    if (!mocks.byType("azure-native:storage:StorageAccount").some((r) => r.state.name === account && r.inputs.resourceGroupName === i.resourceGroupName)) {
      throw Object.assign(new Error(`StorageAccountNotFound: ${account}`), { details: `StorageAccountNotFound: ${account}` });
    }
    const key = (n: string): string => createHash("sha256").update(`${account}/${n}`).digest("base64");
    return {
      keys: [
        { keyName: "key1", value: key("key1"), permissions: "FULL", creationTime: "2026-01-01T00:00:00Z" },
        { keyName: "key2", value: key("key2"), permissions: "FULL", creationTime: "2026-01-01T00:00:00Z" },
      ],
    };
  });
  return mocks;
}
