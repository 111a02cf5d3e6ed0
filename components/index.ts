// Public surface of the Pulumi components.
export * from "./types.js";
export * from "./launch-config.js";
export * from "./kubernetes/index.js";
export { AwsLaunchEnvironment, type AwsLaunchEnvironmentArgs } from "./aws/index.js";
export { GcpLaunchEnvironment, type GcpLaunchEnvironmentArgs } from "./gcp/index.js";
export { AzureLaunchEnvironment, type AzureLaunchEnvironmentArgs } from "./azure/index.js";
