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
}
