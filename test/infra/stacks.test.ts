import { readFile, rm } from "node:fs/promises";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { validateAgentConfig } from "../../agent/config/index.js";
import { parseStackConfig, StackConfigError } from "../../stacks/config.js";
import { main, MASK, type Rendered, renderStack } from "../../stacks/render.js";
import { validateKubernetesObject } from "./k8s-schema.js";
import { installMocks, promiseOf, settle } from "./mocks.js";

describe("Pulumi mocks", () => {
  it("return provider-computed state, record inputs with secrets unwrapped, and reject unknown invokes", async () => {
    const mocks = await installMocks();
    const aws = await import("@pulumi/aws");
    const k8s = await import("@pulumi/kubernetes");
    const repo = new aws.ecr.Repository("r", { name: "agent" });
    const secret = new k8s.core.v1.Secret("s", { metadata: { namespace: "wandb" }, stringData: { password: pulumi.secret("k") } });
    expect(await promiseOf(repo.repositoryUrl)).toBe("123456789012.dkr.ecr.us-west-2.amazonaws.com/agent");
    expect(await promiseOf(repo.arn)).toBe("arn:aws:ecr:us-west-2:123456789012:repository/agent");
    expect(await promiseOf(secret.id)).toMatch(/^wandb\/s-[0-9a-f]{7}$/);
    await settle();
    const rec = mocks.one("kubernetes:core/v1:Secret");
    expect(rec.inputs.stringData).toEqual({ password: "k" });
    expect(rec.secretPaths).toContain("stringData");
    expect((await aws.getCallerIdentity()).accountId).toBe("123456789012");
    await expect(aws.getAvailabilityZones()).rejects.toThrow(/no stub for invoke "aws:index\/getAvailabilityZones/);
    expect(mocks.callErrors).toHaveLength(1);
  });
});

describe("stack config", () => {
  const base = {
    "wandb-launch:cloud": "aws",
    "aws:region": "us-west-2",
    "wandb-launch:eksClusterName": "eks",
    "wandb-launch:queues": '["q"]',
    "wandb-launch:apiKey": "secret-value-1234",
  };
  const problems = (flat: Record<string, string>): string[] => {
    try {
      parseStackConfig(flat);
    } catch (err) {
      if (err instanceof StackConfigError) return err.problems;
      throw err;
    }
    return [];
  };

  it("applies defaults and parses lists and numbers", () => {
    const cfg = parseStackConfig({ ...base, "wandb-launch:maxJobs": "4", "wandb-launch:targetNamespaces": "ml-a, ml-b" });
    expect(cfg).toMatchObject({ cloud: "aws", queues: ["q"], maxJobs: 4, namespace: "wandb", serviceAccountName: "wandb-launch-agent", targetNamespaces: ["ml-a", "ml-b"] });
  });

  it("takes the agent's health port (or false for the official image), the ServiceMonitor and PDB switches", () => {
    expect(parseStackConfig({ ...base, "wandb-launch:healthPort": "9464", "wandb-launch:serviceMonitor": "true", "wandb-launch:podDisruptionBudget": "false" })).toMatchObject({
      healthPort: 9464,
      serviceMonitor: true,
      podDisruptionBudget: false,
    });
    expect(parseStackConfig({ ...base, "wandb-launch:healthPort": "false" })).toMatchObject({ healthPort: false });
    // A privileged port cannot be bound by the non-root agent.
    expect(problems({ ...base, "wandb-launch:healthPort": "80" })[0]).toMatch(/^wandb-launch:healthPort/);
  });

  it("takes extra RBAC rules for custom resources as JSON, and names a bad verb", () => {
    const rules = [{ apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "get", "list", "watch", "delete"] }];
    expect(parseStackConfig({ ...base, "wandb-launch:extraTargetRules": JSON.stringify(rules) })).toMatchObject({ extraTargetRules: rules });
    expect(problems({ ...base, "wandb-launch:extraTargetRules": JSON.stringify([{ ...rules[0], verbs: ["escalate"] }]) })[0]).toMatch(/^wandb-launch:extraTargetRules/);
  });

  it("names the pulumi config key and the fix for every problem, never a secret value", () => {
    expect(problems({})).toEqual([expect.stringMatching(/^wandb-launch:cloud is not set: run `pulumi config set wandb-launch:cloud <aws\|gcp\|azure\|kubernetes>`/)]);
    expect(problems({ ...base, "wandb-launch:cloud": "aks" })[0]).toMatch(/wandb-launch:cloud is "aks": use one of aws, gcp, azure, kubernetes/);
    const p = problems({ ...base, "aws:region": "", "wandb-launch:queues": "[]", "wandb-launch:maxJobs": "lots", "wandb-launch:namespce": "x", "wandb-launch:resourceGroupName": "rg" });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^aws:region is not set: .*`pulumi config set aws:region us-west-2`/),
        expect.stringMatching(/^wandb-launch:queues needs at least one queue/),
        expect.stringMatching(/^wandb-launch:maxJobs .*\(got "lots"\)/),
        expect.stringMatching(/^wandb-launch:namespce is not a setting of this program \(did you mean wandb-launch:namespace\?\)/),
        expect.stringMatching(/^wandb-launch:resourceGroupName does not apply to cloud aws/),
      ]),
    );
    const noKey = { ...base } as Record<string, string>;
    delete noKey["wandb-launch:apiKey"];
    expect(problems(noKey)).toEqual([expect.stringContaining("pulumi config set --secret wandb-launch:apiKey")]);
    expect(problems({ ...base, "wandb-launch:apiKeySecretName": "Bad_Name" }).join("\n")).not.toContain("secret-value-1234");
    expect(problems({ ...base, "wandb-launch:eksClusterName": undefined as unknown as string })).toEqual([expect.stringMatching(/wandb-launch:eksClusterName is required/)]);
    // Our agent reads kaniko's Azure storage key from its own namespace: any namespace works on Azure.
    expect(problems({ "wandb-launch:cloud": "azure", "wandb-launch:queues": "q", "wandb-launch:apiKey": "k", "wandb-launch:resourceGroupName": "rg", "wandb-launch:aksClusterName": "a", "wandb-launch:namespace": "ml" })).toEqual([]);
    expect(problems({ "wandb-launch:cloud": "kubernetes", "wandb-launch:queues": "q", "wandb-launch:apiKey": "k", "wandb-launch:destination": "r.example.com/x", "wandb-launch:buildContextStore": "gs://b/p", "wandb-launch:s3CredentialsSecretName": "s", "wandb-launch:contextExpirationDays": "3" })).toEqual([
      expect.stringMatching(/^wandb-launch:buildContextStore must be an s3:\/\/<bucket>\/<prefix> URI .*\(got "gs:\/\/b\/p"\)/),
      expect.stringMatching(/^wandb-launch:contextExpirationDays does not apply to cloud kubernetes: remove it/),
    ]);
  });
});

