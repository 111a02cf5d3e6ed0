import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { ALL_CRDS } from "../../fakes/kube/crds.js";
import { kubeError, loadKubeClients, type KubeClients } from "../../../agent/kube/client.js";

// Custom objects in the fake are checked against the real CRD schemas (test/fixtures/crds/), as the API server does.

let fake: FakeKube;
let kube: KubeClients;
beforeAll(async () => {
  fake = await startFakeKube({ crds: ALL_CRDS() });
  kube = loadKubeClients({ kubeconfigPath: fake.kubeconfigPath });
});
afterAll(() => fake.close());

const jobset = (spec: Record<string, unknown>) => ({ apiVersion: "jobset.x-k8s.io/v1alpha2", kind: "JobSet", metadata: { generateName: "js-" }, spec });
const rjob = (container: Record<string, unknown>) => ({
  name: "workers",
  replicas: 1,
  template: { spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox", ...container }] } } } },
});

async function failure(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return kubeError(err);
  }
  throw new Error("expected the call to fail");
}

describe("fake API server: custom resources", () => {
  it("creates a schema-valid JobSet, lists and deletes it (dependents go with it)", async () => {
    const created = (await kube.custom.createNamespacedCustomObject({ group: "jobset.x-k8s.io", version: "v1alpha2", namespace: "default", plural: "jobsets", body: jobset({ replicatedJobs: [rjob({})] }) })) as { metadata: { name: string; uid: string } };
    expect(created.metadata.name).toMatch(/^js-[a-z0-9]{5}$/);
    fake.addPod("default", { metadata: { name: "p1", ownerReferences: [{ apiVersion: "jobset.x-k8s.io/v1alpha2", kind: "JobSet", name: created.metadata.name, uid: created.metadata.uid }] }, spec: { containers: [{ name: "c", image: "busybox" }] } });
    const list = (await kube.custom.listNamespacedCustomObject({ group: "jobset.x-k8s.io", version: "v1alpha2", namespace: "default", plural: "jobsets" })) as { items: unknown[] };
    expect(list.items).toHaveLength(1);
    expect(fake.warnings).toEqual([]);
    await kube.custom.deleteNamespacedCustomObject({ group: "jobset.x-k8s.io", version: "v1alpha2", namespace: "default", plural: "jobsets", name: created.metadata.name });
    expect(fake.get("pods", "default", "p1")).toBeUndefined();
  });

  it("rejects type errors and missing required fields with 422, and unknown fields under Strict; prunes them with a warning otherwise", async () => {
    const bad = await failure(kube.custom.createNamespacedCustomObject({ group: "jobset.x-k8s.io", version: "v1alpha2", namespace: "default", plural: "jobsets", body: jobset({ replicatedJobs: [{ ...rjob({}), replicas: "two" }] }) }));
    expect(bad.code).toBe(422);
    expect(bad.message).toMatch(/spec\.replicatedJobs\[0\]\.replicas in body must be of type integer/);
    const missing = await failure(kube.custom.createNamespacedCustomObject({ group: "kubeflow.org", version: "v1", namespace: "default", plural: "pytorchjobs", body: { apiVersion: "kubeflow.org/v1", kind: "PyTorchJob", metadata: { name: "pt" }, spec: {} } }));
    expect(missing.code).toBe(422);
    expect(missing.message).toMatch(/pytorchReplicaSpecs/);
    const strict = await failure(kube.custom.createNamespacedCustomObject({ group: "jobset.x-k8s.io", version: "v1alpha2", namespace: "default", plural: "jobsets", body: jobset({ replicatedJobs: [rjob({ bogus: 1 })] }), fieldValidation: "Strict" }));
    expect(strict.code).toBe(400);
    expect(strict.message).toContain('unknown field "spec.replicatedJobs[0].template.spec.template.spec.containers[0].bogus"');
    const before = fake.warnings.length;
    const pruned = (await kube.custom.createNamespacedCustomObject({ group: "jobset.x-k8s.io", version: "v1alpha2", namespace: "default", plural: "jobsets", body: jobset({ replicatedJobs: [rjob({ bogus: 1 })], group: "x" }) })) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(fake.warnings.slice(before)).toEqual(['unknown field "spec.replicatedJobs[0].template.spec.template.spec.containers[0].bogus"', 'unknown field "spec.group"']);
    expect(pruned.spec.group).toBeUndefined();
    expect(pruned.spec.replicatedJobs[0].template.spec.template.spec.containers[0].bogus).toBeUndefined();
  });

  it("answers 404 for a group, version or plural it does not serve, and 400 without kind", async () => {
    expect((await failure(kube.custom.createNamespacedCustomObject({ group: "ray.io", version: "v1", namespace: "default", plural: "rayjobs", body: { apiVersion: "ray.io/v1", kind: "RayJob", metadata: { name: "r" } } }))).code).toBe(404);
    expect((await failure(kube.custom.createNamespacedCustomObject({ group: "kubeflow.org", version: "v2", namespace: "default", plural: "pytorchjobs", body: {} }))).code).toBe(404);
    expect((await failure(kube.custom.createNamespacedCustomObject({ group: "batch.volcano.sh", version: "v1alpha1", namespace: "default", plural: "jobs", body: { metadata: { name: "v" }, spec: {} } }))).code).toBe(400);
  });

  it("keeps Volcano Jobs apart from batch/v1 Jobs of the same kind name", async () => {
    await kube.custom.createNamespacedCustomObject({
      group: "batch.volcano.sh",
      version: "v1alpha1",
      namespace: "default",
      plural: "jobs",
      body: { apiVersion: "batch.volcano.sh/v1alpha1", kind: "Job", metadata: { name: "vc" }, spec: { tasks: [{ name: "t", replicas: 1, template: { spec: { containers: [{ name: "c", image: "busybox" }] } } }] } },
    });
    expect(fake.list("jobs", "default").map((j) => (j.metadata as { name: string }).name)).not.toContain("vc");
    expect(fake.list("jobs.batch.volcano.sh", "default")).toHaveLength(1);
  });
});
