import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { ALL_CRDS } from "../../fakes/kube/crds.js";
import { KubernetesRunner } from "../../../agent/runners/kubernetes.js";
import type { LaunchRequest } from "../../../agent/runners/types.js";
import type { RunSpec } from "../../../agent/jobs/run-spec.js";
import { silentLogger } from "../../../agent/log.js";
import { clientsFor, eventually, resolvedJob } from "./helpers.js";

// Custom resources go to the fake API server, which checks them against the real CRD schemas
// (Volcano, JobSet, Kubeflow training operator: test/fixtures/crds/) and reports any unknown field.

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const API_KEY = "local-0123456789abcdef0123456789abcdef01234567";
const IMAGE = "127.0.0.1:5000/launch/job:0123abcd";

let fake: FakeKube;
beforeEach(async () => {
  fake = await startFakeKube({ namespaces: ["default", "runs"], crds: ALL_CRDS() });
});
afterEach(() => fake.close());

const runner = () => new KubernetesRunner({ kube: clientsFor(fake), agentName: "agent-x", releaseName: null, watchTimeoutSeconds: 5, retryDelayMs: 50 });

function request(kubernetes: AnyObj, runSpec: Partial<RunSpec> = {}): LaunchRequest & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    runId: "run00001",
    runSpec: { entity: "ent", project: "proj", resource: "kubernetes", resource_args: { kubernetes: { namespace: "runs", ...kubernetes } }, ...runSpec },
    job: resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] } }),
    image: IMAGE,
    entrypoint: ["python", "train.py"],
    args: runSpec.overrides?.args ?? [],
    env: { WANDB_API_KEY: API_KEY, WANDB_PROJECT: "proj", WANDB_RUN_ID: "run00001" },
    logger: silentLogger,
    warn: (m: string) => void warnings.push(m),
    warnings,
  };
}

const volcano = {
  apiVersion: "batch.volcano.sh/v1alpha1",
  kind: "Job",
  metadata: { name: "vc-train" },
  spec: {
    minAvailable: 2,
    schedulerName: "volcano",
    queue: "default",
    policies: [{ event: "PodEvicted", action: "RestartJob" }],
    tasks: [
      { name: "master", replicas: 1, template: { spec: { restartPolicy: "Never", containers: [{ name: "master", resources: { limits: { "nvidia.com/gpu": 1 } } }] } } },
      { name: "worker", replicas: 2, template: { spec: { restartPolicy: "Never", containers: [{ name: "worker", image: "org/worker:1" }] } } },
    ],
  },
};
const jobset = {
  apiVersion: "jobset.x-k8s.io/v1alpha2",
  kind: "JobSet",
  spec: {
    failurePolicy: { maxRestarts: 0 },
    replicatedJobs: [
      { name: "workers", replicas: 2, template: { spec: { parallelism: 1, completions: 1, backoffLimit: 0, template: { spec: { restartPolicy: "Never", containers: [{ name: "main" }] } } } } },
    ],
  },
};
const pytorch = {
  apiVersion: "kubeflow.org/v1",
  kind: "PyTorchJob",
  metadata: { name: "pt-train" },
  spec: {
    runPolicy: { cleanPodPolicy: "None" },
    pytorchReplicaSpecs: {
      Master: { replicas: 1, restartPolicy: "OnFailure", template: { spec: { containers: [{ name: "pytorch" }] } } },
      Worker: { replicas: 2, restartPolicy: "OnFailure", template: { spec: { containers: [{ name: "pytorch" }] } } },
    },
  },
};

const created = (plural: string) => fake.list(plural, "runs") as AnyObj[];
const posted = () => fake.requests.find((r) => r.method === "POST" && !r.path.endsWith("/secrets"))!;
const labels = { "wandb.ai/monitor": "true", "wandb.ai/agent": "agent-x" };

/** A pod as the operator would create it for the object. */
function podOf(owner: AnyObj, name: string, extraLabels: Record<string, string> = {}): AnyObj {
  return fake.addPod("runs", {
    metadata: { name, labels: { ...labels, ...extraLabels }, ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, controller: true }] },
    spec: { containers: [{ name: "main", image: IMAGE }] },
  });
}