describe("npm run render", () => {
  const rendered: Record<string, Rendered> = {};
  const stacks = ["aws", "gcp", "azure", "kubernetes"] as const;

  it.each(stacks)("renders %s from its sample stack file with no credentials", async (stack) => {
    const r = await renderStack(stack);
    rendered[stack] = r;
    expect(r.outputs.cloud).toBe(stack);
    for (const k of ["registry", "bucket", "identity", "namespace", "serviceAccount", "agentImage", "launchConfig"]) {
      expect(typeof r.outputs[k], k).toBe("string");
    }
    // The exported config is the one in the ConfigMap, and the agent accepts it.
    const cm = r.resources.find((x) => x.type === "kubernetes:core/v1:ConfigMap")!;
    const yaml = (cm.inputs.data as Record<string, string>)["launch-config.yaml"]!;
    expect(yaml).toBe(r.outputs.launchConfig);
    const doc = parse(yaml) as { builder: Record<string, unknown>; environment: { type: string; region: unknown } };
    const check = validateAgentConfig(doc);
    expect(check.errors).toEqual([]);
    expect(check.warnings).toEqual(stack === "kubernetes" ? [expect.stringContaining("Unable to recognize registry type")] : []);
    expect(doc.builder.destination).toBe(r.outputs.registry);
    expect(doc.builder["build-context-store"]).toBe(r.outputs.bucket);
    expect(doc.environment.region).toBe({ aws: "us-west-2", gcp: "us-central1", azure: null, kubernetes: "us-east-1" }[stack]);

    // Every Kubernetes object is schema-valid, every resource has a type, name, inputs and state.
    const kube = r.resources.filter((x) => x.type.startsWith("kubernetes:"));
    expect(kube.length).toBeGreaterThanOrEqual(8);
    for (const obj of kube) validateKubernetesObject(obj.inputs);
    for (const res of r.resources) expect(Object.keys(res)).toEqual(["type", "name", "inputs", "state"]);

    // Secrets are masked everywhere.
    const text = JSON.stringify(r);
    expect(text).not.toContain("placeholder-api-key");
    expect(text).not.toMatch(/mock-(ecr-password|gcp-access-token|storage-key)/);
    const secret = r.resources.find((x) => x.type === "kubernetes:core/v1:Secret" && (x.inputs.metadata as { name: string }).name.startsWith("wandb-api-key"))!;
    expect(secret.inputs.stringData).toEqual({ password: MASK });
    // The ServiceAccount carries the identity the cloud trusts.
    const sa = r.resources.find((x) => x.type === "kubernetes:core/v1:ServiceAccount")!;
    const annotations = (sa.inputs.metadata as { annotations: Record<string, string> }).annotations;
    const expected = { aws: "eks.amazonaws.com/role-arn", gcp: "iam.gke.io/gcp-service-account", azure: "azure.workload.identity/client-id", kubernetes: undefined }[stack];
    if (expected) expect(annotations[expected]).toBe(r.outputs.identity);
    else expect(annotations).toEqual({});
  });

  it("keeps resource names (and so URNs) stable: a rename would replace live infrastructure", () => {
    const names = (stack: string) => rendered[stack]!.resources.map((x) => `${x.type} ${x.name}`).sort();
    expect(names("aws")).toEqual([
      "aws:ecr/lifecyclePolicy:LifecyclePolicy wandb-launch-registry-lifecycle",
      "aws:ecr/repository:Repository wandb-launch-registry",
      "aws:iam/role:Role wandb-launch-agent",
      "aws:iam/rolePolicy:RolePolicy wandb-launch-agent-policy",
      "aws:s3/bucket:Bucket wandb-launch-contexts",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration wandb-launch-contexts-lifecycle",
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls wandb-launch-contexts-ownership",
      "aws:s3/bucketPolicy:BucketPolicy wandb-launch-contexts-tls-only",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock wandb-launch-contexts-public-access",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration wandb-launch-contexts-encryption",
      "docker-build:index:Image wandb-launch-agent-image",
      "kubernetes:apps/v1:Deployment wandb-launch-deployment",
      "kubernetes:core/v1:ConfigMap wandb-launch-config",
      "kubernetes:core/v1:Namespace wandb-launch-namespace",
      "kubernetes:core/v1:Secret wandb-launch-api-key",
      "kubernetes:core/v1:ServiceAccount wandb-launch-service-account",
      "kubernetes:policy/v1:PodDisruptionBudget wandb-launch-pdb",
      "kubernetes:rbac.authorization.k8s.io/v1:Role wandb-launch-agent-role",
      "kubernetes:rbac.authorization.k8s.io/v1:Role wandb-launch-runs-role",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding wandb-launch-agent-binding",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding wandb-launch-runs-binding",
      "pulumi:providers:kubernetes wandb-launch-cluster",
      "wandb-launch:aws:LaunchEnvironment wandb-launch",
      "wandb-launch:kubernetes:AgentImage wandb-launch-agent",
      "wandb-launch:kubernetes:LaunchAgent wandb-launch",
    ]);
  });

  it("builds the agent image into the environment's registry when no image is named", () => {
    for (const stack of ["aws", "gcp"] as const) {
      const image = rendered[stack]!.resources.find((x) => x.type === "docker-build:index:Image")!;
      expect(image.inputs).toMatchObject({ push: true, context: { location: "." }, dockerfile: { location: "./Dockerfile" }, registries: [{ address: MASK, username: MASK, password: MASK }] });
      const repo = String(rendered[stack]!.outputs.registry);
      // On GCP the agent image sits next to the run image, outside the run image's cleanup rules.
      expect(image.inputs.tags).toEqual([`${stack === "gcp" ? repo.replace(/\/launch-job$/, "/launch-agent") : repo}:launch-agent`]);
      const dep = rendered[stack]!.resources.find((x) => x.type === "kubernetes:apps/v1:Deployment")!;
      const img = (dep.inputs.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]!.image;
      expect(img).toBe(rendered[stack]!.outputs.agentImage);
      expect(img).toMatch(/@sha256:[0-9a-f]{64}$/);
    }
    expect(rendered.azure!.resources.some((x) => x.type === "docker-build:index:Image")).toBe(false);
  });

  it("kubernetes kind: grants the sample's extraTargetRules (Volcano Jobs) to the agent in the run namespace, and only there", () => {
    const roles = rendered.kubernetes!.resources.filter((x) => x.type === "kubernetes:rbac.authorization.k8s.io/v1:Role");
    const volcano = { apiGroups: ["batch.volcano.sh"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "delete"] };
    expect(roles.find((x) => x.name === "wandb-launch-runs-role")!.inputs.rules).toContainEqual(volcano);
    for (const stack of ["aws", "gcp", "azure"] as const) {
      const runs = rendered[stack]!.resources.find((x) => x.name === "wandb-launch-runs-role")!;
      expect(JSON.stringify(runs.inputs.rules)).not.toContain("volcano");
    }
  });

  it("kubernetes kind: wires the store's Secret and endpoint into the agent and kaniko, and the registry Secret into kaniko", () => {
    const r = rendered.kubernetes!;
    const dep = r.resources.find((x) => x.type === "kubernetes:apps/v1:Deployment")!;
    const env = (dep.inputs.spec as { template: { spec: { containers: Array<{ env: unknown[] }> } } }).template.spec.containers[0]!.env;
    const ref = (key: string) => ({ name: key, valueFrom: { secretKeyRef: { name: "launch-s3-credentials", key } } });
    expect(env).toEqual(
      expect.arrayContaining([
        ref("AWS_ACCESS_KEY_ID"),
        ref("AWS_SECRET_ACCESS_KEY"),
        { name: "AWS_REGION", value: "us-east-1" },
        { name: "AWS_ENDPOINT_URL_S3", value: "https://object.example.com" },
        { name: "S3_ENDPOINT", value: "https://object.example.com" },
        { name: "WANDB_LAUNCH_KANIKO_AUTH_SECRET", value: "launch-registry-auth" },
      ]),
    );
    const doc = parse(String(r.outputs.launchConfig)) as { builder: { "kaniko-config": { spec: { template: { spec: { containers: Array<{ env: unknown[] }> } } } } } };
    expect(doc.builder["kaniko-config"].spec.template.spec.containers[0]!.env).toEqual(
      expect.arrayContaining([ref("AWS_ACCESS_KEY_ID"), { name: "S3_ENDPOINT", value: "https://object.example.com" }, { name: "S3_FORCE_PATH_STYLE", value: "true" }]),
    );
    // Nothing is created outside the cluster.
    expect(r.resources.every((x) => x.type.startsWith("kubernetes:") || x.type.startsWith("wandb-launch:"))).toBe(true);
  });

  it("the CLI writes render/<stack>.json and fails with the pulumi config key on bad config", async () => {
    await rm("render/kubernetes.json", { force: true });
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    const ewrite = vi.spyOn(process.stderr, "write").mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(await main(["kubernetes"])).toBe(0);
      expect(await main(["nope"])).toBe(1);
      expect(await main([])).toBe(2);
    } finally {
      write.mockRestore();
      ewrite.mockRestore();
    }
    // The kubernetes sample names existing Secrets, so the stack does not create the namespace.
    expect(out.join("")).toMatch(/render\/kubernetes\.json: 10 resources/);
    expect(out.join("")).toMatch(/No stack config .*Pulumi\.nope\.yaml: create it with `pulumi stack init nope`/);
    expect(out.join("")).toMatch(/usage: npm run render -- <stack>/);
    const file = JSON.parse(await readFile("render/kubernetes.json", "utf8")) as Rendered;
    expect(file.outputs.cloud).toBe("kubernetes");
    expect(file.resources).toHaveLength(10);
  });
});

