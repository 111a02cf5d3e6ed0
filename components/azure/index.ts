export { AzureLaunchEnvironment, type AcrSku, type AzureLaunchEnvironmentArgs } from "./launch-environment.js";
export {
  AZURE_CLIENT_ID_ANNOTATION,
  AZURE_USE_LABEL,
  AzureArgumentError,
  BUILT_IN_ROLES,
  KANIKO_STORAGE_KEY_SECRET,
  WORKLOAD_IDENTITY_AUDIENCE,
  acrDestination,
  blobContextStore,
  contextLifecyclePolicy,
  roleDefinitionId,
  serviceAccountSubject,
} from "./policy.js";
