import * as pulumi from "@pulumi/pulumi";
import * as azure from "@pulumi/azure-native";
import type { LaunchEnvironmentOutputs } from "../types.js";
import {
  AZURE_CLIENT_ID_ANNOTATION,
  AZURE_USE_LABEL,
  AzureArgumentError,
  BUILT_IN_ROLES,
  KANIKO_STORAGE_KEY_SECRET,
  WORKLOAD_IDENTITY_AUDIENCE,
  acrDestination,
  blobContextStore,
  checkDays,
  contextLifecyclePolicy,
  defaultGlobalName,
  isAcrRepository,
  isContainerName,
  isIssuerUrl,
  isK8sNamespace,
  isK8sServiceAccountName,
  isRegistryName,
  isStorageAccountName,
  roleDefinitionId,
  serviceAccountSubject,
} from "./policy.js";

export type AcrSku = "Basic" | "Standard" | "Premium";

export interface AzureLaunchEnvironmentArgs {
  /** Existing resource group for every resource. Required. */
  readonly resourceGroupName: pulumi.Input<string>;
  /** Azure location, e.g. `eastus`. Default: the resource group's location. */
  readonly location?: pulumi.Input<string>;
  /** OIDC issuer URL of the AKS cluster (`az aks show --query oidcIssuerProfile.issuerUrl`). Required. */
  readonly oidcIssuerUrl: pulumi.Input<string>;
  /**
   * Kubernetes namespace of the agent's ServiceAccount. Default `wandb`. Our agent's kaniko builder reads the
   * storage-key Secret from this namespace; the official agent image reads it from `wandb` only.
   */
  readonly namespace?: pulumi.Input<string>;
  /** Name of the agent's Kubernetes ServiceAccount, trusted by the federated credential. Required. */
  readonly serviceAccountName: pulumi.Input<string>;
  /**
   * ACR name (5-50 alphanumerics, globally unique). Default: component name + a hash of subscription, resource
   * group, project, stack and component: unique per subscription and resource group, stable across `up`s.
   */
  readonly registryName?: pulumi.Input<string>;
  /** ACR SKU (plain value). Default `Basic`. */
  readonly registrySku?: AcrSku;
  /**
   * Purge untagged manifests after this many days (plain number, 0-365; ACR retention is Premium-only).
   * Default: unset, no retention policy. Never a count-based rule: kaniko's cache shares the repository.
   */
  readonly untaggedImageExpirationDays?: number;
  /** Repository inside the registry, one segment of `[a-z0-9_-]` (the agent's ACR rule). Default `launch`. */
  readonly repositoryName?: pulumi.Input<string>;
  /** Storage account name (3-24 lowercase alphanumerics, globally unique). Default: derived like `registryName`. */
  readonly storageAccountName?: pulumi.Input<string>;
  /** Storage account SKU. Default `Standard_LRS`. */
  readonly storageSku?: pulumi.Input<string>;
  /** Private blob container for build contexts. Default `build-contexts`. */
  readonly containerName?: pulumi.Input<string>;
  /** Delete build contexts this many days after upload (plain number). Default 7. */
  readonly contextExpirationDays?: number;
  /**
   * Keep shared-key access enabled on the storage account and expose its key as the secret output
   * `storageAccessKey` (plain boolean). Default `true`, because kaniko reads Azure build contexts only with an
   * account key (Secret `azure-storage-access-key`), not with workload identity. With `false` no account key
   * works at all (Entra ID only), and kaniko builds fail: only jobs with a ready image run.
   */
  readonly kanikoStorageAccessKey?: boolean;
  /**
   * Object id of the AKS cluster's kubelet identity (`az aks show --query identityProfile.kubeletidentity.objectId`).
   * When set, it gets `AcrPull` on the registry: the kubelet, not the agent's identity, pulls the images of run
   * pods and of the agent itself. Leave unset when the cluster's pull access is managed elsewhere.
   */
  readonly kubeletPrincipalId?: pulumi.Input<string>;
  /** Tags applied to every resource. Default `{}`. */
  readonly tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/**
 * Everything a W&B Launch agent on AKS needs: an Azure Container Registry, a storage account with a private
 * build-context container and a lifecycle policy, and a user-assigned managed identity federated with the
 * agent's Kubernetes ServiceAccount. The identity holds AcrPush on the registry and Storage Blob Data
 * Contributor on the container: no grant on the storage account, resource group or subscription.
 */
export class AzureLaunchEnvironment extends pulumi.ComponentResource {
  public readonly outputs: LaunchEnvironmentOutputs;
  public readonly registry: azure.containerregistry.Registry;
  public readonly storageAccount: azure.storage.StorageAccount;
  public readonly container: azure.storage.BlobContainer;
  public readonly lifecyclePolicy: azure.storage.ManagementPolicy;
  public readonly identity: azure.managedidentity.UserAssignedIdentity;
  public readonly acrPush: azure.authorization.RoleAssignment;
  public readonly blobContributor: azure.authorization.RoleAssignment;
  /** `AcrPull` on the registry for the cluster's kubelet identity; undefined without `kubeletPrincipalId`. */
  public readonly kubeletAcrPull: azure.authorization.RoleAssignment | undefined;
  public readonly federatedCredential: azure.managedidentity.FederatedIdentityCredential;
  /**
   * The storage account key (a Pulumi secret) for Secret `azure-storage-access-key`, key `password`, in
   * the agent's namespace; undefined when `kanikoStorageAccessKey` is false. Never part of `outputs`.
   */
  public readonly storageAccessKey: pulumi.Output<string> | undefined;
  /** The Secret kaniko reads `storageAccessKey` from (the official agent: in namespace `wandb` only). */
  public readonly storageAccessKeySecret = KANIKO_STORAGE_KEY_SECRET;

