import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { KubernetesRunner, type KubernetesRunnerOptions } from "../../../agent/runners/kubernetes.js";
import type { LaunchRequest } from "../../../agent/runners/types.js";
import type { RunSpec } from "../../../agent/jobs/run-spec.js";
import { silentLogger } from "../../../agent/log.js";
import { clientsFor, eventually, resolvedJob } from "./helpers.js";

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const AUX = "wandb.ai/auxiliary-resource";
const AUX_VALUE = "aux-ent-proj-run00001";

let fake: FakeKube;
beforeEach(async () => {
  fake = await startFakeKube({ namespaces: ["default", "runs"] });
});
afterEach(() => fake.close());

const runner = (opts: Partial<KubernetesRunnerOptions> = {}) =>
  new KubernetesRunner({ kube: clientsFor(fake), agentName: "agent-x", releaseName: null, watchTimeoutSeconds: 5, retryDelayMs: 50, servicePollMs: 20, ...opts });

const deployment = {
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "model-server", labels: { app: "model" } },
  spec: { replicas: 2, selector: { matchLabels: { app: "model" } }, template: { metadata: { labels: { app: "model" } }, spec: { containers: [{ name: "serve", image: "vllm/vllm-openai:v0.6.0" }] } } },
};
const service = { apiVersion: "v1", kind: "Service", metadata: { name: "model" }, spec: { selector: { app: "model" }, ports: [{ port: 80, targetPort: 8000 }] } };
const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "cache" }, spec: { containers: [{ name: "redis", image: "redis:7" }] } };

function request(runSpec: RunSpec = {}): LaunchRequest {
  return {
    runId: "run00001",
    runSpec: { entity: "ent", project: "proj", resource: "kubernetes", resource_args: { kubernetes: { namespace: "runs" } }, additional_services: [{ config: deployment }, { config: service }, { config: pod }], ...runSpec },
    job: resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] } }),
    image: "127.0.0.1:5000/launch/job:0123abcd",
    entrypoint: ["python", "train.py"],
    args: [],
    env: { WANDB_API_KEY: "local-0123456789abcdef0123456789abcdef01234567", WANDB_CONFIG: '{"lr":0.1}', WANDB_RUN_ID: "run00001" },
    logger: silentLogger,
  };
}

const auxObjects = () => [...fake.list("deployments", "runs"), ...fake.list("services", "runs"), ...fake.list("pods", "runs").filter((p: AnyObj) => p.metadata.labels?.[AUX])];
const markAllReady = () => {
  fake.markReady("deployments", "runs", "model-server");
  fake.markReady("services", "runs", "model");
  fake.markReady("pods", "runs", "cache");
};

describe("additional_services on the kubernetes runner", () => {
  it("creates them labelled, with WANDB_CONFIG, the key by Secret reference and the forced securityContext, and starts the Job only once they are ready", async () => {
    const started = runner().run(request());
    await eventually(() => (auxObjects().length === 3 ? true : undefined), 5000, "the additional services");
    const d = fake.get("deployments", "runs", "model-server") as AnyObj;
    expect(d.metadata.labels).toEqual({ app: "model", "wandb.ai/run-id": "run00001", "wandb.ai/created-by": "launch-agent", [AUX]: AUX_VALUE });
    expect(d.spec.template.metadata.labels).toEqual({ app: "model", [AUX]: AUX_VALUE });
    const c = d.spec.template.spec.containers[0];
    expect(c.env).toEqual([
      { name: "WANDB_CONFIG", value: '{"lr":0.1}' },
      { name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-run00001", key: "password" } } },
    ]);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
    expect((fake.get("services", "runs", "model") as AnyObj).metadata.labels[AUX]).toBe(AUX_VALUE);
    expect(fake.warnings).toEqual([]);
    // The API key Secret exists before they reference it; the Job waits for readiness.
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeDefined();
    fake.markReady("deployments", "runs", "model-server");
    fake.markReady("pods", "runs", "cache");
    await new Promise((r) => setTimeout(r, 150));
    expect(fake.list("jobs", "runs")).toHaveLength(0); // the Service has no endpoint address yet
    fake.markReady("services", "runs", "model");
    const handle = await started;
    const [job] = fake.list("jobs", "runs") as AnyObj[];
    expect(job).toBeDefined();
    const firstJobPost = fake.requests.findIndex((r) => r.method === "POST" && r.path.endsWith("/jobs"));
    const lastAuxPost = fake.requests.findLastIndex((r) => r.method === "POST" && /\/(deployments|services|pods)$/.test(r.path));
    expect(lastAuxPost).toBeLessThan(firstJobPost);

    fake.succeedJob("runs", job.metadata.name);
    expect((await handle.wait()).status).toBe("finished");
    expect(auxObjects()).toEqual([]);
    expect(fake.list("endpoints", "runs")).toEqual([]);
  });

  it("fails the item with the official message when one is not ready in time, creates no Job and deletes what it created", async () => {
    const req = request({ resource_args: { kubernetes: { namespace: "runs", wait_timeout: 0.3 } } });
    const started = Date.now();
    await expect(runner().run(req)).rejects.toMatchObject({ stage: "run", message: "Resource 'model-server' not ready within 0.3 seconds" });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(fake.list("jobs", "runs")).toEqual([]);
    expect(auxObjects()).toEqual([]);
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeUndefined();
  });

  it("does not wait with wait_for_ready: false, and deletes them by label when the run fails or is cancelled", async () => {
    const noWait = request({ resource_args: { kubernetes: { namespace: "runs", wait_for_ready: false } } });
    const h1 = await runner().run(noWait);
    expect(auxObjects()).toHaveLength(3);
    const job1 = fake.list("jobs", "runs")[0] as AnyObj;
    fake.failJob("runs", job1.metadata.name);
    expect((await h1.wait()).status).toBe("failed");
    expect(auxObjects()).toEqual([]);

    const h2 = runner().run(request());
    await eventually(() => (auxObjects().length === 3 ? true : undefined), 5000, "the additional services");
    markAllReady();
    const handle = await h2;
    expect(auxObjects()).toHaveLength(3);
    await handle.cancel("stopped");
    expect((await handle.wait()).status).toBe("stopped");
    expect(auxObjects()).toEqual([]);
  });

  it("keeps them when the agent shuts down (the run goes on), and refuses them with a custom resource", async () => {
    const h = await runner().run(request({ resource_args: { kubernetes: { namespace: "runs", wait_for_ready: false } } }));
    await h.cancel("interrupted");
    expect((await h.wait()).status).toBe("interrupted");
    expect(auxObjects()).toHaveLength(3);

    const volcano = { apiVersion: "batch.volcano.sh/v1alpha1", kind: "Job", namespace: "runs", spec: { tasks: [] } };
    await expect(runner().run(request({ resource_args: { kubernetes: volcano } }))).rejects.toThrow(/additional_services are started only with batch\/v1 Job runs/);
  });

  it("names the missing permission when the agent may not create them (RBAC is opt-in)", async () => {
    fake.setPermissions([
      { namespace: "runs", apiGroups: [""], resources: ["secrets"], verbs: ["create", "get", "update", "delete"] },
      { namespace: "runs", apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "delete", "list", "watch"] },
    ]);
    await expect(runner().run(request({ additional_services: [{ config: deployment }] }))).rejects.toThrow(/creating additional service Deployment runs\/model-server failed: HTTP 403 .*RBAC/);
    expect(fake.list("jobs", "runs")).toEqual([]);
  });
});
