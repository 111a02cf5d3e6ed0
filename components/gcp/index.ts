export { GcpLaunchEnvironment, type GcpLaunchEnvironmentArgs } from "./launch-environment.js";
export {
  ARTIFACT_REGISTRY_READER_ROLE,
  ARTIFACT_REGISTRY_ROLE,
  CONTEXT_STORE_PERMISSIONS,
  GKE_SA_ANNOTATION,
  GcpArgumentError,
  SEED_ARTIFACT_REGISTRY_PERMISSIONS,
  WORKLOAD_IDENTITY_ROLE,
  artifactRegistryCleanupPolicies,
  contextLifecycleRules,
  defaultContextStoreRoleId,
  defaultRepositoryId,
  nodeServiceAccounts,
  type ClusterNodeIdentities,
  type StackScope,
  garDestination,
  gcsContextStore,
  workloadIdentityMember,
  workloadIdentityPool,
} from "./policy.js";
export * from "./vertex.js";
