import { execFile } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { runChecks } from "../../agent/commands/doctor.js";
import { TARGET_NAMESPACE_RULES, permissionsOf } from "../../agent/kube/permissions.js";
import { startFakeKube, type FakeKube } from "../fakes/kube-api.js";
import { startFakeWandb, type FakeWandb } from "../fakes/wandb-server.js";
import { tempDir } from "../support/local-jobs.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { REGISTRY, REGISTRY_PASSWORD, requireRegistry, tempDockerConfig } from "../support/docker.js";
import { startS3, type RunningS3 } from "../support/s3.js";

const run = promisify(execFile);
const base: AgentConfig = { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0 };
let s3: RunningS3;

beforeAll(async () => {
  await requireRegistry();
  s3 = await startS3(["doctor-contexts"]);
  vi.stubEnv("S3_ENDPOINT", s3.endpoint);
  vi.stubEnv("S3_FORCE_PATH_STYLE", "true");
  vi.stubEnv("AWS_REGION", "us-east-1");
  vi.stubEnv("AWS_ACCESS_KEY_ID", "S3RVER");
  vi.stubEnv("AWS_SECRET_ACCESS_KEY", "S3RVER");
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await s3?.stop();
});

describe("launch-agent doctor", () => {
  it("passes when the registry accepts the agent's credentials and the store exists", async () => {
    vi.stubEnv("DOCKER_CONFIG", await tempDockerConfig({ password: REGISTRY_PASSWORD }));
    const checks = await runChecks(
      { ...base, builder: { type: "kaniko", destination: `${REGISTRY}/doctor/app`, "build-context-store": "s3://doctor-contexts/ctx" } },
      { dockerAvailable: async () => true },
    );
    expect(checks.map((c) => [c.name, c.ok])).toEqual([
      ["build-context store", true],
      ["registry", true],
    ]);
  });

  it("fails each check with a message that names what to fix", async () => {
    vi.stubEnv("DOCKER_CONFIG", await tempDockerConfig({ password: "wrong-password" }));
    const checks = await runChecks(
      { ...base, builder: { type: "docker", destination: `${REGISTRY}/doctor/app`, "build-context-store": "s3://no-such-bucket-here/ctx" } },
      { dockerAvailable: async () => false },
    );
    const byName = Object.fromEntries(checks.map((c) => [c.name, c]));
    expect(byName["docker"]).toMatchObject({ ok: false });
    expect(byName["docker"]!.detail).toMatch(/builder.type is docker but `docker --version` fails/);
    expect(byName["build-context store"]).toMatchObject({ ok: false });
    expect(byName["build-context store"]!.detail).toMatch(/no-such-bucket-here/);
    expect(byName["registry"]).toMatchObject({ ok: false });
    expect(byName["registry"]!.detail).toMatch(new RegExp(`${REGISTRY.replace(/\./g, "\\.")}.*(401|denied|unauthorized)`, "i"));
    expect(checks.map((c) => c.detail).join("\n")).not.toContain("wrong-password");
  });

  it("says docker is optional when no builder is configured", async () => {
    const checks = await runChecks({ ...base, builder: {} }, { dockerAvailable: async () => false });
    expect(checks).toEqual([{ name: "docker", ok: true, detail: expect.stringMatching(/noop builder/) }]);
  });
});

