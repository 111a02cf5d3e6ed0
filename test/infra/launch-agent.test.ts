import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { validateAgentConfig } from "../../agent/config/index.js";
import {
  buildLaunchConfig,
  composeKanikoConfig,
  kanikoConfigProblem,
  launchConfigOutput,
  type LaunchConfigInputs,
  LaunchConfigError,
  queueConfigComment,
  renderLaunchConfig,
} from "../../components/launch-config.js";
import {
  AGENT_NAMESPACE_RULES,
  apiKeySecretManifest,
  azureStorageKeySecretManifest,
  checksum,
  commonLabels,
  configMapManifest,
  deploymentManifest,
  metricsServiceManifest,
  namespaceManifest,
  podDisruptionBudgetManifest,
  podSecurityLabels,
  roleBindingManifest,
  roleManifest,
  serviceAccountManifest,
  TARGET_NAMESPACE_RULES,
} from "../../components/kubernetes/manifests.js";
import type { LaunchEnvironmentOutputs } from "../../components/types.js";
import { agentKubeCalls, callsIn, granted, sorted } from "./agent-kube-calls.js";
import { validateKubernetesObject } from "./k8s-schema.js";
import { installMocks, isSecretOutput, type MockRecorder, promiseOf, settle } from "./mocks.js";

const run = promisify(execFile);

const CLOUDS: Record<string, LaunchConfigInputs> = {
  aws: {
    environmentType: "aws",
    region: "us-west-2",
    destination: "123456789012.dkr.ecr.us-west-2.amazonaws.com/launch",
    buildContextStore: "s3://acme-launch-contexts/build-contexts",
    queues: ["gpu"],
    entity: "acme",
    maxJobs: 4,
  },
  gcp: {
    environmentType: "gcp",
    region: "us-central1",
    destination: "us-central1-docker.pkg.dev/my-project/launch/runs",
    buildContextStore: "gs://acme-launch-contexts/build-contexts",
    queues: ["gpu", "cpu"],
  },
  azure: {
    environmentType: "azure",
    region: "eastus",
    destination: "acmelaunch.azurecr.io/launch",
    buildContextStore: "https://acmelaunch.blob.core.windows.net/build-contexts",
    queues: ["gpu"],
    maxJobs: -1,
  },
  kubernetes: {
    environmentType: "aws",
    region: "us-east-1",
    destination: "registry.example.com/team/launch",
    buildContextStore: "s3://contexts/launch",
    queues: ["onprem"],
    genericRegistry: true,
  },
};

