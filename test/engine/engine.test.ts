// The engine's contract: the program runs as `pulumi preview` runs it (language host command line, working
// directory, config environment) against a gRPC monitor that checks what the providers would reject. Each stack
// kind runs with and without `agentImage`.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readStackFile, renderStack } from "../../stacks/render.js";
import { checkResource, requiredInputs } from "./checks.js";
import { type EngineRun, explain, ofType, REPO_ROOT, runEngine } from "./harness.js";
import { UNKNOWN } from "./wire.js";

const NS = "wandb-launch";

/** Runs `pulumi preview` (or `up`) for a sample stack file with some keys changed (`undefined` removes a key). */
async function preview(stack: string, changes: Record<string, string | undefined> = {}, extra: { secret?: string[]; main?: string; dryRun?: boolean } = {}): Promise<EngineRun> {
  const { config, secretKeys } = await readStackFile(stack);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) delete config[k];
    else config[k] = v;
  }
  return runEngine({
    stack,
    config,
    secretKeys: [...secretKeys, ...(extra.secret ?? [])],
    dryRun: extra.dryRun ?? true,
    ...(extra.main !== undefined ? { project: { main: extra.main } } : {}),
  });
}

const deploymentImage = (run: EngineRun) => {
  const [dep] = ofType(run, "kubernetes:apps/v1:Deployment");
  return (dep!.inputs.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]!.image;
};

// Each run is a node process importing the cloud SDKs (~3 s of CPU): allow for a loaded machine.
const SLOW = { timeout: 240_000 };

