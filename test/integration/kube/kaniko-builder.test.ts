// The kaniko builder end to end: real build context + Dockerfile from the jobs module, upload to a
// real S3 API (s3rver) through the storage module, kaniko Job on the fake API server (a test hook
// plays kaniko: it fetches the uploaded context, checks it, and finishes the Job).
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import * as tar from "tar";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { Job } from "kubernetes-models/batch/v1/Job";
import { KanikoBuilder, type KanikoBuilderOptions } from "../../../agent/builders/kaniko.js";
import type { BuildRequest } from "../../../agent/builders/types.js";
import type { AgentConfig } from "../../../agent/config/index.js";
import { LaunchError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import type { Registry, RegistryKind } from "../../../agent/registries/types.js";
import { contextStoreFor } from "../../../agent/storage/index.js";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { startS3, type RunningS3 } from "../../support/s3.js";
import { tempDir } from "../../support/local-jobs.js";
import { clientsFor, eventually, resolvedJob } from "./helpers.js";

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s3: RunningS3;
let fake: FakeKube;
let codeDir: string;

beforeAll(async () => {
  s3 = await startS3(["contexts"]);
  codeDir = await tempDir("kaniko-job-");
  await mkdir(codeDir, { recursive: true });
  await writeFile(join(codeDir, "main.py"), "print('hi')\n");
  await writeFile(join(codeDir, "requirements.txt"), "numpy\n");
});
afterAll(() => s3?.stop());
beforeEach(async () => {
  fake = await startFakeKube({ namespaces: ["default", "launch"] });
});
afterEach(() => fake.close());

/** A registry double: the real registry classes are covered by the image-build helper's tests. */
function stubRegistry(kind: RegistryKind, host: string, existing: string[] = [], creds: { username: string; password: string } | null = null): Registry & { checked: string[] } {
  const checked: string[] = [];
  return {
    kind,
    host,
    repositoryUri: `${host}/launch/job`,
    checked,
    credentials: async () => creds,
    exists: async (tag: string) => {
      checked.push(tag);
      return existing.includes(tag);
    },
  };
}

function config(builder: AgentConfig["builder"] = {}): AgentConfig {
  return {
    queues: ["q"],
    max_jobs: 1,
    max_schedulers: 1,
    verbosity: 0,
    builder: { type: "kaniko", destination: "registry.example.com/launch/job", "build-context-store": "s3://contexts/builds", ...builder },
  };
}

function builder(registry: Registry, over: Partial<KanikoBuilderOptions> = {}) {
  const cfg = over.config ?? config();
  return new KanikoBuilder({
    config: cfg,
    logger: silentLogger,
    kube: clientsFor(fake),
    contextStore: contextStoreFor(String(cfg.builder?.["build-context-store"] ?? "s3://contexts/builds"), { logger: silentLogger, clients: { s3: s3.client() } }),
    registry,
    namespace: "launch",
    env: {},
    pollIntervalMs: 25,
    user: "agent",
    ...over,
  });
}

function request(warnings: string[] = [], runId = "k1run001"): BuildRequest {
  return {
    runId,
    runSpec: { entity: "e", project: "p", resource: "kubernetes" },
    job: resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "main.py"] }, runtime: "3.11" }, codeDir),
    resource: "kubernetes",
    logger: silentLogger,
    warn: async (m) => void warnings.push(m),
  };
}