describe("renderLaunchConfig", () => {
  it.each(Object.keys(CLOUDS))("%s: writes builder.destination, environment.region, kaniko and the context store", (cloud) => {
    const inputs = CLOUDS[cloud]!;
    const doc = parse(renderLaunchConfig(inputs)) as Record<string, unknown>;
    expect(doc.queues).toEqual(inputs.queues);
    expect(doc.max_jobs).toBe(inputs.maxJobs ?? 1);
    expect(doc).not.toHaveProperty("registry");
    expect(doc.builder).toEqual({ type: "kaniko", destination: inputs.destination, "build-context-store": inputs.buildContextStore });
    const env = doc.environment as Record<string, unknown>;
    expect(Object.keys(env)).toEqual(["type", "region"]);
    expect(env.type).toBe(inputs.environmentType);
    expect(env.region).toBe(cloud === "azure" ? null : inputs.region);
    const result = validateAgentConfig(doc);
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual(cloud === "kubernetes" ? [expect.stringContaining("Unable to recognize registry type")] : []);
  });

  it("passes `launch-agent config validate` with no warnings (the agent's own CLI)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "launch-config-"));
    try {
      const results = await Promise.all(
        ["aws", "gcp", "azure"].map(async (cloud) => {
          const file = join(dir, `${cloud}.yaml`);
          await writeFile(file, renderLaunchConfig(CLOUDS[cloud]!));
          const { stdout } = await run(process.execPath, ["bin/launch-agent.js", "config", "validate", file, "--json"]);
          return JSON.parse(stdout) as { valid: boolean; errors: unknown[]; warnings: unknown[] };
        }),
      );
      for (const r of results) expect(r).toEqual({ valid: true, errors: [], warnings: [] });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rejects what the agent rejects, naming the field", () => {
    expect(() => renderLaunchConfig({ ...CLOUDS.aws!, destination: "123456789012.dkr.ecr.us-west-2.amazonaws.com/launch:v1" })).toThrow(
      /builder\.destination/,
    );
    expect(() => renderLaunchConfig({ ...CLOUDS.aws!, buildContextStore: "ftp://x/y" })).toThrow(LaunchConfigError);
    expect(() => renderLaunchConfig({ ...CLOUDS.gcp!, region: null })).toThrow(/region/);
    expect(() => renderLaunchConfig({ ...CLOUDS.aws!, queues: [] })).toThrow(/wandb-launch:queues/);
  });

  it("treats agent warnings as errors", () => {
    // An unrecognised registry is only accepted when the caller declares a generic registry.
    expect(() => renderLaunchConfig({ ...CLOUDS.kubernetes!, genericRegistry: false })).toThrow(/warning: Unable to recognize registry type/);
    expect(() => renderLaunchConfig({ ...CLOUDS.aws!, queues: ["a", "a"] })).toThrow(/listed more than once/);
    expect(() => renderLaunchConfig({ ...CLOUDS.aws!, kanikoConfig: { spec: { containers: [] } } })).toThrow(/kaniko-config/);
  });

  it("writes exactly the keys given, in the documented order, and no optional key that is unset", () => {
    const minimal = { queues: ["q"], environmentType: undefined, region: null, destination: "registry.example.com/x", buildContextStore: "s3://b/p" };
    const doc = buildLaunchConfig(minimal);
    expect(doc).toEqual({ queues: ["q"], max_jobs: 1, max_schedulers: 1, builder: { type: "kaniko", destination: "registry.example.com/x", "build-context-store": "s3://b/p" } });
    const full = buildLaunchConfig({ ...minimal, entity: "acme", environmentType: "gcp", region: "us-central1", buildJobName: "b", kanikoImage: "k", kanikoConfig: { spec: {} }, verbosity: 2 });
    expect(Object.keys(full)).toEqual(["queues", "entity", "max_jobs", "max_schedulers", "environment", "builder", "verbosity"]);
    expect(full.builder).toEqual({ type: "kaniko", destination: "registry.example.com/x", "build-context-store": "s3://b/p", "build-job-name": "b", "kaniko-image": "k", "kaniko-config": { spec: {} } });
    expect(full.environment).toEqual({ type: "gcp", region: "us-central1" });
  });

  it("fails with every problem listed under one message, naming the error type", () => {
    const err = (() => {
      try {
        renderLaunchConfig({ ...CLOUDS.aws!, queues: [] });
      } catch (e) {
        return e as LaunchConfigError;
      }
    })()!;
    expect(err.name).toBe("LaunchConfigError");
    expect(err.problems).toEqual(["queues: empty"]);
    const bad = (() => {
      try {
        renderLaunchConfig({ ...CLOUDS.aws!, buildContextStore: "ftp://x/y", kanikoConfig: { spec: { template: { spec: { containers: [{}, {}] } } } } });
      } catch (e) {
        return e as LaunchConfigError;
      }
    })()!;
    expect(bad.message.split("\n")[0]).toBe("The generated launch-config.yaml does not pass the agent's validation:");
    expect(bad.problems).toEqual([expect.stringMatching(/^builder\.build-context-store: /), expect.stringMatching(/^builder\.kaniko-config: /)]);
    expect(bad.message).toBe(`The generated launch-config.yaml does not pass the agent's validation:\n  ${bad.problems.join("\n  ")}`);
    expect(kanikoConfigProblem({ spec: { template: { spec: { containers: [{ env: [] }] } } } })).toBeUndefined();
    expect(kanikoConfigProblem({ spec: { template: { spec: { containers: [{}, {}] } } } })).toBe(bad.problems[1]!.replace(/^builder\.kaniko-config: /, ""));
    expect(bad.problems[1]).toMatch(/Multiple container configs not supported/);
  });

  it("never folds long values (a folded destination would not be the same string to the agent)", () => {
    const destination = `registry.example.com/${"very-long-team-name/".repeat(5)}launch`;
    const yaml = renderLaunchConfig({ ...CLOUDS.kubernetes!, destination });
    expect(yaml.split("\n")).toContain(`  destination: ${destination}`);
  });

  it("appends a queue config as comments the agent ignores, with the W&B UI hint, one resource per line", async () => {
    expect(queueConfigComment({ sagemaker: { RoleArn: "arn", Long: "x".repeat(120) } })).toBe(
      ["# Queue config for resource sagemaker (paste into the queue's config in the W&B UI):", "#   sagemaker:", "#     RoleArn: arn", `#     Long: ${"x".repeat(120)}`, ""].join("\n"),
    );
    expect(queueConfigComment({ a: 1, b: 2 }).split("\n")[0]).toBe("# Queue config for resource a, b (paste into the queue's config in the W&B UI):");
    const env = {
      environmentType: "aws" as const,
      region: pulumi.output<string | null>("us-west-2"),
      destination: pulumi.output(CLOUDS.aws!.destination),
      buildContextStore: pulumi.output(CLOUDS.aws!.buildContextStore),
      serviceAccountAnnotations: pulumi.output<Record<string, string>>({}),
      podLabels: pulumi.output<Record<string, string>>({}),
      identity: pulumi.output("role"),
    };
    const plain = await promiseOf(launchConfigOutput(env, { queues: ["gpu"] }));
    expect(plain).toBe(renderLaunchConfig({ queues: ["gpu"], environmentType: "aws", region: "us-west-2", destination: CLOUDS.aws!.destination, buildContextStore: CLOUDS.aws!.buildContextStore }));
    const withQueue = await promiseOf(launchConfigOutput(env, { queues: ["gpu"] }, { queueConfig: pulumi.output("arn").apply((arn): Record<string, unknown> => ({ sagemaker: { RoleArn: arn } })) }));
    expect(withQueue).toBe(`${plain}\n${queueConfigComment({ sagemaker: { RoleArn: "arn" } })}`);
  });

  it("merges kaniko-config fragments: objects by key, containers by index (either side longer), other lists appended, scalars replaced", () => {
    const spec = (s: Record<string, unknown>) => ({ spec: { template: { spec: s } } });
    const user = { ...spec({ containers: [{ name: "a", args: ["--x"] }, { name: "sidecar" }], nodeSelector: { pool: "build" }, tolerations: [{ key: "t" }] }), metadata: { name: "n" } };
    const environment = { ...spec({ containers: [{ env: [{ name: "E", value: "1" }] }], nodeSelector: "replaced", tolerations: [{ key: "u" }] }), metadata: ["odd"] };
    expect(composeKanikoConfig({ user, environment })).toEqual({
      ...spec({
        containers: [{ name: "a", args: ["--x"], env: [{ name: "E", value: "1" }] }, { name: "sidecar" }],
        nodeSelector: "replaced",
        tolerations: [{ key: "t" }, { key: "u" }],
        automountServiceAccountToken: false,
      }),
      metadata: ["odd"],
    });
    expect(composeKanikoConfig({ user: spec({ containers: [{ name: "a" }] }), environment: spec({ containers: [{ env: [] }, { name: "b" }] }) })).toEqual(
      spec({ containers: [{ name: "a", env: [] }, { name: "b" }], automountServiceAccountToken: false }),
    );
    expect(composeKanikoConfig({ user: { metadata: null } as unknown as Record<string, unknown>, environment: { metadata: { a: 1 } } })).toEqual({
      metadata: { a: 1 },
      ...spec({ automountServiceAccountToken: false }),
    });
  });

  it("writes optional builder settings under the agent's key names", () => {
    const doc = buildLaunchConfig({ ...CLOUDS.aws!, kanikoImage: "ghcr.io/x/kaniko:v1", buildJobName: "build", verbosity: 1, maxSchedulers: 2 });
    expect(doc).toMatchObject({
      max_schedulers: 2,
      verbosity: 1,
      builder: { "kaniko-image": "ghcr.io/x/kaniko:v1", "build-job-name": "build" },
    });
    expect(validateAgentConfig(doc)).toEqual({ valid: true, errors: [], warnings: [] });
  });
});

