import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as k8s from "@kubernetes/client-node";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { kubeClientsFrom, kubeError, loadKubeClients, type KubeClients } from "../../../agent/kube/client.js";

// The fake must behave like an API server where our code depends on it: these tests pin that down
// through the real client library.

let fake: FakeKube;
let kube: KubeClients;

function clientsWith(token: string): KubeClients {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({ ...fake.kubeconfig, users: [{ name: "fake-user", token }] });
  return kubeClientsFrom(kc);
}

const job = (name: string | undefined, extra: Record<string, unknown> = {}): k8s.V1Job => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: name ? { name } : { generateName: "gen-" },
  spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "main", image: "busybox" }] } } },
  ...extra,
});

async function statusOf(p: Promise<unknown>): Promise<{ code: number | null; reason: string | null; message: string }> {
  try {
    await p;
  } catch (err) {
    return kubeError(err);
  }
  throw new Error("expected the call to fail");
}

beforeAll(async () => {
  fake = await startFakeKube();
  kube = loadKubeClients({ kubeconfigPath: fake.kubeconfigPath });
});
afterAll(() => fake.close());

describe("fake Kubernetes API server", () => {
  it("rejects a wrong bearer token with a 401 Status", async () => {
    const bad = clientsWith("not-the-token");
    const s = await statusOf(bad.batch.listNamespacedJob({ namespace: "default" }));
    expect(s.code).toBe(401);
    // client-node drops 401 bodies; the raw response is the Status a real server sends.
    const raw = await fetch(`${fake.url}/apis/batch/v1/namespaces/default/jobs`, { headers: { authorization: "Bearer wrong" } });
    expect(raw.status).toBe(401);
    expect(await raw.json()).toMatchObject({ kind: "Status", status: "Failure", reason: "Unauthorized", code: 401 });
  });

  it("creates Jobs with generateName, a server suffix, defaults and a controller pod", async () => {
    const created = await kube.batch.createNamespacedJob({ namespace: "default", body: job(undefined) });
    expect(created.metadata?.name).toMatch(/^gen-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(created.metadata?.uid).toBeTruthy();
    const pods = await kube.core.listNamespacedPod({ namespace: "default", labelSelector: `job-name=${created.metadata!.name}` });
    expect(pods.items).toHaveLength(1);
    expect(pods.items[0]!.status?.phase).toBe("Pending");
  });

  it("answers 409 AlreadyExists, 404 NotFound and 404 for a missing namespace", async () => {
    await kube.batch.createNamespacedJob({ namespace: "default", body: job("dup") });
    expect(await statusOf(kube.batch.createNamespacedJob({ namespace: "default", body: job("dup") }))).toMatchObject({
      code: 409,
      reason: "AlreadyExists",
      message: 'jobs.batch "dup" already exists',
    });
    expect(await statusOf(kube.batch.readNamespacedJob({ name: "nope", namespace: "default" }))).toMatchObject({ code: 404, message: 'jobs.batch "nope" not found' });
    expect(await statusOf(kube.batch.createNamespacedJob({ namespace: "ghost", body: job("x") }))).toMatchObject({ code: 404, message: 'namespaces "ghost" not found' });
  });

  it("answers 422 Invalid naming the field for bad names, missing containers/images and bad restartPolicy", async () => {
    const badName = await statusOf(kube.batch.createNamespacedJob({ namespace: "default", body: job("Bad_Name") }));
    expect(badName.code).toBe(422);
    expect(badName.message).toContain("metadata.name: Invalid value");
    const noName = await statusOf(kube.batch.createNamespacedJob({ namespace: "default", body: { metadata: {}, spec: job("a").spec! } }));
    expect(noName.message).toContain("name or generateName is required");
    const noContainers = await statusOf(kube.batch.createNamespacedJob({ namespace: "default", body: { metadata: { name: "a" }, spec: { template: { spec: { restartPolicy: "Never", containers: [] } } } } }));
    expect(noContainers.message).toContain("spec.template.spec.containers: Required value");
    const noImage = await statusOf(
      kube.batch.createNamespacedJob({ namespace: "default", body: { metadata: { name: "a" }, spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c" }] } } } } }),
    );
    expect(noImage.message).toContain("spec.template.spec.containers[0].image: Required value");
    const always = await statusOf(
      kube.batch.createNamespacedJob({ namespace: "default", body: { metadata: { name: "a" }, spec: { template: { spec: { restartPolicy: "Always", containers: [{ name: "c", image: "i" }] } } } } }),
    );
    expect(always.message).toContain('spec.template.spec.restartPolicy: Unsupported value: "Always"');
    const badMount = await statusOf(
      kube.batch.createNamespacedJob({
        namespace: "default",
        body: { metadata: { name: "a" }, spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "i", volumeMounts: [{ name: "v", mountPath: "/x" }] }] } } } },
      }),
    );
    expect(badMount.message).toContain('volumeMounts[0].name: Not found: "v"');
    const twice = await statusOf(
      kube.batch.createNamespacedJob({
        namespace: "default",
        body: {
          metadata: { name: "a" },
          spec: {
            template: {
              spec: {
                restartPolicy: "Never",
                volumes: [{ name: "v", emptyDir: {} }, { name: "w", emptyDir: {} }],
                containers: [{ name: "c", image: "i", volumeMounts: [{ name: "v", mountPath: "/x" }, { name: "w", mountPath: "/x/" }] }],
              },
            },
          },
        },
      }),
    );
    expect(twice.message).toContain("volumeMounts[1].mountPath: Invalid value: \"/x/\": must be unique");
  });

  it("validates Secrets (base64, basic-auth keys) and supports replace and delete", async () => {
    const bad = await statusOf(kube.core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: "s1" }, type: "kubernetes.io/basic-auth", data: { other: "eA==" } } }));
    expect(bad).toMatchObject({ code: 422 });
    await kube.core.createNamespacedSecret({ namespace: "default", body: { metadata: { name: "s1" }, type: "kubernetes.io/basic-auth", data: { password: "eA==" } } });
    const read = await kube.core.readNamespacedSecret({ name: "s1", namespace: "default" });
    await kube.core.replaceNamespacedSecret({ name: "s1", namespace: "default", body: { ...read, data: { password: "eQ==" } } });
    const stale = await statusOf(kube.core.replaceNamespacedSecret({ name: "s1", namespace: "default", body: { ...read, data: { password: "eg==" } } }));
    expect(stale).toMatchObject({ code: 409, reason: "Conflict" });
    await kube.core.deleteNamespacedSecret({ name: "s1", namespace: "default" });
    expect((await statusOf(kube.core.deleteNamespacedSecret({ name: "s1", namespace: "default" }))).code).toBe(404);
  });

  it("refuses to change an immutable ConfigMap's data", async () => {
    await kube.core.createNamespacedConfigMap({ namespace: "wandb", body: { metadata: { name: "cm" }, immutable: true, data: { a: "1" } } });
    const cm = await kube.core.readNamespacedConfigMap({ name: "cm", namespace: "wandb" });
    const s = await statusOf(kube.core.replaceNamespacedConfigMap({ name: "cm", namespace: "wandb", body: { ...cm, data: { a: "2" } } }));
    expect(s.code).toBe(422);
    expect(s.message).toContain("field is immutable");
  });

  it("filters by equality, inequality and existence label selectors", async () => {
    for (const [name, labels] of [["l1", { app: "a", tier: "x" }], ["l2", { app: "b" }]] as const) {
      await kube.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name, labels } } });
    }
    const names = async (labelSelector: string) => (await kube.core.listNamespacedConfigMap({ namespace: "default", labelSelector })).items.map((i) => i.metadata?.name).sort();
    expect(await names("app=a")).toEqual(["l1"]);
    expect(await names("app!=a,app")).toEqual(["l2"]);
    expect(await names("app,tier==x")).toEqual(["l1"]);
    expect(await names("!tier,app")).toEqual(["l2"]);
  });

  it("deletes a Job's pods only with Background/Foreground propagation (the API default orphans them)", async () => {
    await kube.batch.createNamespacedJob({ namespace: "default", body: job("orphaner") });
    await kube.batch.createNamespacedJob({ namespace: "default", body: job("cascader") });
    await kube.batch.deleteNamespacedJob({ name: "orphaner", namespace: "default" });
    await kube.batch.deleteNamespacedJob({ name: "cascader", namespace: "default", propagationPolicy: "Background" });
    expect(fake.podsOfJob("default", "orphaner")).toHaveLength(1);
    expect(fake.podsOfJob("default", "cascader")).toHaveLength(0);
  });

  it("streams watch events after a resourceVersion and sends ERROR 410 for a compacted one", async () => {
    const list = await kube.batch.listNamespacedJob({ namespace: "default", fieldSelector: "metadata.name=watched" });
    const rv = list.metadata!.resourceVersion!;
    await kube.batch.createNamespacedJob({ namespace: "default", body: job("watched") });
    fake.succeedJob("default", "watched");
    const events: { type: string; succeeded?: number; code?: number }[] = [];
    await new Promise<void>((resolve, reject) => {
      let ctl: AbortController | undefined;
      kube.watch
        .watch(
          "/apis/batch/v1/namespaces/default/jobs",
          { resourceVersion: rv, fieldSelector: "metadata.name=watched" },
          (type, obj: k8s.V1Job) => {
            events.push({ type, succeeded: obj.status?.succeeded });
            if (obj.status?.succeeded) ctl?.abort();
          },
          () => resolve(),
        )
        .then((c) => (ctl = c), reject);
    });
    expect(events[0]!.type).toBe("ADDED");
    expect(events.at(-1)).toMatchObject({ type: "MODIFIED", succeeded: 1 });

    fake.compactHistory();
    const errors: unknown[] = [];
    await new Promise<void>((resolve) => {
      void kube.watch.watch("/apis/batch/v1/namespaces/default/jobs", { resourceVersion: rv }, (type, obj) => errors.push({ type, obj }), () => resolve());
    });
    expect(errors).toEqual([{ type: "ERROR", obj: expect.objectContaining({ kind: "Status", code: 410, reason: "Expired" }) }]);
  });

  it("serves pod logs once the container started, and 400 while it is waiting", async () => {
    await kube.batch.createNamespacedJob({ namespace: "default", body: job("logger") });
    const pod = fake.podsOfJob("default", "logger")[0]!;
    const name = (pod.metadata as { name: string }).name;
    const waiting = await statusOf(kube.core.readNamespacedPodLog({ name, namespace: "default" }));
    expect(waiting).toMatchObject({ code: 400 });
    fake.setPodPhase("default", name, "Running");
    fake.setPodLog("default", name, "hello\nworld\n");
    expect(await kube.core.readNamespacedPodLog({ name, namespace: "default" })).toBe("hello\nworld\n");
  });
});

