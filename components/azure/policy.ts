// Pure documents for the Azure launch environment: built-in role ids, role-definition ids, the
// lifecycle management policy, the federated credential subject, names and URIs. No Pulumi resources
// here, so every rule can be tested directly.
import { createHash } from "node:crypto";

/**
 * Built-in role definition GUIDs (identical in every tenant). AcrPush is what the seed asks for (push and
 * pull, no registry management); Storage Blob Data Contributor is read/write/delete of blob data, without
 * the ACL rights of Blob Data Owner that W&B's own Terraform module grants.
 */
export const BUILT_IN_ROLES = {
  AcrPush: "8311e382-0749-4cb8-b61a-304f252e45ec",
  /** Pull only: what the AKS kubelet identity needs to start run pods (and the agent) from this registry. */
  AcrPull: "7f951dda-4ed3-4680-a7ca-43fe172d538d",
  StorageBlobDataContributor: "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
} as const;

/** The audience AKS-issued service-account tokens carry for Entra workload identity federation. */
export const WORKLOAD_IDENTITY_AUDIENCE = "api://AzureADTokenExchange";

/** KSA annotation and pod label the Azure workload-identity webhook reads. */
export const AZURE_CLIENT_ID_ANNOTATION = "azure.workload.identity/client-id";
export const AZURE_USE_LABEL = "azure.workload.identity/use";

/**
 * Kaniko on Azure: build contexts are read with a storage-account KEY taken from Secret
 * `azure-storage-access-key` (key `password`), not through workload identity. Our agent looks the Secret up
 * in its own namespace; the official agent only in namespace `wandb` (the `namespace` below).
 */
export const KANIKO_STORAGE_KEY_SECRET = { name: "azure-storage-access-key", key: "password", namespace: "wandb" } as const;

/** An Azure input error that names the argument, the bad value and the fix. */
export class AzureArgumentError extends Error {
  constructor(component: string, field: string, value: unknown, fix: string) {
    super(`AzureLaunchEnvironment "${component}": ${field} = ${JSON.stringify(value)} is invalid. ${fix}`);
    this.name = "AzureArgumentError";
  }
}

/** Require a whole number of days within [min, max]. */
export function checkDays(component: string, field: string, value: unknown, min = 1, max = 36_500): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new AzureArgumentError(component, field, value, `Use a whole number of days from ${min} to ${max}.`);
  }
  return value;
}

/** `/subscriptions/<sub>/providers/Microsoft.Authorization/roleDefinitions/<guid>`: the id role assignments take. */
export function roleDefinitionId(subscriptionId: string, roleGuid: string): string {
  return `/subscriptions/${subscriptionId}/providers/Microsoft.Authorization/roleDefinitions/${roleGuid}`;
}

/** The subject AKS puts in a ServiceAccount token: `system:serviceaccount:<ns>:<sa>`. */
export function serviceAccountSubject(namespace: string, serviceAccount: string): string {
  return `system:serviceaccount:${namespace}:${serviceAccount}`;
}

export interface LifecycleRule {
  name: string;
  enabled: true;
  type: "Lifecycle";
  definition: {
    actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: number } } };
    filters: { blobTypes: ["blockBlob"]; prefixMatch: string[] };
  };
}

/**
 * Storage lifecycle policy: delete block blobs in the build-context container `days` after they were
 * last written. The agent uploads `<container>/<run_id>.tgz` per build and never deletes it.
 * `prefixMatch` starts with the container name, which scopes the rule to that container only.
 */
export function contextLifecyclePolicy(container: string, days: number): { rules: LifecycleRule[] } {
  return {
    rules: [
      {
        name: "delete-build-contexts",
        enabled: true,
        type: "Lifecycle",
        definition: {
          actions: { baseBlob: { delete: { daysAfterModificationGreaterThan: days } } },
          filters: { blobTypes: ["blockBlob"], prefixMatch: [`${container}/`] },
        },
      },
    ],
  };
}

/** What makes a default ACR or storage-account name unique: where it lives and which stack owns it. */
export interface GlobalNameScope {
  subscriptionId: string;
  resourceGroup: string;
  project: string;
  stack: string;
  component: string;
}

/**
 * A default name for ACR (5-50 alphanumerics) or a storage account (3-24 lowercase alphanumerics), both
 * globally unique across Azure: the component name's letters and digits plus a hash of subscription,
 * resource group, project, stack, component and role. Everyone following the sample gets a different name
 * (the subscription differs), while one stack gets the same name on every `pulumi up`.
 */
export function defaultGlobalName(scope: GlobalNameScope, role: string, maxLength: number): string {
  const key = [scope.subscriptionId, scope.resourceGroup.toLowerCase(), scope.project, scope.stack, scope.component, role].join("/");
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 10);
  let stem = scope.component.toLowerCase().replace(/[^a-z0-9]/g, "");
  if (!/^[a-z]/.test(stem)) stem = `wl${stem}`;
  return `${stem.slice(0, maxLength - hash.length)}${hash}`;
}

export function isRegistryName(v: string): boolean {
  return /^[a-zA-Z0-9]{5,50}$/.test(v);
}

export function isStorageAccountName(v: string): boolean {
  return /^[a-z0-9]{3,24}$/.test(v);
}

/** Container names: 3-63 of lowercase letters, digits and single hyphens, starting and ending alphanumeric. */
export function isContainerName(v: string): boolean {
  return /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(v);
}

/** The agent's ACR rule (reference §4.1) allows one repository segment of `[\w-]`; ACR wants lowercase. */
export function isAcrRepository(v: string): boolean {
  return /^[a-z0-9][a-z0-9_-]*$/.test(v);
}

export { isK8sNamespace, isK8sServiceAccountName } from "../kubernetes/names.js";

/** Entra accepts only https issuers; AKS issuers look like `https://<region>.oic.prod-aks.azure.com/<tenant>/<guid>/`. */
export function isIssuerUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === "https:" && u.hostname !== "";
  } catch {
    return false;
  }
}

/** `builder.destination` for ACR: `<login server>/<repository>`, no scheme, no tag. */
export function acrDestination(loginServer: string, repository: string): string {
  return `${loginServer}/${repository}`;
}

/** `builder.build-context-store` for Azure Blob: the container URL the agent's pattern expects. */
export function blobContextStore(account: string, container: string): string {
  return `https://${account}.blob.core.windows.net/${container}`;
}