  constructor(name: string, args: AzureLaunchEnvironmentArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wandb-launch:azure:LaunchEnvironment", name, {}, opts);

    const namespace = args.namespace ?? "wandb";
    checkPlain(name, "namespace", namespace, isK8sNamespace, "Use a Kubernetes namespace name (DNS-1123 label).");
    checkPlain(name, "serviceAccountName", args.serviceAccountName, isK8sServiceAccountName, "Use a Kubernetes ServiceAccount name (DNS-1123 subdomain).");
    checkPlain(name, "oidcIssuerUrl", args.oidcIssuerUrl, isIssuerUrl, "Use the cluster's https issuer: `az aks show -g <rg> -n <cluster> --query oidcIssuerProfile.issuerUrl -o tsv`.");
    if (args.registryName !== undefined) checkPlain(name, "registryName", args.registryName, isRegistryName, "Use 5-50 letters and digits (no hyphens).");
    if (args.storageAccountName !== undefined) checkPlain(name, "storageAccountName", args.storageAccountName, isStorageAccountName, "Use 3-24 lowercase letters and digits.");
    const containerName = args.containerName ?? "build-contexts";
    checkPlain(name, "containerName", containerName, isContainerName, "Use 3-63 lowercase letters, digits and single hyphens.");
    const repositoryName = args.repositoryName ?? "launch";
    checkPlain(name, "repositoryName", repositoryName, isAcrRepository, "Use one segment of lowercase letters, digits, `_` and `-`: the agent rejects nested ACR repositories.");
    const sku: AcrSku = args.registrySku ?? "Basic";
    if (!["Basic", "Standard", "Premium"].includes(sku)) {
      throw new AzureArgumentError(name, "registrySku", sku, "Use Basic, Standard or Premium.");
    }
    let retentionDays: number | undefined;
    if (args.untaggedImageExpirationDays !== undefined) {
      retentionDays = checkDays(name, "untaggedImageExpirationDays", args.untaggedImageExpirationDays, 0, 365);
      if (sku !== "Premium") {
        throw new AzureArgumentError(name, "untaggedImageExpirationDays", args.untaggedImageExpirationDays, `ACR retention policies need registrySku "Premium" (got "${sku}"); set registrySku: "Premium" or drop untaggedImageExpirationDays.`);
      }
    }
    const contextDays = checkDays(name, "contextExpirationDays", args.contextExpirationDays ?? 7);
    const withKey = args.kanikoStorageAccessKey ?? true;
    const tags = args.tags ?? {};
    const rg = args.resourceGroupName;
    const parent = { parent: this };

    // Default global names hash the subscription and resource group in, so two teams following the same
    // sample never race for one name, and the same stack always asks for the same one.
    const subscriptionId = azure.authorization.getClientConfigOutput(parent).subscriptionId;
    const globalName = (role: string, maxLength: number): pulumi.Output<string> =>
      pulumi
        .all([subscriptionId, rg])
        .apply(([sub, group]) =>
          defaultGlobalName({ subscriptionId: sub, resourceGroup: group, project: pulumi.getProject(), stack: pulumi.getStack(), component: name }, role, maxLength),
        );
    const registryName = args.registryName ?? globalName("acr", 50);
    const accountName = args.storageAccountName ?? globalName("ctx", 24);

    this.registry = new azure.containerregistry.Registry(
      `${name}-registry`,
      {
        resourceGroupName: rg,
        location: args.location,
        registryName,
        sku: { name: sku },
        // Identity-based access only: the admin user is a shared static password.
        adminUserEnabled: false,
        policies:
          retentionDays === undefined ? undefined : { retentionPolicy: { days: retentionDays, status: "enabled" } },
        tags,
      },
      parent,
    );

    this.storageAccount = new azure.storage.StorageAccount(
      `${name}-storage`,
      {
        resourceGroupName: rg,
        location: args.location,
        accountName,
        kind: "StorageV2",
        sku: { name: args.storageSku ?? "Standard_LRS" },
        allowBlobPublicAccess: false,
        minimumTlsVersion: "TLS1_2",
        enableHttpsTrafficOnly: true,
        allowSharedKeyAccess: withKey,
        allowCrossTenantReplication: false,
        defaultToOAuthAuthentication: true,
        tags,
      },
      parent,
    );

    this.container = new azure.storage.BlobContainer(
      `${name}-contexts`,
      {
        resourceGroupName: rg,
        accountName: this.storageAccount.name,
        containerName,
        publicAccess: "None",
      },
      parent,
    );

    this.lifecyclePolicy = new azure.storage.ManagementPolicy(
      `${name}-lifecycle`,
      {
        resourceGroupName: rg,
        accountName: this.storageAccount.name,
        // Azure allows exactly one policy per account and it must be named "default".
        managementPolicyName: "default",
        policy: this.container.name.apply((c) => contextLifecyclePolicy(c, contextDays)),
      },
      parent,
    );

    this.identity = new azure.managedidentity.UserAssignedIdentity(
      `${name}-agent`,
      { resourceGroupName: rg, location: args.location, tags },
      parent,
    );

    const roleId = (guid: string): pulumi.Output<string> => subscriptionId.apply((s) => roleDefinitionId(s, guid));

    this.acrPush = new azure.authorization.RoleAssignment(
      `${name}-acr-push`,
      {
        scope: this.registry.id,
        roleDefinitionId: roleId(BUILT_IN_ROLES.AcrPush),
        principalId: this.identity.principalId,
        // Declaring the type lets ARM accept the assignment before the new principal has replicated.
        principalType: "ServicePrincipal",
        description: "W&B Launch agent and kaniko: push/pull images and layer cache",
      },
      parent,
    );

    this.blobContributor = new azure.authorization.RoleAssignment(
      `${name}-blob-contributor`,
      {
        scope: this.container.id,
        roleDefinitionId: roleId(BUILT_IN_ROLES.StorageBlobDataContributor),
        principalId: this.identity.principalId,
        principalType: "ServicePrincipal",
        description: "W&B Launch agent: upload build contexts to this container only",
      },
      parent,
    );

    this.kubeletAcrPull =
      args.kubeletPrincipalId === undefined
        ? undefined
        : new azure.authorization.RoleAssignment(
            `${name}-kubelet-acr-pull`,
            {
              scope: this.registry.id,
              roleDefinitionId: roleId(BUILT_IN_ROLES.AcrPull),
              principalId: args.kubeletPrincipalId,
              principalType: "ServicePrincipal",
              description: "AKS kubelet: pull run images and the agent image",
            },
            parent,
          );

    this.federatedCredential = new azure.managedidentity.FederatedIdentityCredential(
      `${name}-aks`,
      {
        resourceGroupName: rg,
        resourceName: this.identity.name,
        issuer: args.oidcIssuerUrl,
        subject: pulumi.all([namespace, args.serviceAccountName]).apply(([ns, sa]) => serviceAccountSubject(ns, sa)),
        audiences: [WORKLOAD_IDENTITY_AUDIENCE],
      },
      parent,
    );

    this.storageAccessKey = withKey
      ? pulumi.secret(
          azure.storage
            .listStorageAccountKeysOutput({ resourceGroupName: rg, accountName: this.storageAccount.name }, parent)
            .apply((r) => {
              const key = r.keys[0]?.value;
              if (!key) throw new Error(`AzureLaunchEnvironment "${name}": the storage account returned no access key`);
              return key;
            }),
        )
      : undefined;

    // Consumers get the identity only once its grants and federation exist.
    const clientId = pulumi
      .all([this.identity.clientId, this.acrPush.id, this.blobContributor.id, this.federatedCredential.id, this.kubeletAcrPull?.id])
      .apply(([id]) => id);

    this.outputs = {
      environmentType: "azure",
      region: pulumi.output<string | null>(null),
      destination: pulumi
        .all([this.registry.loginServer, repositoryName])
        .apply(([server, repo]) => acrDestination(server, repo)),
      buildContextStore: pulumi
        .all([this.storageAccount.name, this.container.name])
        .apply(([account, container]) => blobContextStore(account, container)),
      serviceAccountAnnotations: clientId.apply((id): Record<string, string> => ({ [AZURE_CLIENT_ID_ANNOTATION]: id })),
      podLabels: pulumi.output<Record<string, string>>({ [AZURE_USE_LABEL]: "true" }),
      identity: clientId,
    };

    this.registerOutputs({
      outputs: this.outputs,
      registry: this.registry,
      storageAccount: this.storageAccount,
      container: this.container,
      identity: this.identity,
    });
  }
}

/** Validate a plain string now; an Output is checked by the provider at apply time. */
function checkPlain(
  component: string,
  field: string,
  value: pulumi.Input<string>,
  ok: (v: string) => boolean,
  fix: string,
): void {
  if (typeof value === "string" && !ok(value)) throw new AzureArgumentError(component, field, value, fix);
}