describe("Kubernetes manifests", () => {
  const deploymentInputs = {
    name: "launch",
    namespace: "wandb",
    instance: "launch",
    image: "registry.example.com/launch-agent@sha256:abc",
    serviceAccountName: "wandb-launch-agent",
    configMapName: "launch-config",
    apiKeySecretName: "wandb-api-key-launch",
    baseUrl: "https://api.wandb.ai",
    podLabels: { "app.kubernetes.io/name": "wandb-launch-agent", "app.kubernetes.io/instance": "launch" },
    podAnnotations: { "checksum/config": "a", "checksum/secret": "b" },
  };
  // Built inside each test (not at collection time), so mutation testing sees which tests read it.
  let deployment: ReturnType<typeof deploymentManifest>;
  beforeEach(() => {
    deployment = deploymentManifest(deploymentInputs);
  });

  it("every object validates against the Kubernetes schema", () => {
    for (const obj of [
      namespaceManifest("wandb", "launch"),
      serviceAccountManifest({ name: "sa", namespace: "wandb", instance: "launch", annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x" } }),
      roleManifest({ name: "r", namespace: "wandb", instance: "launch", rules: TARGET_NAMESPACE_RULES }),
      roleManifest({ name: "r2", namespace: "wandb", instance: "launch", rules: AGENT_NAMESPACE_RULES }),
      roleBindingManifest({ name: "rb", namespace: "ml", instance: "launch", roleName: "r", serviceAccountName: "sa", serviceAccountNamespace: "wandb" }),
      configMapManifest({ name: "c", namespace: "wandb", instance: "launch", launchConfigYaml: "queues: [a]\n" }),
      apiKeySecretManifest({ name: "s", namespace: "wandb", instance: "launch", apiKey: "k" }),
      metricsServiceManifest({ name: "launch-metrics", namespace: "wandb", instance: "launch", port: 8080 }),
      podDisruptionBudgetManifest({ name: "launch", namespace: "wandb", instance: "launch" }),
      deployment,
    ]) {
      validateKubernetesObject(obj);
    }
    expect(() => validateKubernetesObject({ ...deployment, spec: { ...deployment.spec, replicas: "1" } })).toThrow(/replicas must be integer/);
  });

  it("rejects unknown fields at any depth, naming the path (kubernetes-models alone accepts them)", () => {
    const pod = deployment.spec.template.spec;
    const [c] = pod.containers;
    const withPod = (p: object) => ({ ...deployment, spec: { ...deployment.spec, template: { ...deployment.spec.template, spec: { ...pod, ...p } } } });
    const { serviceAccountName, ...podWithoutName } = pod;
    const misspelled = { ...deployment, spec: { ...deployment.spec, template: { ...deployment.spec.template, spec: { ...podWithoutName, serviceAccountNme: serviceAccountName } } } };
    expect(() => validateKubernetesObject(misspelled)).toThrow(/spec\.template\.spec\.serviceAccountNme: unknown field \(V1PodSpec has/);
    expect(() => validateKubernetesObject({ ...deployment, metdata: {} })).toThrow(/^apps\/v1\/Deployment launch is not a valid[\s\S]*\n {2}metdata: unknown field/);
    expect(() => validateKubernetesObject(withPod({ containers: [{ ...c, env: [{ name: "A", valueFrom: { secretRef: { name: "s" } } }] }] }))).toThrow(
      /spec\.template\.spec\.containers\[0\]\.env\[0\]\.valueFrom\.secretRef: unknown field/,
    );
    expect(() => validateKubernetesObject(withPod({ volumes: [{ name: "v", emptyDir: { size: "1Gi" } }] }))).toThrow(/volumes\[0\]\.emptyDir\.size: unknown field/);
    expect(() => validateKubernetesObject(withPod({ nodeSelector: { zone: 1 } }))).toThrow(/nodeSelector/);
    const binding = roleBindingManifest({ name: "rb", namespace: "ml", instance: "launch", roleName: "r", serviceAccountName: "sa", serviceAccountNamespace: "wandb" });
    expect(() => validateKubernetesObject({ ...binding, roleRef: { ...binding.roleRef, namespace: "ml" } })).toThrow(/roleRef\.namespace: unknown field/);
    expect(() => validateKubernetesObject({ apiVersion: "v1", kind: "Endpoints", metadata: { name: "s" } })).toThrow(/no schema registered for v1\/Endpoints/);
  });

  it("the agent pod meets the restricted Pod Security standard", () => {
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } });
    const [c] = pod.containers;
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(pod.volumes.every((v) => "emptyDir" in v || "configMap" in v)).toBe(true);
    expect(c.volumeMounts.map((m) => m.mountPath)).toEqual(["/tmp", "/home/launch_agent", "/home/launch_agent/.config/wandb"]);
    expect(pod.volumes.find((v) => v.name === "launch-config")).toEqual({
      name: "launch-config",
      configMap: { name: "launch-config", items: [{ key: "launch-config.yaml", path: "launch-config.yaml" }] },
    });
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-launch", key: "password" } } },
        { name: "WANDB_BASE_URL", value: "https://api.wandb.ai" },
        { name: "WANDB_LAUNCH_SERVICE_ACCOUNT_NAME", valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } } },
      ]),
    );
    expect(namespaceManifest("wandb", "launch").metadata.labels).toMatchObject({
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/warn": "restricted",
    });
  });

  it("labels every object with the app and the release, and sets the Pod Security levels asked for", () => {
    const common = { "app.kubernetes.io/name": "wandb-launch-agent", "app.kubernetes.io/instance": "rel", "app.kubernetes.io/managed-by": "pulumi", "app.kubernetes.io/part-of": "wandb-launch" };
    expect(commonLabels("rel")).toEqual(common);
    expect(namespaceManifest("ml", "rel").metadata.labels).toEqual({
      ...common,
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/warn-version": "latest",
      "pod-security.kubernetes.io/audit": "restricted",
      "pod-security.kubernetes.io/audit-version": "latest",
    });
    expect(podSecurityLabels("restricted", "baseline")).toMatchObject({
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/warn": "baseline",
      "pod-security.kubernetes.io/audit": "baseline",
    });
    const sa = serviceAccountManifest({ name: "sa", namespace: "ml", instance: "rel", annotations: {} });
    expect(sa.metadata.labels).toEqual(common);
    expect(sa.automountServiceAccountToken).toBe(true);
    expect(roleManifest({ name: "r", namespace: "ml", instance: "rel", rules: TARGET_NAMESPACE_RULES })).toMatchObject({ metadata: { labels: common }, rules: TARGET_NAMESPACE_RULES });
    const rb = roleBindingManifest({ name: "rb", namespace: "ml", instance: "rel", roleName: "r", serviceAccountName: "sa", serviceAccountNamespace: "wandb" });
    expect(rb.metadata).toEqual({ name: "rb", namespace: "ml", labels: common });
    expect(rb.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "r" });
    expect(configMapManifest({ name: "c", namespace: "ml", instance: "rel", launchConfigYaml: "x" })).toMatchObject({ metadata: { labels: common }, data: { "launch-config.yaml": "x" } });
    for (const secret of [
      apiKeySecretManifest({ name: "k", namespace: "ml", instance: "rel", apiKey: "v" }),
      azureStorageKeySecretManifest({ name: "k", namespace: "ml", instance: "rel", key: "v" }),
    ]) {
      expect(secret).toMatchObject({ type: "kubernetes.io/basic-auth", stringData: { password: "v" }, metadata: { labels: { ...common, "wandb.ai/created-by": "pulumi" } } });
    }
    // A known SHA-256 vector: the annotation must change exactly when the value does.
    expect(checksum("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("the Deployment: one agent at a time, a graceful stop, bounded resources, and the settings passed in", () => {
    const spec = deployment.spec;
    expect(deployment.metadata).toEqual({ name: "launch", namespace: "wandb", labels: commonLabels("launch") });
    expect(spec.replicas).toBe(1);
    expect(spec.strategy).toEqual({ type: "Recreate" });
    expect(spec.selector.matchLabels).toEqual({ "app.kubernetes.io/name": "wandb-launch-agent", "app.kubernetes.io/instance": "launch" });
    const pod = spec.template.spec;
    expect(pod.terminationGracePeriodSeconds).toBe(60);
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: "RuntimeDefault" } });
    expect(pod).not.toHaveProperty("nodeSelector");
    const [c] = pod.containers;
    expect(c).toMatchObject({ name: "launch-agent", image: "registry.example.com/launch-agent@sha256:abc", imagePullPolicy: "IfNotPresent" });
    expect(c.securityContext).toMatchObject({ privileged: false, runAsGroup: 1000, runAsUser: 1000 });
    expect(c.resources).toEqual({ requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "1", memory: "1Gi" } });
    expect(c.env[0]).toEqual({ name: "HOME", value: "/home/launch_agent" });
    expect(c.env).toHaveLength(5); // HOME, the key, the host, the build ServiceAccount, the health port
    expect(pod.volumes.slice(0, 2)).toEqual([
      { name: "tmp", emptyDir: { sizeLimit: "4Gi" } },
      { name: "home", emptyDir: { sizeLimit: "1Gi" } },
    ]);
    expect(c.volumeMounts[2]).toEqual({ name: "launch-config", mountPath: "/home/launch_agent/.config/wandb", readOnly: true });

    const custom = deploymentManifest({
      ...deploymentInputs,
      replicas: 3,
      resources: { requests: { cpu: "1", memory: "1Gi" } },
      imagePullPolicy: "Always",
      nodeSelector: { pool: "cpu" },
      extraEnv: [{ name: "AWS_REGION", value: "us-east-1" }],
      apiKeySecretKey: "token",
    });
    expect(custom.spec.replicas).toBe(3);
    const cc = custom.spec.template.spec.containers[0];
    expect(cc.resources).toEqual({ requests: { cpu: "1", memory: "1Gi" } });
    expect(cc.imagePullPolicy).toBe("Always");
    expect(custom.spec.template.spec.nodeSelector).toEqual({ pool: "cpu" });
    expect(cc.env.at(-1)).toEqual({ name: "AWS_REGION", value: "us-east-1" });
    expect(cc.env[1]).toEqual({ name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-launch", key: "token" } } });
    validateKubernetesObject(custom);
  });

  it("RBAC grants no list/watch on Secrets, no wildcards and no edits of pods", () => {
    const rules = [...TARGET_NAMESPACE_RULES, ...AGENT_NAMESPACE_RULES];
    for (const r of rules) {
      expect(r.verbs).not.toContain("*");
      expect(r.resources).not.toContain("*");
      if (r.resources.includes("secrets")) expect([...r.verbs].sort()).toEqual(["create", "delete", "get", "update"]);
      if (r.resources.includes("pods")) expect(r.verbs.sort()).toEqual(["list", "watch"]);
    }
  });
});