describe("fake Kubernetes API server: RBAC and SelfSubjectAccessReview", () => {
  const review = (body: unknown) =>
    fetch(`${fake.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews`, {
      method: "POST",
      headers: { authorization: `Bearer ${fake.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("answers reviews from its rules and forbids the requests they do not allow, as a real server does", async () => {
    fake.setPermissions([{ namespace: "default", apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list"] }]);
    try {
      const authz = kube.config.makeApiClient(k8s.AuthorizationV1Api);
      const ask = async (verb: string) =>
        (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { namespace: "default", verb, group: "batch", resource: "jobs" } } } })).status?.allowed;
      expect(await ask("list")).toBe(true);
      expect(await ask("create")).toBe(false);
      const s = await statusOf(kube.batch.createNamespacedJob({ namespace: "default", body: job("denied") }));
      expect(s).toEqual({
        code: 403,
        reason: "Forbidden",
        message: 'jobs.batch is forbidden: User "system:serviceaccount:wandb:launch-agent" cannot create resource "jobs" in API group "batch" in the namespace "default"',
      });
      expect((await kube.batch.listNamespacedJob({ namespace: "default" })).items).toBeDefined();
    } finally {
      fake.setPermissions(null);
    }
  });

  it("rejects a review with neither or both attribute sets (422) and unknown fields (400)", async () => {
    const neither = await review({ apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: {} });
    expect(neither.status).toBe(422);
    expect(await neither.json()).toMatchObject({ reason: "Invalid", message: expect.stringContaining("exactly one of nonResourceAttributes or resourceAttributes must be specified") });
    const both = await review({ spec: { resourceAttributes: { verb: "get" }, nonResourceAttributes: { path: "/healthz", verb: "get" } } });
    expect(both.status).toBe(422);
    const unknown = await review({ spec: { resourceAttributes: { verb: "get", resources: "jobs" } } });
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({ message: 'strict decoding error: unknown field "spec.resourceAttributes.resources"' });
  });
});

describe("the fake's Deployments, Services, Endpoints and Pods (additional_services)", () => {
  const deployment = (extra: Record<string, unknown> = {}, labels: Record<string, string> = { app: "m" }) => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "m" },
    spec: { selector: { matchLabels: { app: "m" } }, template: { metadata: { labels }, spec: { containers: [{ name: "c", image: "busybox" }] } }, ...extra },
  });

  it("serves discovery, so the generic object client finds them, and validates like the server", async () => {
    const api = k8s.KubernetesObjectApi.makeApiClient(kube.config);
    // Unknown fields: pruned with a Warning by default, refused under Strict (raw requests; the client drops them itself).
    const post = (query: string) =>
      fetch(`${fake.url}/apis/apps/v1/namespaces/default/deployments${query}`, { method: "POST", headers: { authorization: `Bearer ${fake.token}`, "content-type": "application/json" }, body: JSON.stringify(deployment({ bogus: 1 })) });
    const strict = await post("?fieldValidation=Strict");
    expect(strict.status).toBe(400);
    expect(await strict.text()).toContain('strict decoding error: unknown field \\"spec.bogus\\"');
    const lax = await post("");
    expect(lax.status).toBe(201);
    expect(lax.headers.get("warning")).toContain("unknown field");
    const stored = fake.get("deployments", "default", "m")!;
    expect((stored.spec as Record<string, unknown>).bogus).toBeUndefined();
    expect((stored.spec as Record<string, unknown>).replicas).toBe(1);
    const mismatch = await statusOf(api.create({ ...deployment({}, { app: "other" }), metadata: { name: "m2" } } as k8s.KubernetesObject));
    expect(mismatch).toMatchObject({ code: 422, reason: "Invalid" });
    expect(mismatch.message).toContain("`selector` does not match template `labels`");
    expect((await statusOf(api.create({ apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { selector: { app: "m" } } } as k8s.KubernetesObject))).message).toContain("spec.ports: Required value");
    expect((await statusOf(api.create({ apiVersion: "v1", kind: "Endpoints", metadata: { name: "e" } } as k8s.KubernetesObject))).code).toBe(405);
    await api.delete({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "m", namespace: "default" } });
  });

  it("creates a Service's Endpoints without addresses until marked ready, and removes them with it", async () => {
    const api = k8s.KubernetesObjectApi.makeApiClient(kube.config);
    await api.create({ apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: "default" }, spec: { selector: { app: "m" }, ports: [{ port: 80 }] } } as k8s.KubernetesObject);
    const read = () => api.read({ apiVersion: "v1", kind: "Endpoints", metadata: { name: "s", namespace: "default" } }) as Promise<k8s.V1Endpoints>;
    expect((await read()).subsets).toBeUndefined();
    fake.markReady("services", "default", "s");
    expect((await read()).subsets?.[0]?.addresses).toHaveLength(1);
    await api.delete({ apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: "default" } });
    expect((await statusOf(read())).code).toBe(404);
  });
});