describe("agent image Dockerfile", () => {
  it("copies only files the build context keeps, and runs the compiled agent as uid 1000", async () => {
    const dockerfile = await readFile("Dockerfile", "utf8");
    const ignore = (await readFile(".dockerignore", "utf8")).split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
    expect(ignore[0]).toBe("*");
    const kept = ignore.filter((l) => l.startsWith("!")).map((l) => l.slice(1).replace(/\/$/, ""));
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/));
    expect(sources.length).toBeGreaterThan(3);
    for (const src of sources) expect(kept, `${src} is copied but excluded by .dockerignore`).toContain(src.replace(/\*$/, ""));
    expect(dockerfile).toMatch(/^USER 1000:1000$/m);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/app\/bin\/launch-agent\.js"\]$/m);
    // The official Node LTS image unless a build argument names another base (CI makes its own).
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=node:\d+-bookworm-slim$/m);
    expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1])).toEqual(["${BASE_IMAGE}", "runtime-base", "${BASE_IMAGE}", "${BASE_IMAGE}", "runtime-base"]);
    // The entrypoint falls back to dist/ when the TypeScript sources are absent, as they are in the image.
    const bin = await readFile("bin/entry.js", "utf8");
    expect(bin).toContain('join(root, "dist", "agent", "cli.js")');
    const build = JSON.parse(await readFile("tsconfig.build.json", "utf8")) as { compilerOptions: { outDir: string } };
    expect(build.compilerOptions.outDir).toBe("dist");
  });
});
