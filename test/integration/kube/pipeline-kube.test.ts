// One queue item through the agent's item pipeline on the Kubernetes path: local queue → kaniko
// build (context in a real S3 API, Job on the fake API server) → run Job with the built image →
// finished. A second item with the same code skips the build.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../../agent/backend/local/index.js";
import type { ResolvedJob } from "../../../agent/backend/types.js";
import { KanikoBuilder } from "../../../agent/builders/kaniko.js";
import type { AgentConfig } from "../../../agent/config/index.js";
import { silentLogger } from "../../../agent/log.js";
import { ItemTask } from "../../../agent/pipeline.js";
import type { Registry } from "../../../agent/registries/types.js";
import { KubernetesRunner } from "../../../agent/runners/kubernetes.js";
import { contextStoreFor } from "../../../agent/storage/index.js";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { startS3, type RunningS3 } from "../../support/s3.js";
import { tempDir } from "../../support/local-jobs.js";
import { clientsFor } from "./helpers.js";

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s3: RunningS3;
let fake: FakeKube;
beforeAll(async () => {
  s3 = await startS3(["contexts"]);
  fake = await startFakeKube({ namespaces: ["default", "launch", "runs"] });
});
afterAll(async () => {
  await fake?.close();
  await s3?.stop();
});

describe("item pipeline on Kubernetes", () => {
  it("builds with kaniko, runs the built image as a Job, finishes, and skips the build the second time", async () => {
    const root = await tempDir("kube-pipeline-");
    const jobDir = join(root, "trainer");
    await mkdir(jobDir, { recursive: true });
    await writeFile(join(jobDir, "wandb-job.json"), JSON.stringify({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] }, runtime: "3.11" }));
    await writeFile(join(jobDir, "train.py"), "print('training')\n");

    const pushed = new Set<string>();
    const registry: Registry = {
      kind: "anonymous",
      host: "registry.example.com",
      repositoryUri: "registry.example.com/launch/trainer",
      credentials: async () => null,
      exists: async (tag) => pushed.has(tag),
    };
    // Plays the cluster: kaniko "pushes" its --destination; run Jobs succeed.
    fake.onCreate("jobs", (job) => {
      const j = job as AnyObj;
      const ns = j.metadata.namespace;
      const name = j.metadata.name;
      setTimeout(() => {
        const args: string[] = j.spec.template.spec.containers[0].args ?? [];
        const dest = args.find((a) => a.startsWith("--destination="));
        if (dest) pushed.add(dest.split(":").at(-1)!);
        const pod = (fake.podsOfJob(ns, name)[0]!.metadata as AnyObj).name;
        fake.setPodPhase(ns, pod, "Running");
        fake.succeedJob(ns, name);
      }, 20);
    });

    const config: AgentConfig = {
      queues: ["k8s"],
      max_jobs: 1,
      max_schedulers: 1,
      verbosity: 0,
      builder: { type: "kaniko", destination: "registry.example.com/launch/trainer", "build-context-store": "s3://contexts/builds" },
    };
    const kube = clientsFor(fake);
    const backend = new LocalBackend({ root: join(root, "q"), logger: silentLogger, env: { WANDB_API_KEY: "key-for-runs-0123456789" } });
    const identity = await backend.start(["k8s"]);
    const builds: KanikoBuilder[] = [];
    const deps = {
      backend,
      config,
      identity,
      logger: silentLogger,
      selectBuilder: async () => {
        const b = new KanikoBuilder({
          config,
          logger: silentLogger,
          kube,
          namespace: "launch",
          registry,
          contextStore: contextStoreFor("s3://contexts/builds", { logger: silentLogger, clients: { s3: s3.client() } }),
          env: {},
          pollIntervalMs: 20,
          user: "agent",
        });
        builds.push(b);
        return b;
      },
      createRunner: () => new KubernetesRunner({ config, agentName: identity.name, kube, releaseName: null, watchTimeoutSeconds: 5, retryDelayMs: 50 }),
      prepareJobSource: async (j: ResolvedJob) => j,
      stopCheckIntervalMs: 50,
    };

    for (const round of [1, 2]) {
      await backend.store.push("k8s", { job: jobDir, resource: "kubernetes", entity: "ent", project: "proj", resource_args: { kubernetes: { namespace: "runs" } } });
      const item = await backend.pop("k8s");
      const result = await new ItemTask(item!, deps).done;
      expect(result.error, `round ${round}`).toBeUndefined();
      expect(result.outcome?.status).toBe("finished");
    }
    expect(builds.map((b) => b.builds)).toEqual([1, 0]);
    const runJobs = fake.requests.filter((r) => r.method === "POST" && r.path === "/apis/batch/v1/namespaces/runs/jobs").map((r) => r.body as AnyObj);
    expect(runJobs).toHaveLength(2);
    const images = runJobs.map((j) => j.spec.template.spec.containers[0].image);
    expect(images[0]).toMatch(/^registry\.example\.com\/launch\/trainer:[0-9a-f]{8}$/);
    expect(images[1]).toBe(images[0]);
    expect(JSON.stringify(runJobs)).not.toContain("key-for-runs-0123456789");
    expect(runJobs[0]!.metadata.labels["wandb.ai/agent"]).toBe(identity.name.replace(/[^A-Za-z0-9_.-]+/g, "-"));
    expect(fake.list("jobs", "launch")).toEqual([]);
  });
});