describe("KubernetesRunner: custom resources against their CRD schemas", () => {
  it("creates a Volcano Job the way the official agent completes it, follows status.state.phase to the end, and cleans up", async () => {
    const h = await runner().run(request(volcano, { overrides: { args: ["--epochs", "2"] } }));
    const [obj] = created("jobs.batch.volcano.sh");
    expect(fake.list("jobs", "runs")).toHaveLength(0);
    expect(fake.warnings).toEqual([]); // nothing the CRD schema does not declare
    expect(posted().path).toBe("/apis/batch.volcano.sh/v1alpha1/namespaces/runs/jobs");
    expect(JSON.stringify(posted().body)).not.toContain(API_KEY);
    expect(obj!.metadata.labels).toEqual(labels);
    const [master, worker] = obj!.spec.tasks.map((t: AnyObj) => t.template);
    for (const t of [master, worker]) {
      expect(t.metadata.labels).toEqual(labels);
      const c = t.spec.containers[0];
      expect(c.args).toEqual(["--epochs", "2"]);
      expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
      expect(c.env).toContainEqual({ name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-run00001", key: "password" } } });
    }
    expect(master.spec.containers[0].image).toBe(IMAGE); // filled: it named none
    expect(worker.spec.containers[0].image).toBe("org/worker:1"); // kept
    // WANDB_RUN_ID only in the first container: one process is the run.
    expect(master.spec.containers[0].env).toContainEqual({ name: "WANDB_RUN_ID", value: "run00001" });
    expect(worker.spec.containers[0].env.some((e: AnyObj) => e.name === "WANDB_RUN_ID")).toBe(false);
    const secret = fake.get("secrets", "runs", "wandb-api-key-run00001") as AnyObj;
    expect(secret.metadata.ownerReferences).toEqual([{ apiVersion: "batch.volcano.sh/v1alpha1", kind: "Job", name: "vc-train", uid: obj!.metadata.uid }]);

    fake.setCustomStatus("jobs.batch.volcano.sh", "runs", "vc-train", { state: { phase: "Running" } });
    fake.setCustomStatus("jobs.batch.volcano.sh", "runs", "vc-train", { state: { phase: "Completing" } });
    fake.setCustomStatus("jobs.batch.volcano.sh", "runs", "vc-train", { state: { phase: "Completed" } });
    expect((await h.wait()).status).toBe("finished");
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeUndefined();
  });

  it("reports a JobSet whose pod was preempted as preempted (pods found by the JobSet's label), with a generated name", async () => {
    const req = request(jobset);
    const h = await runner().run(req);
    const [obj] = created("jobsets.jobset.x-k8s.io");
    expect(fake.warnings).toEqual([]);
    expect(obj!.metadata.name).toMatch(/^launch-ent-proj-[a-z0-9]{5}$/);
    expect(obj!.spec.replicatedJobs[0].template.spec.template.spec.containers[0].image).toBe(IMAGE);
    // JobSet pods belong to child Jobs; the JobSet labels them with its name.
    const child = { apiVersion: "batch/v1", kind: "Job", metadata: { name: `${obj!.metadata.name}-workers-0`, uid: "u-1" } };
    const pod = podOf(child, "w-0", { "jobset.sigs.k8s.io/jobset-name": obj!.metadata.name });
    fake.markUnschedulable("runs", pod.metadata.name, "0/4 nodes are available: 4 Insufficient nvidia.com/gpu.");
    await eventually(() => req.warnings.length > 0, 5000, "the unschedulable warning");
    expect(req.warnings[0]).toContain("Insufficient nvidia.com/gpu");
    fake.preemptPod("runs", "w-0", "PreemptionByScheduler");
    fake.setCustomStatus("jobsets.jobset.x-k8s.io", "runs", obj!.metadata.name, { conditions: [{ type: "Failed", status: "True", reason: "FailedJobs", message: "jobset failed due to one or more job failures", lastTransitionTime: new Date().toISOString() }] });
    const outcome = await h.wait();
    expect(outcome.status).toBe("preempted");
    expect(outcome.message).toContain("PreemptionByScheduler");
  });

  it("maps a Kubeflow PyTorchJob's conditions: Succeeded wins over Running; Failed reports the reason and the log tail", async () => {
    const h = await runner().run(request(pytorch, { overrides: { entry_point: ["torchrun", "train.py"] } }));
    const [obj] = created("pytorchjobs.kubeflow.org");
    expect(fake.warnings).toEqual([]);
    for (const spec of Object.values(obj!.spec.pytorchReplicaSpecs) as AnyObj[]) expect(spec.template.spec.containers[0]).toMatchObject({ image: IMAGE, command: ["torchrun", "train.py"] });
    const now = new Date().toISOString();
    fake.setCustomStatus("pytorchjobs.kubeflow.org", "runs", "pt-train", { conditions: [{ type: "Created", status: "True", lastTransitionTime: now }, { type: "Running", status: "True", lastTransitionTime: now }] });
    fake.setCustomStatus("pytorchjobs.kubeflow.org", "runs", "pt-train", { conditions: [{ type: "Running", status: "False", lastTransitionTime: now }, { type: "Succeeded", status: "True", reason: "PyTorchJobSucceeded", lastTransitionTime: now }] });
    expect((await h.wait()).status).toBe("finished");

    fake.requests.length = 0;
    const h2 = await runner().run(request({ ...pytorch, metadata: { name: "pt-fail" } }));
    const failing = created("pytorchjobs.kubeflow.org").find((o) => o.metadata.name === "pt-fail")!;
    const pod = podOf(failing, "pt-fail-master-0");
    fake.setPodPhase("runs", pod.metadata.name, "Running");
    fake.setPodLog("runs", pod.metadata.name, "epoch 1\nCUDA out of memory\n");
    fake.setCustomStatus("pytorchjobs.kubeflow.org", "runs", "pt-fail", { conditions: [{ type: "Failed", status: "True", reason: "PyTorchJobFailed", message: "PyTorchJob pt-fail is failed because 1 Master replica(s) failed.", lastTransitionTime: now }] });
    const outcome = await h2.wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toContain("PyTorchJob runs/pt-fail failed: Failed: PyTorchJobFailed");
    expect(outcome.message).toContain("CUDA out of memory");
  });

  it("cancel deletes the object (its pods go with it); a deleted object fails the run", async () => {
    const h = await runner().run(request(volcano));
    const [obj] = created("jobs.batch.volcano.sh");
    podOf(obj!, "vc-train-master-0");
    await h.cancel("stopped");
    expect((await h.wait()).status).toBe("stopped");
    expect(created("jobs.batch.volcano.sh")).toHaveLength(0);
    expect(fake.get("pods", "runs", "vc-train-master-0")).toBeUndefined();

    const h2 = await runner().run(request(pytorch));
    await clientsFor(fake).custom.deleteNamespacedCustomObject({ group: "kubeflow.org", version: "v1", namespace: "runs", plural: "pytorchjobs", name: "pt-train" });
    const outcome = await h2.wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toContain("was deleted before it finished");
  });

  it("names the missing CRD when the cluster does not serve the kind, and removes the key Secret", async () => {
    await expect(runner().run(request({ apiVersion: "ray.io/v1", kind: "RayJob", spec: { entrypoint: "python x.py", rayClusterSpec: { headGroupSpec: { template: { spec: { containers: [{ name: "head" }] } } } } } }))).rejects.toThrow(
      /does not serve rayjobs\.ray\.io\/v1.*Install the RayJob operator/,
    );
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeUndefined();
  });

  it("mounts a base-image run's code into every pod template of a custom resource, schema-valid", async () => {
    const req = request(volcano);
    const job = { ...resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] } }), artifacts: { job: "ent/proj/job-x:v2", code: "ent/proj/code-abc:v1" } };
    const h = await runner().run({ ...req, job, mountCode: true });
    expect(fake.warnings).toEqual([]);
    const [obj] = created("jobs.batch.volcano.sh");
    for (const t of obj!.spec.tasks) {
      expect(t.template.spec.initContainers.map((c: AnyObj) => c.name)).toEqual(["wandb-source-code-init"]);
      expect(t.template.spec.containers[0].volumeMounts).toContainEqual({ name: "wandb-source-code-volume", mountPath: "/mnt/wandb" });
    }
    await h.cancel("stopped");
  });
});
