// The Pulumi program: stack config → the cloud's launch environment → launch-config.yaml → the agent on the
// cluster. A function (not module top-level code) so `npm run render` and the tests can run it once per stack.
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { AwsLaunchEnvironment } from "../components/aws/index.js";
import { AzureLaunchEnvironment } from "../components/azure/index.js";
import { GcpLaunchEnvironment } from "../components/gcp/index.js";
import { AgentImage, type EnvVar, genericLaunchEnvironment, LaunchAgent, labelKubernetesObjects } from "../components/kubernetes/index.js";
import { composeKanikoConfig, launchConfigOutput, type LaunchConfigSettings } from "../components/launch-config.js";
import type { LaunchEnvironmentOutputs } from "../components/types.js";
import { aksCluster, eksCluster, gkeCluster } from "./cluster.js";
import { type AwsStackConfig, type GcpStackConfig, NAMESPACE, parseStackConfig, type ResolvedStackConfig, StackConfigError } from "./config.js";

export interface StackOutputs {
  cloud: string;
  /** `builder.destination`: where run images (and, unless named, the agent image) are pushed. */
  registry: pulumi.Output<string>;
  /** `builder.build-context-store`. */
  bucket: pulumi.Output<string>;
  /** Role ARN, GSA email or managed-identity client id bound to the agent's ServiceAccount. */
  identity: pulumi.Output<string>;
  namespace: pulumi.Output<string>;
  serviceAccount: pulumi.Output<string>;
  agentImage: pulumi.Output<string>;
  launchConfig: pulumi.Output<string>;
}

/** Resource-name prefix for every component of the stack. */
const NAME = "wandb-launch";

interface Environment {
  outputs: LaunchEnvironmentOutputs;
  agentEnv?: EnvVar[];
  kanikoConfig?: Record<string, unknown>;
  azureStorageAccessKey?: pulumi.Output<string>;
  genericRegistry?: boolean;
  /** Provider for the agent's Kubernetes objects, built from the cluster the stack looked up. */
  kubernetesProvider?: k8s.Provider;
  /** Queue configs for the managed runners the environment enables (SageMaker, Vertex). */
  queueConfig?: pulumi.Output<Record<string, unknown>>;
}

function lifecycleOf(cfg: AwsStackConfig | GcpStackConfig) {
  return {
    contextExpirationDays: cfg.contextExpirationDays,
    untaggedImageExpirationDays: cfg.untaggedImageExpirationDays,
    imageExpirationDays: cfg.imageExpirationDays,
    forceDestroy: cfg.forceDestroy,
  };
}

function buildEnvironment(cfg: ResolvedStackConfig, secrets: pulumi.Config): Environment {
  const identityTarget = { namespace: cfg.namespace, serviceAccountName: cfg.serviceAccountName };
  switch (cfg.cloud) {
    case "aws": {
      const lifecycle = lifecycleOf(cfg);
      const cluster = eksCluster(NAME, cfg);
      const env = new AwsLaunchEnvironment(NAME, {
        ...identityTarget,
        ...lifecycle,
        oidcIssuerUrl: cluster.oidcIssuerUrl,
        oidcProviderArn: cfg.oidcProviderArn,
        repositoryName: cfg.repositoryName,
        bucketName: cfg.bucketName,
        kmsKeyArn: cfg.kmsKeyArn,
        tags: cfg.tags,
        sagemaker: cfg.sagemaker,
      });
      return { outputs: env.outputs, kubernetesProvider: cluster.provider, queueConfig: env.queueConfig };
    }
    case "gcp": {
      const lifecycle = lifecycleOf(cfg);
      const cluster = gkeCluster(NAME, cfg);
      const env = new GcpLaunchEnvironment(NAME, {
        ...identityTarget,
        ...lifecycle,
        workloadIdentityPool: cluster.workloadIdentityPool ?? cfg.workloadIdentityPool,
        nodeServiceAccounts: cluster.nodeServiceAccounts,
        labels: cfg.tags,
        repositoryId: cfg.repositoryId,
        imageName: cfg.imageName,
        bucketName: cfg.bucketName,
        serviceAccountId: cfg.serviceAccountId,
        vertex: cfg.vertex,
      });
      return { outputs: env.outputs, kubernetesProvider: cluster.provider, queueConfig: env.queueConfig };
    }
    case "azure": {
      const cluster = aksCluster(NAME, cfg);
      const env = new AzureLaunchEnvironment(NAME, {
        ...identityTarget,
        resourceGroupName: cfg.resourceGroupName,
        location: cfg.location,
        oidcIssuerUrl: cluster.oidcIssuerUrl,
        kubeletPrincipalId: cluster.kubeletPrincipalId,
        kanikoStorageAccessKey: cfg.storageSharedKeyAccess,
        tags: cfg.tags,
        registryName: cfg.registryName,
        registrySku: cfg.registrySku,
        repositoryName: cfg.repositoryName,
        storageAccountName: cfg.storageAccountName,
        containerName: cfg.containerName,
        contextExpirationDays: cfg.contextExpirationDays,
        untaggedImageExpirationDays: cfg.untaggedImageExpirationDays,
      });
      return { outputs: env.outputs, azureStorageAccessKey: env.storageAccessKey, kubernetesProvider: cluster.provider };
    }
    case "kubernetes": {
      const password = secrets.getSecret("registryPassword");
      const host = cfg.destination.split("/")[0]!;
      const env = genericLaunchEnvironment({
        destination: cfg.destination,
        buildContextStore: cfg.buildContextStore,
        s3Endpoint: cfg.s3Endpoint,
        s3Region: cfg.s3Region,
        s3CredentialsSecretName: cfg.s3CredentialsSecretName,
        registryAuthSecretName: cfg.registryAuthSecretName,
        registryAuth:
          cfg.registryUsername && password
            ? pulumi.all([password]).apply(([p]) => ({ address: host, username: cfg.registryUsername!, password: p }))
            : undefined,
      });
      return { ...env, genericRegistry: true };
    }
  }
}

