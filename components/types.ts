import type * as pulumi from "@pulumi/pulumi";

/**
 * What every cloud's LaunchEnvironment hands to the LaunchAgent and to the launch-config renderer.
 * Each cloud component (AwsLaunchEnvironment, GcpLaunchEnvironment, AzureLaunchEnvironment,
 * and the bring-your-own `kubernetes` kind) exposes exactly this as `outputs`.
 */
export interface LaunchEnvironmentOutputs {
  /** `environment.type` in launch-config.yaml; undefined for the plain kubernetes kind. */
  environmentType: "aws" | "gcp" | "azure" | undefined;
  /** `environment.region`; null on Azure (the key must still be written). */
  region: pulumi.Output<string | null>;
  /** `builder.destination`: registry repository URI without tag, e.g. `<acct>.dkr.ecr.<region>.amazonaws.com/<repo>`. */
  destination: pulumi.Output<string>;
  /** `builder.build-context-store`: `s3://bucket/prefix`, `gs://bucket/prefix` or `https://<acct>.blob.core.windows.net/<container>`. */
  buildContextStore: pulumi.Output<string>;
  /** Annotations the agent's Kubernetes ServiceAccount needs for workload identity. */
  serviceAccountAnnotations: pulumi.Output<Record<string, string>>;
  /** Labels the agent's pods (and kaniko pods) need for workload identity (Azure: `azure.workload.identity/use`). */
  podLabels: pulumi.Output<Record<string, string>>;
  /** The cloud identity bound to the agent: role ARN, GSA email or managed identity client id. */
  identity: pulumi.Output<string>;
  /**
   * Optional: short-lived push credentials for `destination`'s registry (a secret Output), when the cloud can mint
   * them from the deployer's own credentials (ECR: GetAuthorizationToken; Artifact Registry: an OAuth access token
   * with username `oauth2accesstoken`). Used only to build and push the agent image when the stack config names
   * none; without it the stack requires `wandb-launch:agentImage`.
   */
  registryAuth?: pulumi.Output<RegistryAuth>;
}

/** Credentials `docker login` would use for one registry host. */
export interface RegistryAuth {
  /** Registry host, e.g. `123456789012.dkr.ecr.us-west-2.amazonaws.com`. */
  address: string;
  username: string;
  password: string;
}