async function objectKeys(): Promise<string[]> {
  const out = await s3.client().send(new ListObjectsV2Command({ Bucket: "contexts" }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** Plays kaniko for each build Job: reads --context from S3, lists the tarball, then ends the Job. */
function playKaniko(opts: { fail?: boolean; log?: string } = {}) {
  const seen: { job: AnyObj; entries: string[] }[] = [];
  fake.onCreate("jobs", (job) => {
    void (async () => {
      const j = job as AnyObj;
      const args: string[] = j.spec.template.spec.containers[0].args;
      const ctx = args.find((a) => a.startsWith("--context="))!.slice("--context=".length);
      const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(ctx)!;
      const obj = await s3.client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const entries: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const parser = new tar.Parser({ onReadEntry: (e) => (entries.push(e.path), e.resume()) });
        parser.on("end", resolve).on("error", reject);
        (obj.Body as Readable).pipe(parser);
      });
      seen.push({ job: j, entries });
      const ns = j.metadata.namespace;
      const pod = (fake.podsOfJob(ns, j.metadata.name)[0]!.metadata as AnyObj).name;
      fake.setPodPhase(ns, pod, "Running");
      fake.setPodLog(ns, pod, opts.log ?? "INFO[0001] Pushing image\n");
      if (opts.fail) fake.failJob(ns, j.metadata.name, "BackoffLimitExceeded", "Job has reached the specified backoff limit");
      else fake.succeedJob(ns, j.metadata.name);
    })();
  });
  return seen;
}

describe("KanikoBuilder", () => {
  it("uploads the context, runs a schema-valid kaniko Job, and cleans up Job, pods, docker config and context", async () => {
    const seen = playKaniko();
    const registry = stubRegistry("anonymous", "registry.example.com", [], { username: "pusher", password: "s3cret-pw" });
    const b = builder(registry);
    const result = await b.build(request());
    expect(result.built).toBe(true);
    expect(result.tag).toMatch(/^[0-9a-f]{8}$/);
    expect(result.image).toBe(`registry.example.com/launch/job:${result.tag}`);
    expect(registry.checked).toEqual([result.tag]);

    const [{ job, entries }] = seen as [{ job: AnyObj; entries: string[] }];
    new Job(job as never).validate();
    expect(job.metadata.name).toBe("wandb-launch-container-build-k1run001");
    expect(job.metadata.namespace).toBe("launch");
    expect(job.spec.template.spec.containers[0].args).toEqual([
      "--context=s3://contexts/builds/k1run001.tgz",
      "--dockerfile=Dockerfile.wandb",
      `--destination=registry.example.com/launch/job:${result.tag}`,
      "--cache=true",
      "--cache-repo=registry.example.com/launch/job",
      "--snapshot-mode=redo",
      "--compressed-caching=false",
    ]);
    expect(entries.map((e) => e.replace(/^\.\//, ""))).toEqual(expect.arrayContaining(["Dockerfile.wandb", "src/main.py", "src/requirements.txt", "_wandb_bootstrap.py"]));
    // Push credentials went into a Secret mounted at /kaniko/.docker, never into the Job itself.
    expect(JSON.stringify(job)).not.toContain("s3cret-pw");
    const secretPost = fake.requests.find((r) => r.method === "POST" && r.path === "/api/v1/namespaces/launch/secrets")!;
    expect((secretPost.body as AnyObj).metadata.name).toBe("docker-config-wandb-launch-container-build-k1run001");
    expect(fake.requests.some((r) => r.path.includes("/configmaps"))).toBe(false);

    // Everything is gone afterwards.
    expect(fake.list("jobs", "launch")).toEqual([]);
    expect(fake.list("pods", "launch")).toEqual([]);
    expect(fake.list("secrets", "launch")).toEqual([]);
    expect(await objectKeys()).toEqual([]);
    const del = fake.requests.find((r) => r.method === "DELETE" && r.path.endsWith("/jobs/wandb-launch-container-build-k1run001"))!;
    expect(del.query.propagationPolicy).toBe("Background");
    expect(b.builds).toBe(1);
  });

  it("skips the build when the registry has the tag", async () => {
    const first = stubRegistry("anonymous", "registry.example.com");
    playKaniko();
    const { tag } = await builder(first).build(request());
    const before = fake.requests.length;
    const registry = stubRegistry("anonymous", "registry.example.com", [tag]);
    const b = builder(registry);
    const result = await b.build(request());
    expect(result).toEqual({ image: `registry.example.com/launch/job:${tag}`, built: false, tag, command: ["python", "main.py"] });
    expect(fake.requests.length).toBe(before);
    expect(b.builds).toBe(0);
  });

  it("always builds with WANDB_LAUNCH_KANIKO_AUTH_SECRET, mounting that Secret", async () => {
    const seen = playKaniko();
    const registry = stubRegistry("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", []);
    // Learn the tag, then mark it as existing.
    const tag = (await builder(registry).build(request([], "k1run002"))).tag;
    const withSecret = stubRegistry("ecr", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", [tag]);
    const result = await builder(withSecret, { env: { WANDB_LAUNCH_KANIKO_AUTH_SECRET: "team-dockercfg" } }).build(request([], "k1run003"));
    expect(result.built).toBe(true);
    expect(withSecret.checked).toEqual([]);
    const job = seen.at(-1)!.job;
    expect(job.spec.template.spec.volumes).toEqual([{ name: "kaniko-docker-config", secret: { secretName: "team-dockercfg", items: [{ key: ".dockerconfigjson", path: "config.json" }] } }]);
    expect(job.spec.template.spec.containers[0].env).toEqual([{ name: "AWS_REGION", value: "eu-west-1" }]);
  });

  it("ACR: creates the acr-env ConfigMap in the agent's namespace, labels the pod, and removes the ConfigMap", async () => {
    const seen = playKaniko();
    const registry = stubRegistry("acr", "myreg.azurecr.io");
    await builder(registry).build(request());
    const cmPost = fake.requests.find((r) => r.method === "POST" && r.path.endsWith("/configmaps"))!;
    expect(cmPost.path).toBe("/api/v1/namespaces/launch/configmaps");
    expect(JSON.parse((cmPost.body as AnyObj).data["config.json"])).toEqual({ credHelpers: { "myreg.azurecr.io": "acr-env" } });
    expect(seen[0]!.job.spec.template.metadata.labels["azure.workload.identity/use"]).toBe("true");
    expect(fake.list("configmaps", "launch")).toEqual([]);
  });

  it("a failed build is a build-stage LaunchError naming the Job with its log tail, and still cleans up", async () => {
    playKaniko({ fail: true, log: "INFO step 1\nerror building image: exit status 1\n" });
    const err = await builder(stubRegistry("anonymous", "registry.example.com")).build(request()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as LaunchError).message).toMatch(/Failed to build image in kaniko for job k1run001: Job launch\/wandb-launch-container-build-k1run001 failed \(BackoffLimitExceeded/);
    expect((err as LaunchError).message).toContain("error building image: exit status 1");
    expect(fake.list("jobs", "launch")).toEqual([]);
    expect(fake.list("pods", "launch")).toEqual([]);
    expect(await objectKeys()).toEqual([]);
  });

  it("turns the failed-packages marker in the build log into a warning", async () => {
    playKaniko({ log: "Step 3\nERROR: Failed to install: badpkg==0.0.1. During automated build process.\nPushed\n" });
    const warnings: string[] = [];
    const result = await builder(stubRegistry("anonymous", "registry.example.com")).build(request(warnings));
    expect(result.built).toBe(true);
    expect(warnings).toEqual(["Some packages were not successfully installed during the build: badpkg==0.0.1"]);
  });

  it("gives up at the deadline, removing the Job", async () => {
    await expect(builder(stubRegistry("anonymous", "registry.example.com"), { deadlineMs: 200 }).build(request())).rejects.toThrow(/Job launch\/wandb-launch-container-build-k1run001 did not finish within 1 s/);
    expect(fake.list("jobs", "launch")).toEqual([]);
    expect(await objectKeys()).toEqual([]);
  });

  it("replaces a leftover docker-config object and build Job from a crashed agent", async () => {
    const kube = clientsFor(fake);
    const leftover = {
      metadata: { name: "wandb-launch-container-build-k1run001", labels: { leftover: "yes" } },
      spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "old", image: "old" }] } } },
    };
    await kube.batch.createNamespacedJob({ namespace: "launch", body: leftover });
    const seen = playKaniko();
    await kube.core.createNamespacedConfigMap({ namespace: "launch", body: { metadata: { name: "docker-config-wandb-launch-container-build-k1run001" }, data: { "config.json": "{}" } } });
    await builder(stubRegistry("acr", "myreg.azurecr.io")).build(request());
    expect(fake.list("configmaps", "launch")).toEqual([]);
    expect(seen.map((x) => x.job.metadata.labels.leftover)).toEqual([undefined]);
    expect(fake.list("jobs", "launch")).toEqual([]);
  });

  it("refuses configs it cannot build with, naming the key", async () => {
    const reg = stubRegistry("anonymous", "registry.example.com");
    await expect(builder(reg, { config: config({ "build-context-store": null }) }).build(request())).rejects.toThrow(/builder.build-context-store is required/);
    await expect(builder(reg, { config: config({ "secret-name": "x" }) }).build(request())).rejects.toThrow(/Both secret_name and secret_key or neither/);
    await expect(builder(reg, { config: config({ "secret-name": "x", "secret-key": "y" }) }).build(request())).rejects.toThrow(/supported for ECR and Artifact Registry destinations only/);
    expect(fake.requests).toEqual([]);
  });

  it("fails when the Azure storage key Secret is missing from the build namespace", async () => {
    // Only the store's kind matters here: the check runs before anything is uploaded.
    const uploads: string[] = [];
    const azureStore = {
      kind: "azure" as const,
      uploadContext: async (_dir: string, name: string) => (uploads.push(name), `https://acct.blob.core.windows.net/ctx/${name}`),
      deleteContext: async () => {},
      verify: async () => {},
    };
    await expect(builder(stubRegistry("acr", "myreg.azurecr.io"), { contextStore: azureStore }).build(request())).rejects.toThrow(
      /Secret azure-storage-access-key does not exist in namespace launch/,
    );
    expect(uploads).toEqual([]);
    expect(fake.list("configmaps", "launch")).toEqual([]);
    expect(fake.list("jobs", "launch")).toEqual([]);
  });

  it("keeps an operator's own docker-config mount from kaniko-config instead of adding one", async () => {
    const seen = playKaniko();
    const cfg = config({
      "kaniko-config": {
        spec: {
          template: {
            spec: {
              volumes: [{ name: "team-docker", secret: { secretName: "team-dockercfg" } }],
              containers: [{ volumeMounts: [{ name: "team-docker", mountPath: "/kaniko/.docker/" }] }],
            },
          },
        },
      },
    });
    await builder(stubRegistry("acr", "myreg.azurecr.io"), { config: cfg }).build(request());
    const pod = seen[0]!.job.spec.template.spec;
    expect(pod.volumes).toEqual([{ name: "team-docker", secret: { secretName: "team-dockercfg" } }]);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: "team-docker", mountPath: "/kaniko/.docker/" }]);
    expect(fake.requests.some((r) => r.path.includes("/configmaps"))).toBe(false);
  });

  it("streams a large build log: a marker deep inside is found, and a failure quotes only the tail", async () => {
    const lines = Array.from({ length: 100_000 }, (_, i) => `INFO[${i}] layer ${i} ${"x".repeat(40)}`);
    lines[500] = "ERROR: Failed to install: early-pkg. During automated build process.";
    const big = lines.join("\n") + "\n";
    playKaniko({ log: big });
    const warnings: string[] = [];
    await builder(stubRegistry("anonymous", "registry.example.com")).build(request(warnings));
    expect(warnings).toEqual(["Some packages were not successfully installed during the build: early-pkg"]);

    await fake.close();
    fake = await startFakeKube({ namespaces: ["default", "launch"] });
    playKaniko({ fail: true, log: big + "error building image: exit status 1\n" });
    const err = (await builder(stubRegistry("anonymous", "registry.example.com")).build(request()).catch((e: unknown) => e)) as Error;
    const quoted = err.message.split("Last lines of the build log:\n")[1]!.split("\n");
    expect(quoted).toHaveLength(30);
    expect(quoted.at(-1)).toBe("error building image: exit status 1");
    expect(quoted[0]).toContain("INFO[99971]");
  });

  it("stops waiting when the build is cancelled, and cleans up", async () => {
    const controller = new AbortController();
    const req = { ...request(), signal: controller.signal };
    const pending = builder(stubRegistry("anonymous", "registry.example.com")).build(req);
    await eventually(() => fake.list("jobs", "launch").length === 1 || undefined, 5000, "the build Job");
    controller.abort();
    await expect(pending).rejects.toThrow(/the kaniko build launch\/wandb-launch-container-build-k1run001 was cancelled/);
    expect(fake.list("jobs", "launch")).toEqual([]);
    expect(await objectKeys()).toEqual([]);
  });

  it("verify() checks the context store, or the PVC mount path in PVC mode", async () => {
    const reg = stubRegistry("anonymous", "registry.example.com");
    await expect(builder(reg).verify()).resolves.toBeUndefined();
    const missing = config({ "build-context-store": "s3://no-such-bucket/x" });
    await expect(
      builder(reg, { config: missing, contextStore: contextStoreFor("s3://no-such-bucket/x", { logger: silentLogger, clients: { s3: s3.client() } }) }).verify(),
    ).rejects.toThrow(/no-such-bucket/);
    const pvcEnv = { WANDB_LAUNCH_KANIKO_PVC_NAME: "ctx", WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH: "/nonexistent/kaniko" };
    await expect(builder(reg, { config: config({ "build-context-store": null }), contextStore: undefined, env: pvcEnv }).verify()).rejects.toThrow(
      /WANDB_LAUNCH_KANIKO_PVC_NAME is ctx, but its mount path \/nonexistent\/kaniko is not a writable directory/,
    );
    await expect(builder(reg, { config: config({ "build-context-store": null }), contextStore: undefined }).verify()).rejects.toThrow(/build-context-store is required.*WANDB_LAUNCH_KANIKO_PVC_NAME/);
  });

  it("PVC mode: writes the context to the claim's mount, the build pod mounts the claim at /context and reads tar:///context/<run id>.tgz", async () => {
    const mount = await tempDir("kaniko-pvc-");
    const seen: { job: AnyObj; entries: string[] }[] = [];
    fake.onCreate("jobs", (job) => {
      void (async () => {
        const j = job as AnyObj;
        const ctx: string = j.spec.template.spec.containers[0].args.find((a: string) => a.startsWith("--context=")).slice("--context=".length);
        // What the build pod sees at /context is the claim the agent wrote to.
        const file = join(mount, ctx.replace(/^tar:\/\/\/context\//, ""));
        const entries: string[] = [];
        await tar.t({ file, onReadEntry: (e) => void entries.push(e.path) });
        seen.push({ job: j, entries });
        fake.succeedJob(j.metadata.namespace, j.metadata.name);
      })();
    });
    const b = builder(stubRegistry("anonymous", "registry.example.com"), {
      config: config({ "build-context-store": null }),
      contextStore: undefined,
      env: { WANDB_LAUNCH_KANIKO_PVC_NAME: "build-contexts", WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH: `${mount}/` },
    });
    const result = await b.build(request([], "pvcrun01"));
    expect(result.built).toBe(true);
    const [{ job, entries }] = seen as [{ job: AnyObj; entries: string[] }];
    new Job(job as never).validate();
    expect(job.spec.template.spec.containers[0].args[0]).toBe("--context=tar:///context/pvcrun01.tgz");
    expect(job.spec.template.spec.volumes).toContainEqual({ name: "kaniko-pvc", persistentVolumeClaim: { claimName: "build-contexts" } });
    expect(job.spec.template.spec.containers[0].volumeMounts).toContainEqual({ name: "kaniko-pvc", mountPath: "/context" });
    expect(entries.map((e) => e.replace(/^\.\//, ""))).toEqual(expect.arrayContaining(["Dockerfile.wandb", "src/main.py"]));
    // The tarball is removed from the claim after the build (the official agent leaves it).
    expect(existsSync(join(mount, "pvcrun01.tgz"))).toBe(false);
    expect(await objectKeys()).toEqual([]);
  });

  it("warns once when the build pod cannot be scheduled", async () => {
    fake.onCreate("jobs", (job) => {
      const j = job as AnyObj;
      const ns = j.metadata.namespace;
      const pod = (fake.podsOfJob(ns, j.metadata.name)[0]!.metadata as AnyObj).name;
      fake.markUnschedulable(ns, pod, "0/2 nodes are available: 2 Insufficient memory.");
      setTimeout(() => {
        fake.setPodPhase(ns, pod, "Running");
        fake.succeedJob(ns, j.metadata.name);
      }, 150);
    });
    const warnings: string[] = [];
    await builder(stubRegistry("anonymous", "registry.example.com")).build(request(warnings));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^kaniko build pod launch\/wandb-launch-container-build-k1run001-\w{5} of job wandb-launch-container-build-k1run001 cannot be scheduled: 0\/2 nodes are available: 2 Insufficient memory\.$/);
  });
});