describe("RBAC covers exactly the Kubernetes calls the agent makes, namespace by namespace", () => {
  // Reads the agent's sources for @kubernetes/client-node calls, watch paths and log streams, so that a runner or
  // builder change that needs a new verb fails here instead of with 403s in a cluster, and a verb the agent no
  // longer uses fails here instead of lingering as unneeded privilege.
  it("target namespaces get the runner's calls; the agent namespace also the kaniko builder's", async () => {
    const calls = await agentKubeCalls();
    expect(calls.runner.size).toBeGreaterThan(8);
    expect(calls.builder.size).toBeGreaterThan(8);
    expect(sorted(granted(TARGET_NAMESPACE_RULES))).toEqual(sorted(calls.runner));
    expect(sorted(granted([...TARGET_NAMESPACE_RULES, ...AGENT_NAMESPACE_RULES]))).toEqual(sorted(new Set([...calls.runner, ...calls.builder])));
    // The agent role holds only what runs do not already grant.
    for (const t of granted(AGENT_NAMESPACE_RULES)) expect(calls.runner.has(t), t).toBe(false);
  });

  it("finds every kind of call, and refuses one it cannot map or attribute", () => {
    const src = [
      "await kube.core.readNamespacedSecret({ name, namespace });",
      "await kube.batch.replaceNamespacedJobStatus({ name, namespace, body });",
      "watch({ path: `/api/v1/namespaces/${namespace}/pods`, ...",
      "await new k8s.Log(kube.config).log(namespace, pod, c, out);",
      // Custom resources are granted per API group through extraTargetRules, not by these rules.
      "await custom.createNamespacedCustomObject({ group, version, namespace, plural, body });",
    ].join("\n");
    expect(sorted(callsIn("x.ts", src))).toEqual(["batch|jobs/status|update", "|pods/log|get", "|pods|list", "|pods|watch", "|secrets|get"]);
    expect(() => callsIn("x.ts", "core.createNamespacedEndpoints({})")).toThrow(/x\.ts: createNamespacedEndpoints\( touches Endpoints/);
  });
});

describe("LaunchAgent (Pulumi mocks)", () => {
  let mocks: MockRecorder;
  let LaunchAgent: typeof import("../../components/kubernetes/launch-agent.js").LaunchAgent;
  beforeAll(async () => {
    mocks = await installMocks();
    ({ LaunchAgent } = await import("../../components/kubernetes/launch-agent.js"));
  });
  beforeEach(() => mocks.clear());
  afterAll(() => mocks.clear());

  const env = (labels: Record<string, string> = {}): LaunchEnvironmentOutputs => ({
    environmentType: "azure",
    region: pulumi.output<string | null>(null),
    destination: pulumi.output("acmelaunch.azurecr.io/launch"),
    buildContextStore: pulumi.output("https://acmelaunch.blob.core.windows.net/build-contexts"),
    serviceAccountAnnotations: pulumi.output<Record<string, string>>({ "azure.workload.identity/client-id": "cid" }),
    podLabels: pulumi.output(labels),
    identity: pulumi.output("cid"),
  });
  const config = () => renderLaunchConfig(CLOUDS.azure!);

  async function deployAgent(extra: Partial<ConstructorParameters<typeof LaunchAgent>[1]> = {}) {
    const agent = new LaunchAgent("launch", {
      environment: env({ "azure.workload.identity/use": "true" }),
      launchConfigYaml: config(),
      image: "acmelaunch.azurecr.io/launch@sha256:1234",
      apiKey: pulumi.secret("0123456789abcdef0123456789abcdef01234567"),
      targetNamespaces: ["ml-runs"],
      ...extra,
    });
    await promiseOf(agent.deployment.id);
    await promiseOf(agent.serviceAccountName);
    await settle();
    return agent;
  }
  const kube = () => mocks.resources.filter((r) => r.type.startsWith("kubernetes:"));

  it("creates the namespace, identity-bound ServiceAccount, RBAC, config, secret and Deployment, all schema-valid", async () => {
    const agent = await deployAgent();
    expect(kube().map((r) => `${r.type} ${String((r.inputs.metadata as { namespace?: string }).namespace ?? "")}`).sort()).toEqual([
      "kubernetes:apps/v1:Deployment wandb",
      "kubernetes:core/v1:ConfigMap wandb",
      "kubernetes:core/v1:Namespace ",
      "kubernetes:core/v1:Secret wandb",
      "kubernetes:core/v1:ServiceAccount wandb",
      "kubernetes:policy/v1:PodDisruptionBudget wandb",
      "kubernetes:rbac.authorization.k8s.io/v1:Role ml-runs",
      "kubernetes:rbac.authorization.k8s.io/v1:Role wandb",
      "kubernetes:rbac.authorization.k8s.io/v1:Role wandb",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding ml-runs",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding wandb",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding wandb",
    ]);
    for (const r of kube()) validateKubernetesObject(r.inputs);
    expect(await promiseOf(agent.namespace)).toBe("wandb");

    const sa = mocks.one("kubernetes:core/v1:ServiceAccount").inputs.metadata as Record<string, Record<string, string>>;
    expect(sa.name).toBe("wandb-launch-agent");
    expect(sa.annotations).toEqual({ "azure.workload.identity/client-id": "cid" });

    // Every binding names the agent's ServiceAccount in the agent namespace.
    for (const b of mocks.byType("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")) {
      expect(b.inputs.subjects).toEqual([{ kind: "ServiceAccount", name: "wandb-launch-agent", namespace: "wandb" }]);
    }
    expect(mocks.byType("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")).toEqual([]);

    expect((mocks.one("kubernetes:core/v1:ConfigMap").inputs.data as Record<string, string>)["launch-config.yaml"]).toBe(config());

    const secret = mocks.one("kubernetes:core/v1:Secret");
    expect(secret.inputs.type).toBe("kubernetes.io/basic-auth");
    expect(secret.inputs.stringData).toEqual({ password: "0123456789abcdef0123456789abcdef01234567" });
    expect(secret.secretPaths.some((p) => p.startsWith("stringData"))).toBe(true);
    expect((secret.inputs.metadata as { labels: Record<string, string> }).labels["wandb.ai/created-by"]).toBe("pulumi");

    const dep = mocks.one("kubernetes:apps/v1:Deployment");
    expect(dep.secretPaths).toEqual([]); // the Deployment stays reviewable: no secret anywhere in it
    const tpl = (dep.inputs.spec as { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } }).template;
    expect(tpl.metadata.labels["azure.workload.identity/use"]).toBe("true");
    expect(tpl.metadata.annotations).toEqual({
      "checksum/config": checksum(config()),
      "checksum/secret": checksum("wandb-api-key:0123456789abcdef0123456789abcdef01234567"),
    });
    expect(JSON.stringify(dep.inputs)).not.toContain("0123456789abcdef0123456789abcdef01234567");
  });

  it("wires liveness and readiness probes to the agent's health endpoint, and a PodDisruptionBudget over its pods", async () => {
    await deployAgent();
    const dep = mocks.one("kubernetes:apps/v1:Deployment").inputs as ReturnType<typeof deploymentManifest>;
    const [c] = dep.spec.template.spec.containers;
    // The agent serves the endpoint only when told the port; the probes use the same one by name.
    expect(c!.env).toContainEqual({ name: "LAUNCH_AGENT_HEALTH_PORT", value: "8080" });
    expect(c!.ports).toEqual([{ name: "health", containerPort: 8080, protocol: "TCP" }]);
    expect(c!.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(c!.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "health" });
    const pdb = mocks.one("kubernetes:policy/v1:PodDisruptionBudget").inputs as ReturnType<typeof podDisruptionBudgetManifest>;
    // It selects exactly the Deployment's pods.
    expect(pdb.spec.selector.matchLabels).toEqual(dep.spec.selector.matchLabels);
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: "AlwaysAllow" });
    expect(mocks.resources.filter((r) => r.type.includes("ServiceMonitor") || r.type === "kubernetes:core/v1:Service")).toEqual([]);
  });

  it("creates a Service and a ServiceMonitor for /metrics when asked; healthPort false drops the endpoint and probes", async () => {
    await deployAgent({ serviceMonitor: true, healthPort: 9464, podDisruptionBudget: false });
    const dep = mocks.one("kubernetes:apps/v1:Deployment").inputs as ReturnType<typeof deploymentManifest>;
    const svc = mocks.one("kubernetes:core/v1:Service").inputs as ReturnType<typeof metricsServiceManifest>;
    validateKubernetesObject(svc);
    expect(svc.spec.selector).toEqual(dep.spec.selector.matchLabels);
    expect(svc.spec.ports).toEqual([{ name: "health", port: 9464, targetPort: "health", protocol: "TCP" }]);
    const sm = mocks.one("kubernetes:monitoring.coreos.com/v1:ServiceMonitor").inputs as { metadata: { namespace: string; labels: Record<string, string> }; spec: { selector: { matchLabels: Record<string, string> }; endpoints: unknown[] } };
    expect(sm.metadata.namespace).toBe("wandb");
    // The ServiceMonitor selects the Service by its labels and scrapes the named port.
    expect(Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => (svc.metadata.labels as Record<string, string>)[k] === v)).toBe(true);
    expect(sm.spec.endpoints).toEqual([{ port: "health", path: "/metrics", interval: "30s" }]);
    expect(mocks.byType("kubernetes:policy/v1:PodDisruptionBudget")).toEqual([]);

    mocks.clear();
    await deployAgent({ healthPort: false });
    const [plain] = (mocks.one("kubernetes:apps/v1:Deployment").inputs as ReturnType<typeof deploymentManifest>).spec.template.spec.containers;
    expect(plain!.env.map((e) => e.name)).not.toContain("LAUNCH_AGENT_HEALTH_PORT");
    expect(plain).not.toHaveProperty("livenessProbe");
    expect(plain).not.toHaveProperty("readinessProbe");
    expect(() => new LaunchAgent("bad", { environment: env(), launchConfigYaml: config(), image: "i", apiKey: "k", healthPort: false, serviceMonitor: true })).toThrow(/serviceMonitor needs the health port/);
  });

  it("rolls the pods when the config or the key changes", async () => {
    await deployAgent({ launchConfigYaml: renderLaunchConfig({ ...CLOUDS.azure!, maxJobs: 2 }), apiKey: pulumi.secret("another-key") });
    const tpl = (mocks.one("kubernetes:apps/v1:Deployment").inputs.spec as { template: { metadata: { annotations: Record<string, string> } } }).template;
    expect(tpl.metadata.annotations["checksum/config"]).not.toBe(checksum(config()));
    expect(tpl.metadata.annotations["checksum/secret"]).toBe(checksum("wandb-api-key:another-key"));
  });

  it("references an existing API-key Secret instead of creating one", async () => {
    await deployAgent({ apiKey: undefined, apiKeySecretName: "team-wandb-key", apiKeySecretKey: "token", createNamespace: false });
    expect(mocks.byType("kubernetes:core/v1:Secret")).toEqual([]);
    expect(mocks.byType("kubernetes:core/v1:Namespace")).toEqual([]);
    const dep = mocks.one("kubernetes:apps/v1:Deployment").inputs as { spec: { template: { spec: { containers: Array<{ env: unknown[] }> } } } };
    expect(dep.spec.template.spec.containers[0]!.env).toContainEqual({
      name: "WANDB_API_KEY",
      valueFrom: { secretKeyRef: { name: "team-wandb-key", key: "token" } },
    });
  });

  it("creates the Azure storage-key Secret kaniko needs, in the agent's namespace (where our agent looks)", async () => {
    await deployAgent({ azureStorageAccessKey: pulumi.secret("storage-key==") });
    const secrets = mocks.byType("kubernetes:core/v1:Secret");
    const key = secrets.find((s) => (s.inputs.metadata as { name: string }).name === "azure-storage-access-key")!;
    expect(key.inputs).toMatchObject({ type: "kubernetes.io/basic-auth", stringData: { password: "storage-key==" }, metadata: { namespace: "wandb" } });
    expect(key.secretPaths.length).toBeGreaterThan(0);
    mocks.clear();
    await deployAgent({ namespace: "ml", azureStorageAccessKey: pulumi.secret("storage-key==") });
    const moved = mocks.byType("kubernetes:core/v1:Secret").find((s) => (s.inputs.metadata as { name: string }).name === "azure-storage-access-key")!;
    expect(moved.inputs.metadata).toMatchObject({ namespace: "ml" });
  });

  it("orders each object after what it needs, parents them all to the component, and registers its outputs", async () => {
    const agent = await deployAgent({ azureStorageAccessKey: pulumi.secret("storage-key=="), serviceMonitor: true });
    const urn = (type: string, name: string) => mocks.named(type, name).urn!;
    const depsOf = (type: string, name: string) => mocks.named(type, name).dependencies;
    const K = {
      ns: "kubernetes:core/v1:Namespace",
      sa: "kubernetes:core/v1:ServiceAccount",
      role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
      binding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
      cm: "kubernetes:core/v1:ConfigMap",
      secret: "kubernetes:core/v1:Secret",
      dep: "kubernetes:apps/v1:Deployment",
      svc: "kubernetes:core/v1:Service",
      sm: "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
    };
    // A RoleBinding to a Role not yet created is refused by the API server's escalation check.
    for (const [kind, tail] of [["agent", ""], ["runs", ""], ["runs", "-ml-runs"]] as const) {
      expect(depsOf(K.binding, `launch-${kind}-binding${tail}`), `${kind}${tail}`).toContain(urn(K.role, `launch-${kind}-role${tail}`));
    }
    // The pods start only once their ServiceAccount, config and both Secrets exist.
    expect(depsOf(K.dep, "launch-deployment")).toEqual(
      expect.arrayContaining([urn(K.sa, "launch-service-account"), urn(K.cm, "launch-config"), urn(K.secret, "launch-api-key"), urn(K.secret, "launch-azure-storage-key")]),
    );
    expect(depsOf(K.sm, "launch-service-monitor")).toContain(urn(K.svc, "launch-metrics"));
    // Everything namespaced waits for the namespace it lives in.
    const nsUrn = urn(K.ns, "launch-namespace");
    const own = mocks.resources.filter((r) => r.type.startsWith("kubernetes:") && r.type !== K.ns);
    for (const r of own.filter((x) => (x.inputs.metadata as { namespace?: string }).namespace === "wandb")) expect(r.dependencies, r.name).toContain(nsUrn);
    const component = mocks.one("wandb-launch:kubernetes:LaunchAgent");
    expect(mocks.childrenOf(component)).toEqual(mocks.resources.filter((r) => r.type.startsWith("kubernetes:")));
    expect(component.outputs).toEqual({ namespace: "wandb", serviceAccountName: "wandb-launch-agent", deploymentName: "launch", configMapName: "launch-config" });
    expect(await promiseOf(agent.namespace)).toBe("wandb");
  });

  it("AgentImage: builds the root Dockerfile for linux/amd64 on up only, pushes with the secret login, and exposes the pinned digest", async () => {
    const { AgentImage } = await import("../../components/kubernetes/agent-image.js");
    const auth = { address: "acmelaunch.azurecr.io", username: "00000000-0000-0000-0000-000000000000", password: "acr-token" };
    const image = new AgentImage("agent", { repository: "acmelaunch.azurecr.io/launch", registryAuth: auth, context: "." });
    const ref = await promiseOf(image.ref);
    await settle();
    const built = mocks.one("docker-build:index:Image");
    expect(built.name).toBe("agent-image");
    expect(built.inputs).toEqual({
      context: { location: "." },
      dockerfile: { location: "./Dockerfile" },
      network: "default", // the SDK's default
      platforms: ["linux/amd64"],
      tags: ["acmelaunch.azurecr.io/launch:launch-agent"],
      push: true,
      buildOnPreview: false,
      registries: [auth],
    });
    // The login is a secret in the state (the SDK marks the whole list when one element is secret).
    expect(built.secretPaths).toEqual(["registries"]);
    expect(ref).toMatch(/^acmelaunch\.azurecr\.io\/launch@sha256:[0-9a-f]{64}$/);
    const component = mocks.one("wandb-launch:kubernetes:AgentImage");
    expect(built.parent).toBe(component.urn);
    expect(component.outputs).toEqual({ ref });

    mocks.clear();
    new AgentImage("arm", { repository: "r.example.com/x", registryAuth: auth, context: "build", tag: "v2", platforms: ["linux/arm64"] });
    await settle();
    expect(mocks.one("docker-build:index:Image").inputs).toMatchObject({ dockerfile: { location: "build/Dockerfile" }, platforms: ["linux/arm64"], tags: ["r.example.com/x:v2"] });
  });

  it("needs exactly one API-key source", () => {
    expect(() => new LaunchAgent("y", { environment: env(), launchConfigYaml: config(), image: "i" })).toThrow(/exactly one of apiKey/);
  });

  it("keeps the API key out of every non-secret output", async () => {
    const agent = await deployAgent();
    expect(await isSecretOutput(agent.deployment.spec)).toBe(false);
  });
});