describe("engine contract: how the program is started", SLOW, () => {
  let aws: EngineRun;

  it("runs in the project root with the language host's node arguments, entry and PULUMI_* environment", async () => {
    aws = await preview("aws");
    expect(aws.ok, explain(aws)).toBe(true);
    expect(aws.info.pwd).toBe(REPO_ROOT);
    // nodeargs from Pulumi.yaml, then @pulumi/pulumi's cmd/run resolved from the program directory, then the flags.
    expect(aws.args.slice(0, 3)).toEqual(["--import", "tsx", join(REPO_ROOT, "node_modules/@pulumi/pulumi/cmd/run/index.js")]);
    const flag = (k: string) => aws.args[aws.args.indexOf(`--${k}`) + 1];
    expect([flag("project"), flag("stack"), flag("organization"), flag("root-directory"), flag("pwd")]).toEqual(["wandb-launch", "aws", "organization", REPO_ROOT, REPO_ROOT]);
    expect(aws.args).toContain("--dry-run");
    expect(aws.args.at(-1)).toBe(".");
    // Config arrives in the language host's "<ns>:config:<key>" form; secret keys as the engine names them.
    const config = JSON.parse(aws.pulumiEnv.PULUMI_CONFIG!) as Record<string, string>;
    expect(config).toMatchObject({ [`${NS}:config:cloud`]: "aws", "aws:config:region": "us-west-2", [`${NS}:config:queues`]: '["eks-gpu"]' });
    expect(JSON.parse(aws.pulumiEnv.PULUMI_CONFIG_SECRET_KEYS!)).toEqual([`${NS}:apiKey`]);
    expect(aws.pulumiEnv.PULUMI_NODEJS_TYPESCRIPT).toBeUndefined();
    expect(aws.featuresAsked).toEqual(expect.arrayContaining(["secrets", "resourceReferences", "outputValues"]));
    expect(aws.stackResource?.type).toBe("pulumi:pulumi:Stack");
    expect(aws.stackResource?.outputs?.cloud).toBe("aws");
  });

  it("records parents, invokes and secrets as the engine sees them", () => {
    const byUrn = new Map(aws.registrations.map((r) => [r.urn, r]));
    for (const r of aws.registrations.filter((x) => x.type !== "pulumi:pulumi:Stack")) expect(byUrn.has(r.parent), `${r.type} ${r.name}`).toBe(true);
    const [image] = ofType(aws, "docker-build:index:Image");
    expect(byUrn.get(image!.parent)?.type).toBe("wandb-launch:kubernetes:AgentImage");
    expect(image!.urn).toBe("urn:pulumi:aws::wandb-launch::wandb-launch:kubernetes:AgentImage$docker-build:index:Image::wandb-launch-agent-image");
    expect(aws.invokes.find((i) => i.token === "aws:eks/getCluster:getCluster")?.args).toMatchObject({ name: "my-eks" });
    expect(aws.invokes.every((i) => i.failure === undefined)).toBe(true);
    const [secret] = ofType(aws, "kubernetes:core/v1:Secret");
    expect(secret!.secretPaths).toContain("stringData");
  });

  it("docker-build does not build on preview: a preview needs no Docker daemon", () => {
    const [image] = ofType(aws, "docker-build:index:Image");
    expect(image!.inputs).toMatchObject({ buildOnPreview: false, push: true, context: { location: "." }, dockerfile: { location: "./Dockerfile" } });
    expect(image!.failures).toEqual([]);
    // The push credentials come from the registry created in the same preview: unknown until `up`.
    expect(image!.unknownPaths).toEqual(expect.arrayContaining(["registries.0.password", "tags.0"]));
  });

  it("fails at preview, naming the engine's working directory, when Pulumi.yaml's `main` moves it to stacks/", async () => {
    const run = await preview("aws", {}, { main: "stacks/index.ts" });
    expect(run.ok).toBe(false);
    expect(run.info.pwd).toBe(join(REPO_ROOT, "stacks"));
    expect(run.args.at(-1)).toBe("index.ts");
    expect(run.errors[0]).toBe(
      `docker-build:index:Image resource 'wandb-launch-agent-image': property dockerfile.location value {./Dockerfile} has a problem: open ${REPO_ROOT}/stacks/Dockerfile: no such file or directory (the engine's working directory is ${REPO_ROOT}/stacks)`,
    );
  });

  it("`pulumi up` registers exactly what the preview showed (npm run render runs the same harness)", async () => {
    const rendered = await renderStack("aws");
    const names = (xs: Array<{ type: string; name: string }>) => xs.map((x) => `${x.type} ${x.name}`).sort();
    expect(names(rendered.resources)).toEqual(names(aws.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack")));
  });
});

describe("engine contract: every stack kind, with and without agentImage", SLOW, () => {
  const pinned = "registry.example.com/ml/launch-agent:1.2.3";

  it.each(["aws", "gcp"])("%s: builds the agent image when none is named, and uses a named one as is", async (stack) => {
    const built = await preview(stack);
    expect(built.ok, explain(built)).toBe(true);
    expect(ofType(built, "docker-build:index:Image")).toHaveLength(1);
    expect(deploymentImage(built)).toBe(UNKNOWN);
    const named = await preview(stack, { [`${NS}:agentImage`]: pinned });
    expect(named.ok, explain(named)).toBe(true);
    expect(ofType(named, "docker-build:index:Image")).toHaveLength(0);
    expect(deploymentImage(named)).toBe(pinned);
  });

  it("azure: uses the named image; without one the preview stops with the config error a user sees", async () => {
    const named = await preview("azure");
    expect(named.ok, explain(named)).toBe(true);
    expect(deploymentImage(named)).toBe("mlacr.azurecr.io/launch:agent");
    const missing = await preview("azure", { [`${NS}:agentImage`]: undefined });
    expect(missing.ok).toBe(false);
    // The SDK logged the message itself (exit 32): `pulumi preview` prints exactly this, without a stack trace.
    expect(missing.exit.code).toBe(32);
    expect(missing.errors).toEqual([expect.stringMatching(/^Invalid stack config:\n {2}wandb-launch:agentImage is not set and azure cannot mint registry credentials/)]);
    expect(missing.registrations.map((r) => r.type)).toEqual(["pulumi:pulumi:Stack"]);
  });

  it("a lookup the program rejects inside an apply fails the preview with its message (it hung on Node 20.20)", async () => {
    const { config, secretKeys } = await readStackFile("aws");
    const noIssuer = { "aws:eks/getCluster:getCluster": (i: Record<string, unknown>) => ({ id: String(i.name), name: String(i.name), arn: "arn:aws:eks:us-west-2:123456789012:cluster/my-eks", endpoint: "https://eks.example", identities: [{ oidcs: [] }], certificateAuthorities: [{ data: "Y2E=" }], version: "1.33", status: "ACTIVE" }) };
    const run = await runEngine({ stack: "aws", config, secretKeys, dryRun: true, calls: noIssuer, timeoutMs: 90_000 });
    expect(run.exit.code).toBe(32);
    expect(run.errors).toEqual([expect.stringContaining("EKS cluster my-eks has no OIDC issuer (wandb-launch:eksClusterName)")]);
  });

  it("kubernetes: uses the named image, or builds into the destination with the registry password as a secret", async () => {
    const named = await preview("kubernetes");
    expect(named.ok, explain(named)).toBe(true);
    expect(deploymentImage(named)).toBe("registry.example.com/ml/launch-agent:0.1.0");
    const built = await preview(
      "kubernetes",
      { [`${NS}:agentImage`]: undefined, [`${NS}:registryUsername`]: "pusher", [`${NS}:registryPassword`]: "pw-1234567" },
      { secret: [`${NS}:registryPassword`] },
    );
    expect(built.ok, explain(built)).toBe(true);
    const [image] = ofType(built, "docker-build:index:Image");
    expect(image!.inputs).toMatchObject({ buildOnPreview: false, tags: ["registry.example.com/ml/launch:launch-agent"], registries: [{ address: "registry.example.com", username: "pusher", password: "pw-1234567" }] });
    expect(image!.secretPaths).toContain("registries.0.password");
  });
});

describe("provider checks the harness applies", () => {
  it("learns required inputs from the provider SDKs", () => {
    expect(requiredInputs("gcp:artifactregistry/repository:Repository")).toEqual(expect.arrayContaining(["format", "repositoryId"]));
    expect(requiredInputs("docker-build:index:Image")).toContain("push");
    expect(() => requiredInputs("aws:nope/thing:Thing")).toThrow(/cannot find the SDK class of aws:nope\/thing:Thing/);
  });

  it("rejects names each service rejects, and accepts the valid ones", () => {
    const bad: Array<[string, Record<string, unknown>, string]> = [
      ["aws:ecr/repository:Repository", { name: "Agent_Images" }, "name"],
      ["aws:s3/bucket:Bucket", { bucket: "My.Bucket" }, "bucket"],
      ["gcp:artifactregistry/repository:Repository", { format: "DOCKER", repositoryId: "1launch" }, "repositoryId"],
      ["gcp:projects/iAMCustomRole:IAMCustomRole", { roleId: "wandb-launch", title: "t", permissions: ["a"] }, "roleId"],
      ["gcp:serviceaccount/account:Account", { accountId: "abc" }, "accountId"],
      ["azure-native:containerregistry:Registry", { resourceGroupName: "rg", sku: { name: "Basic" }, registryName: "wandb-acr" }, "registryName"],
      ["azure-native:storage:StorageAccount", { resourceGroupName: "rg", kind: "StorageV2", sku: { name: "Standard_LRS" }, accountName: "WandbContexts" }, "accountName"],
      ["kubernetes:core/v1:ServiceAccount", { metadata: { name: "Agent_SA", namespace: "wandb" } }, "metadata.name"],
      ["kubernetes:core/v1:Namespace", { metadata: { name: "a.b" } }, "metadata.name"],
    ];
    for (const [type, inputs, property] of bad) {
      expect(checkResource(type, "x", inputs, REPO_ROOT).map((f) => f.property), type).toEqual([property]);
      const fixed = structuredClone(inputs);
      const valid: Record<string, string> = { name: "agent-images", bucket: "my-bucket", repositoryId: "launch", roleId: "wandbLaunch", accountId: "wandb-launch", registryName: "wandbacr01", accountName: "wandbcontexts" };
      if (property === "metadata.name") (fixed.metadata as Record<string, string>).name = "agent-sa";
      else fixed[property] = valid[property];
      expect(checkResource(type, "x", fixed, REPO_ROOT), type).toEqual([]);
    }
  });

  it("rejects a missing required input, and skips values unknown at preview", () => {
    expect(checkResource("gcp:artifactregistry/repository:Repository", "x", { format: "DOCKER" }, REPO_ROOT)).toEqual([{ property: "repositoryId", reason: "missing required property 'repositoryId'" }]);
    expect(checkResource("gcp:artifactregistry/repository:Repository", "x", { format: "DOCKER", repositoryId: UNKNOWN }, REPO_ROOT)).toEqual([]);
  });

  it("resolves docker-build paths against the engine's working directory", () => {
    const image = (location: string, dockerfile?: string) => ({ push: true, context: { location }, ...(dockerfile ? { dockerfile: { location: dockerfile } } : {}) });
    expect(checkResource("docker-build:index:Image", "i", image("."), REPO_ROOT)).toEqual([]);
    expect(checkResource("docker-build:index:Image", "i", image("..", "../Dockerfile"), join(REPO_ROOT, "stacks"))).toEqual([]);
    expect(checkResource("docker-build:index:Image", "i", image("nope"), REPO_ROOT)).toEqual([{ property: "context.location", reason: expect.stringContaining('"nope": not a valid directory or URL') }]);
    expect(checkResource("docker-build:index:Image", "i", image("stacks"), REPO_ROOT)).toEqual([{ property: "dockerfile.location", reason: expect.stringContaining(`open ${REPO_ROOT}/stacks/Dockerfile`) }]);
    expect(checkResource("docker-build:index:Image", "i", image("https://github.com/org/repo.git"), REPO_ROOT)).toEqual([]);
  });
});