describe("launch-agent doctor: the docker daemon, not only the CLI", () => {
  it("passes with the running engine and fails, naming the daemon, when it does not answer", async () => {
    const up = await runChecks({ ...base, builder: { type: "docker" } });
    expect(up).toEqual([{ name: "docker", ok: true, detail: expect.stringMatching(/^daemon \d+\.\d+.* answers$/) }]);
    vi.stubEnv("DOCKER_HOST", "unix:///nonexistent/doctor-test.sock");
    try {
      const down = await runChecks({ ...base, builder: {} });
      expect(down[0]).toMatchObject({ name: "docker", ok: false });
      expect(down[0]!.detail).toMatch(/the docker CLI works, so the agent will build with docker, but the Docker daemon does not answer \(.*doctor-test\.sock.*\): start dockerd/);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("launch-agent doctor through the CLI: config, W&B, Kubernetes permissions", () => {
  const BIN = resolve("bin/launch-agent.js");
  let home: string;
  let kube: FakeKube;
  let wandb: FakeWandb;
  beforeAll(async () => {
    home = await tempDir("doctor-home-");
    kube = await startFakeKube({ namespaces: ["default", "wandb", "runs"], contextNamespace: "wandb" });
    wandb = await startFakeWandb();
    wandb.addQueue("gpu");
  });
  afterAll(async () => {
    await kube?.close();
    await wandb?.close();
    await rm(home, { recursive: true, force: true });
  });

  async function doctor(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string }> {
    try {
      const { stdout } = await run(process.execPath, [BIN, "doctor", ...args], {
        env: { PATH: process.env.PATH, HOME: home, KUBECONFIG: kube.kubeconfigPath, ...env },
        timeout: 60_000,
      });
      return { code: 0, stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof e.code !== "number") throw err;
      return { code: e.code, stdout: `${e.stdout ?? ""}${e.stderr ?? ""}` };
    }
  }

  it("says when there is no config file, and checks the W&B key and queues", async () => {
    const noop = join(home, "noop.yaml");
    await writeFile(noop, "builder:\n  type: noop\nqueues: [gpu]\n");
    const missing = await doctor(["--local", "-q", "gpu"]);
    expect(missing.stdout).toMatch(/^warn config: no config file at .*launch-config\.yaml: the agent runs on defaults/m);

    const good = await doctor(["-c", noop], { WANDB_BASE_URL: wandb.url, WANDB_API_KEY: wandb.apiKey });
    expect(good.stdout).toMatch(/^ok {3}config: .*noop\.yaml is valid$/m);
    expect(good.stdout).toMatch(/^ok {3}W&B API key: valid for .* at http:\/\/127\.0\.0\.1:\d+ \(entity fake-entity\)$/m);
    expect(good.stdout).toMatch(/^ok {3}W&B queues: gpu found in fake-entity\/model-registry$/m);
    expect(good.code).toBe(0);
    // Read-only: doctor registered no agent.
    expect(wandb.callsTo("createLaunchAgent")).toEqual([]);

    const badQueue = await doctor(["-c", noop, "-q", "gpu", "-q", "cpu"], { WANDB_BASE_URL: wandb.url, WANDB_API_KEY: wandb.apiKey });
    expect(badQueue.code).toBe(1);
    expect(badQueue.stdout).toMatch(/^FAIL W&B queues: not found in fake-entity\/model-registry: cpu \(available: gpu\)/m);

    const badKey = await doctor(["-c", noop], { WANDB_BASE_URL: wandb.url, WANDB_API_KEY: "0".repeat(40) });
    expect(badKey.code).toBe(1);
    expect(badKey.stdout).toMatch(/^FAIL W&B API key: /m);
    expect(badKey.stdout).not.toMatch(/^ok {3}W&B queues/m);
    expect(badKey.stdout).not.toContain("0".repeat(40));
  });

  it("reports each missing Kubernetes permission with its verb, resource and namespace, and exits 1", async () => {
    const cfg = join(home, "kaniko.yaml");
    await writeFile(cfg, "builder:\n  type: noop\n");
    // The Role the LaunchAgent component grants, in both namespaces, but without creating Jobs in `runs` or reading logs anywhere.
    const granted = (ns: string) =>
      [...TARGET_NAMESPACE_RULES].map((r) => ({
        namespace: ns,
        apiGroups: r.apiGroups,
        resources: r.resources.filter((res) => res !== "pods/log"),
        verbs: ns === "runs" && r.resources.includes("jobs") ? r.verbs.filter((v) => v !== "create") : r.verbs,
      }));
    kube.setPermissions([...granted("wandb"), ...granted("runs")]);
    const out = await doctor(["--local", "-c", cfg, "-n", "runs"]);
    expect(out.code).toBe(1);
    expect(out.stdout).toMatch(/^FAIL Kubernetes namespace wandb: missing in namespace wandb: get pods\/log\. Grant them/m);
    expect(out.stdout).toMatch(/^FAIL Kubernetes namespace runs: missing in namespace runs: get pods\/log, create jobs\.batch\. Grant them/m);
    // Every question went to the API server as a SelfSubjectAccessReview.
    const reviews = kube.requests.filter((r) => r.path === "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    expect(reviews.length).toBe(2 * permissionsOf(TARGET_NAMESPACE_RULES).length);

    kube.setPermissions([...TARGET_NAMESPACE_RULES.map((r) => ({ namespace: "*", ...r }))]);
    const ok = await doctor(["--local", "-c", cfg, "-n", "runs"]);
    expect(ok.stdout).toMatch(new RegExp(`^ok {3}Kubernetes namespace runs: all ${permissionsOf(TARGET_NAMESPACE_RULES).length} permissions the agent uses are granted$`, "m"));
    expect(ok.code).toBe(0);
  });
});