/** Whether the environment hands out push credentials the agent image can be built with (its `registryAuth`). */
function canBuildAgentImage(cfg: ResolvedStackConfig): boolean {
  if (cfg.cloud === "kubernetes") return cfg.registryUsername !== undefined;
  return cfg.cloud !== "azure";
}

/** Runs the program against the current Pulumi config (real engine or mocks). */
export function runProgram(): StackOutputs {
  const cfg = parseStackConfig(pulumi.runtime.allConfig());
  // A config error stops the program before it registers anything, so `pulumi up` creates nothing.
  if (cfg.agentImage === undefined && !canBuildAgentImage(cfg)) {
    throw new StackConfigError([
      cfg.cloud === "kubernetes"
        ? `${NAMESPACE}:agentImage is not set and there are no registry credentials to build one: run \`pulumi config set ${NAMESPACE}:agentImage <image>\` or set ${NAMESPACE}:registryUsername and \`pulumi config set --secret ${NAMESPACE}:registryPassword\``
        : `${NAMESPACE}:agentImage is not set and ${cfg.cloud} cannot mint registry credentials for building it here: push the image (docker build -t <registry>/<repo>:agent . && docker push ...) and run \`pulumi config set ${NAMESPACE}:agentImage <image>\``,
    ]);
  }
  const secrets = new pulumi.Config(NAMESPACE);
  const env = buildEnvironment(cfg, secrets);

  const settings: LaunchConfigSettings = {
    queues: cfg.queues,
    entity: cfg.entity,
    maxJobs: cfg.maxJobs,
    maxSchedulers: cfg.maxSchedulers,
    verbosity: cfg.verbosity,
    kanikoImage: cfg.kanikoImage,
    buildJobName: cfg.buildJobName,
    kanikoConfig: composeKanikoConfig({ user: cfg.kanikoConfig, environment: env.kanikoConfig, labels: cfg.tags }),
  };
  const launchConfig = launchConfigOutput(env.outputs, settings, { genericRegistry: env.genericRegistry, queueConfig: env.queueConfig });

  let image: pulumi.Output<string>;
  if (cfg.agentImage !== undefined) {
    image = pulumi.output(cfg.agentImage);
  } else if (env.outputs.registryAuth !== undefined) {
    // Build this repository's Dockerfile into the registry. The context is relative to the engine's working directory,
    // the project root (Pulumi.yaml has no `main`; test/engine proves it).
    // Artifact Registry destinations name an image inside the repository; the agent gets its own image name there so
    // the run-image cleanup rules (scoped to the run image) never delete it.
    const repository =
      cfg.cloud === "gcp" ? env.outputs.destination.apply((d) => d.replace(/\/[^/]+$/, "/launch-agent")) : env.outputs.destination;
    image = new AgentImage(`${NAME}-agent`, {
      repository,
      registryAuth: env.outputs.registryAuth,
      context: ".",
      platforms: cfg.agentImagePlatforms,
    }).ref;
  } else {
    throw new Error(`no registry credentials to build the agent image for cloud ${cfg.cloud} (checked before registering anything)`);
  }

  const agent = new LaunchAgent(NAME, {
    environment: env.outputs,
    launchConfigYaml: launchConfig,
    image,
    namespace: cfg.namespace,
    createNamespace: cfg.createNamespace,
    serviceAccountName: cfg.serviceAccountName,
    targetNamespaces: cfg.targetNamespaces,
    extraTargetRules: cfg.extraTargetRules,
    apiKey: cfg.apiKey !== undefined ? secrets.requireSecret("apiKey") : undefined,
    apiKeySecretName: cfg.apiKeySecretName,
    apiKeySecretKey: cfg.apiKeySecretKey,
    baseUrl: cfg.baseUrl,
    azureStorageAccessKey: env.azureStorageAccessKey,
    extraEnv: env.agentEnv,
    replicas: cfg.replicas,
    healthPort: cfg.healthPort,
    serviceMonitor: cfg.serviceMonitor,
    podDisruptionBudget: cfg.podDisruptionBudget,
  }, {
    ...(env.kubernetesProvider ? { providers: [env.kubernetesProvider] } : {}),
    ...(cfg.tags ? { transformations: [labelKubernetesObjects(cfg.tags)] } : {}),
  });

  return {
    cloud: cfg.cloud,
    registry: env.outputs.destination,
    bucket: env.outputs.buildContextStore,
    identity: env.outputs.identity,
    namespace: agent.namespace,
    serviceAccount: agent.serviceAccountName,
    agentImage: image,
    launchConfig,
  };
}
