// The `kubernetes` stack kind: any cluster (CoreWeave, on-prem) with a registry and an S3-compatible build-context
// store the operator already has. Nothing is created in a cloud; this only wires static credentials from existing
// Secrets into the agent and into kaniko.
import * as pulumi from "@pulumi/pulumi";
import type { LaunchEnvironmentOutputs, RegistryAuth } from "../types.js";
import type { EnvVar, KanikoJobFragment } from "./manifests.js";

export interface GenericEnvironmentArgs {
  /** Image repository (no tag) the agent pushes to, e.g. `registry.example.com/team/launch`. */
  destination: string;
  /** `s3://<bucket>/<prefix>` on any S3-compatible store. */
  buildContextStore: string;
  /** Store endpoint, e.g. `https://object.example.com`. Default: AWS S3. */
  s3Endpoint?: string;
  /** Region the store expects in signatures. */
  s3Region: string;
  /**
   * Existing Secret in the agent namespace with keys `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` for the store;
   * the agent (upload) and kaniko (download) both read it.
   */
  s3CredentialsSecretName: string;
  /** Existing `kubernetes.io/dockerconfigjson` Secret kaniko pushes with (`WANDB_LAUNCH_KANIKO_AUTH_SECRET`). */
  registryAuthSecretName?: string;
  /** Push credentials for building the agent image (only used when no agent image is named). */
  registryAuth?: pulumi.Input<RegistryAuth>;
}

export interface GenericEnvironment {
  outputs: LaunchEnvironmentOutputs;
  /** Extra env for the agent container. */
  agentEnv: EnvVar[];
  /** `builder.kaniko-config`: env kaniko needs to read contexts from the store. */
  kanikoConfig: KanikoJobFragment;
}

const fromSecret = (secret: string, key: string): EnvVar => ({ name: key, valueFrom: { secretKeyRef: { name: secret, key } } });

export function genericLaunchEnvironment(a: GenericEnvironmentArgs): GenericEnvironment {
  const creds = [fromSecret(a.s3CredentialsSecretName, "AWS_ACCESS_KEY_ID"), fromSecret(a.s3CredentialsSecretName, "AWS_SECRET_ACCESS_KEY")];
  const agentEnv: EnvVar[] = [...creds, { name: "AWS_REGION", value: a.s3Region }];
  if (a.s3Endpoint) {
    // boto3 (the official agent) reads the service-specific endpoint variable; our agent reads kaniko's names and
    // then also switches to path-style addressing and checksums only where required, which non-AWS stores need.
    agentEnv.push(
      { name: "AWS_ENDPOINT_URL_S3", value: a.s3Endpoint },
      { name: "S3_ENDPOINT", value: a.s3Endpoint },
      { name: "S3_FORCE_PATH_STYLE", value: "true" },
    );
  }
  if (a.registryAuthSecretName) agentEnv.push({ name: "WANDB_LAUNCH_KANIKO_AUTH_SECRET", value: a.registryAuthSecretName });
  // Kaniko reads `s3://` contexts with its own S3 client, configured through these variables.
  const kanikoEnv: EnvVar[] = [...creds, { name: "AWS_REGION", value: a.s3Region }];
  if (a.s3Endpoint) kanikoEnv.push({ name: "S3_ENDPOINT", value: a.s3Endpoint }, { name: "S3_FORCE_PATH_STYLE", value: "true" });
  const outputs: LaunchEnvironmentOutputs = {
    // Kaniko with object storage needs an environment block; `aws` is the one whose storage speaks S3.
    environmentType: "aws",
    region: pulumi.output<string | null>(a.s3Region),
    destination: pulumi.output(a.destination),
    buildContextStore: pulumi.output(a.buildContextStore),
    serviceAccountAnnotations: pulumi.output<Record<string, string>>({}),
    podLabels: pulumi.output<Record<string, string>>({}),
    identity: pulumi.output(`static credentials from Secret ${a.s3CredentialsSecretName}`),
    ...(a.registryAuth !== undefined ? { registryAuth: pulumi.secret(pulumi.output(a.registryAuth)) } : {}),
  };
  return {
    outputs,
    agentEnv,
    kanikoConfig: { spec: { template: { spec: { containers: [{ env: kanikoEnv }] } } } } satisfies KanikoJobFragment,
  };
}
