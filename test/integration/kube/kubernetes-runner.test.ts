import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Job } from "kubernetes-models/batch/v1/Job";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { KubernetesRunner, type KubernetesRunnerOptions } from "../../../agent/runners/kubernetes.js";
import type { LaunchRequest } from "../../../agent/runners/types.js";
import type { RunSpec } from "../../../agent/jobs/run-spec.js";
import { silentLogger } from "../../../agent/log.js";
import * as k8s from "@kubernetes/client-node";
import { kubeClientsFrom } from "../../../agent/kube/client.js";
import { clientsFor, eventually, resolvedJob } from "./helpers.js";
import { legacyPullRegistry, legacyPullRegistryUri } from "../../../agent/runners/kubernetes-pull-secret.js";
import type { Registry } from "../../../agent/registries/types.js";

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const API_KEY = "local-0123456789abcdef0123456789abcdef01234567";

let fake: FakeKube;
beforeEach(async () => {
  fake = await startFakeKube({ namespaces: ["default", "wandb", "runs"] });
});
afterEach(() => fake.close());

function runner(opts: Partial<KubernetesRunnerOptions> = {}) {
  return new KubernetesRunner({ kube: clientsFor(fake), agentName: "agent-x", releaseName: null, watchTimeoutSeconds: 5, retryDelayMs: 50, ...opts });
}

function request(runSpec: RunSpec = {}, over: Partial<LaunchRequest> = {}): LaunchRequest & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    runId: "run00001",
    runSpec: { entity: "ent", project: "proj", resource: "kubernetes", resource_args: { kubernetes: { namespace: "runs" } }, ...runSpec },
    job: resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] } }),
    image: "127.0.0.1:5000/launch/job:0123abcd",
    entrypoint: ["python", "train.py"],
    args: [],
    env: { WANDB_API_KEY: API_KEY, WANDB_PROJECT: "proj", WANDB_RUN_ID: "run00001" },
    logger: silentLogger,
    warn: (m: string) => void warnings.push(m),
    warnings,
    ...over,
  };
}

const jobsIn = (ns: string) => fake.list("jobs", ns);
const nameOf = (o: Record<string, unknown>) => (o.metadata as { name: string }).name;

describe("KubernetesRunner against the fake API server", () => {
  it("submits a schema-valid Job with the API key by Secret reference, then reports finished and removes the Secret", async () => {
    const handle = await runner().run(request());
    const [job] = jobsIn("runs");
    expect(job).toBeDefined();
    new Job(job as never).validate();
    expect(handle.id).toBe(`runs/${nameOf(job!)}`);
    expect(nameOf(job!)).toMatch(/^launch-ent-proj-[a-z0-9]{5}$/);
    const posted = fake.requests.find((r) => r.method === "POST" && r.path.endsWith("/jobs"))!;
    expect(JSON.stringify(posted.body)).not.toContain(API_KEY);
    const container = (job as any).spec.template.spec.containers[0]; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(container.env).toContainEqual({ name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-run00001", key: "password" } } });
    const secret = fake.get("secrets", "runs", "wandb-api-key-run00001")!;
    expect(secret.type).toBe("kubernetes.io/basic-auth");
    expect(Buffer.from((secret.data as { password: string }).password, "base64").toString()).toBe(API_KEY);

    fake.succeedJob("runs", nameOf(job!));
    const outcome = await handle.wait();
    expect(outcome.status).toBe("finished");
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeUndefined();
  });

  it("reports a failed Job with the reason, the kubectl hint and the log tail", async () => {
    const handle = await runner().run(request());
    const name = nameOf(jobsIn("runs")[0]!);
    const pod = nameOf(fake.podsOfJob("runs", name)[0]!);
    fake.setPodPhase("runs", pod, "Running");
    fake.setPodLog("runs", pod, "step 1\nTraceback: boom\n");
    fake.failJob("runs", name);
    const outcome = await handle.wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toContain(`job runs/${name} failed: BackoffLimitExceeded`);
    expect(outcome.message).toContain(`kubectl logs -n runs job/${name}`);
    expect(outcome.message).toContain("Traceback: boom");
  });

  it("reports preempted when the pod has a DisruptionTarget condition", async () => {
    const handle = await runner().run(request());
    const name = nameOf(jobsIn("runs")[0]!);
    fake.preemptPod("runs", nameOf(fake.podsOfJob("runs", name)[0]!), "PreemptionByScheduler");
    fake.failJob("runs", name, "PodFailurePolicy", "pod was disrupted");
    const outcome = await handle.wait();
    expect(outcome.status).toBe("preempted");
    expect(outcome.message).toContain("PreemptionByScheduler");
  });

  it("reports failed when someone else deletes the Job", async () => {
    const handle = await runner().run(request());
    const kube = clientsFor(fake);
    await kube.batch.deleteNamespacedJob({ name: nameOf(jobsIn("runs")[0]!), namespace: "runs" });
    const outcome = await handle.wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toMatch(/was deleted before it finished/);
  });

  it("surfaces an unschedulable pod as a warning, once", async () => {
    const req = request();
    const handle = await runner().run(req);
    const name = nameOf(jobsIn("runs")[0]!);
    const pod = nameOf(fake.podsOfJob("runs", name)[0]!);
    fake.markUnschedulable("runs", pod, "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
    fake.markUnschedulable("runs", pod, "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.");
    await eventually(() => req.warnings.length > 0, 5000, "the warning");
    fake.succeedJob("runs", name);
    await handle.wait();
    expect(req.warnings).toEqual([`Pod runs/${pod} of job ${name} cannot be scheduled: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.`]);
  });

  it("cancel deletes the Job with Background propagation (pods too) and the Secret", async () => {
    const handle = await runner().run(request());
    const name = nameOf(jobsIn("runs")[0]!);
    expect(fake.podsOfJob("runs", name)).toHaveLength(1);
    await handle.cancel("stopped");
    const outcome = await handle.wait();
    expect(outcome.status).toBe("stopped");
    expect(jobsIn("runs")).toHaveLength(0);
    expect(fake.podsOfJob("runs", name)).toHaveLength(0);
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeUndefined();
    const del = fake.requests.find((r) => r.method === "DELETE" && r.path.endsWith(`/jobs/${name}`))!;
    expect(del.query.propagationPolicy).toBe("Background");
  });

  it("keeps following the Job across dropped watch streams and a 410 Expired resourceVersion", async () => {
    const handle = await runner().run(request());
    const name = nameOf(jobsIn("runs")[0]!);
    await eventually(() => fake.activeWatches() >= 2, 5000, "watches");
    fake.closeWatches();
    // The pod starts while the monitor is disconnected, then history is compacted past it: resuming gets 410.
    fake.setPodPhase("runs", nameOf(fake.podsOfJob("runs", name)[0]!), "Running");
    fake.compactHistory();
    fake.succeedJob("runs", name);
    const outcome = await handle.wait();
    expect(outcome.status).toBe("finished");
    // The monitor listed again after the 410 (more than the initial two lists).
    const lists = fake.requests.filter((r) => r.method === "GET" && !r.query.watch && r.path.endsWith("/jobs"));
    expect(lists.length).toBeGreaterThanOrEqual(2);
  });

  it("reuses an identical existing Secret and replaces an agent-made one with another key (409 handling)", async () => {
    const kube = clientsFor(fake);
    const body = (key: string, labels?: Record<string, string>) => ({
      metadata: { name: "wandb-api-key-run00001", ...(labels ? { labels } : {}) },
      type: "kubernetes.io/basic-auth",
      data: { password: Buffer.from(key).toString("base64") },
    });
    await kube.core.createNamespacedSecret({ namespace: "runs", body: body(API_KEY) });
    const h1 = await runner().run(request());
    expect(fake.requests.filter((r) => r.method === "DELETE" && r.path.includes("/secrets/"))).toHaveLength(0);
    await h1.cancel("stopped");

    await kube.core.createNamespacedSecret({ namespace: "runs", body: body("old-key", { "wandb.ai/created-by": "launch-agent" }) });
    const h2 = await runner().run(request());
    const s = fake.get("secrets", "runs", "wandb-api-key-run00001")!;
    expect(Buffer.from((s.data as { password: string }).password, "base64").toString()).toBe(API_KEY);
    await h2.cancel("stopped");

    await kube.core.createNamespacedSecret({ namespace: "runs", body: body("someone-elses") });
    await expect(runner().run(request())).rejects.toThrow(/Secret runs\/wandb-api-key-run00001 already exists, holds a different API key and was not created by the launch agent/);
    expect(jobsIn("runs")).toHaveLength(0);
  });

  it("uses the context namespace, then default, when resource_args names none", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({ ...fake.kubeconfig, contexts: [{ ...fake.kubeconfig.contexts[0]!, namespace: "wandb" }] });
    const h1 = await runner({ kube: kubeClientsFrom(kc) }).run(request({ resource_args: { kubernetes: {} } }));
    expect(jobsIn("wandb")).toHaveLength(1);
    await h1.cancel("stopped");
    const h2 = await runner({ kube: { ...clientsFor(fake), contextNamespace: null } }).run(request({ resource_args: {} }));
    expect(jobsIn("default")).toHaveLength(1);
    await h2.cancel("stopped");
  });

  it("names the credentials problem when the API server rejects the agent (401)", async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({ ...fake.kubeconfig, users: [{ name: "fake-user", token: "wrong" }] });
    await expect(runner({ kube: kubeClientsFrom(kc), secretAttempts: 1 }).run(request())).rejects.toThrow(/HTTP 401 .*credentials were rejected/);
  });

  it("fails the run with the server's message when the Job is rejected, and removes the Secret", async () => {
    const req = request({ resource_args: { kubernetes: { namespace: "runs", spec: { template: { spec: { restartPolicy: "Always" } } } } } });
    await expect(runner().run(req)).rejects.toThrow(/creating the run's Job in namespace runs failed: HTTP 422 .*restartPolicy: Unsupported value: "Always"/);
    expect(fake.list("secrets", "runs")).toHaveLength(0);
  });

  it("rejects unsafe resource_args before touching the cluster", async () => {
    const req = request({ resource_args: { kubernetes: { spec: { template: { spec: { hostNetwork: true } } } } } });
    await expect(runner().run(req)).rejects.toThrow(/Unsafe resource_args.kubernetes option 'hostNetwork'/);
    await expect(runner({ config: { secure_mode: true } }).run(request({ overrides: { entry_point: ["sh"] } }))).rejects.toThrow(/secure_mode/);
    expect(fake.requests).toHaveLength(0);
  });

  it("keeps a Helm release's shared Secret (WANDB_RELEASE_NAME)", async () => {
    const h = await runner({ releaseName: "launch" }).run(request());
    expect(fake.get("secrets", "runs", "wandb-api-key-launch")).toBeDefined();
    fake.succeedJob("runs", nameOf(jobsIn("runs")[0]!));
    expect((await h.wait()).status).toBe("finished");
    expect(fake.get("secrets", "runs", "wandb-api-key-launch")).toBeDefined();
  });

  it("makes the Job own its API-key Secret, so deleting the Job (TTL, kubectl) removes the Secret too", async () => {
    const h = await runner().run(request());
    const job = jobsIn("runs")[0]!;
    const secret = fake.get("secrets", "runs", "wandb-api-key-run00001")!;
    expect((secret.metadata as any).ownerReferences).toEqual([{ apiVersion: "batch/v1", kind: "Job", name: nameOf(job), uid: (job.metadata as any).uid }]); // eslint-disable-line @typescript-eslint/no-explicit-any
    await clientsFor(fake).batch.deleteNamespacedJob({ name: nameOf(job), namespace: "runs", propagationPolicy: "Background" });
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeUndefined();
    expect((await h.wait()).status).toBe("failed");
  });

  it("leaves the Job (and its Secret) running when the agent shuts down", async () => {
    const h = await runner().run(request());
    await h.cancel("interrupted");
    const outcome = await h.wait();
    expect(outcome.status).toBe("interrupted");
    expect(outcome.message).toMatch(/keeps running in the cluster/);
    expect(jobsIn("runs")).toHaveLength(1);
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeDefined();
    expect(fake.requests.some((r) => r.method === "DELETE")).toBe(false);
  });

  it("retries the Secret on transient API errors, and gives up with the server's answer", async () => {
    fake.injectFailure({ method: "POST", path: /\/secrets$/, code: 503, times: 2 });
    const h = await runner({ secretBaseDelayMs: 10 }).run(request());
    expect(fake.get("secrets", "runs", "wandb-api-key-run00001")).toBeDefined();
    await h.cancel("stopped");
    fake.injectFailure({ method: "POST", path: /\/secrets$/, code: 500, times: 5 });
    await expect(runner({ secretBaseDelayMs: 10, secretAttempts: 3 }).run(request())).rejects.toThrow(/creating the API-key Secret runs\/wandb-api-key-run00001 failed: HTTP 500/);
    expect(jobsIn("runs")).toHaveLength(0);
  });

  it("refuses base-image (code-mount) runs with a message saying what to configure", async () => {
    await expect(runner().run(request({}, { mountCode: true }))).rejects.toThrow(/configure builder.type kaniko/);
  });

  it("runs an image job's own image", async () => {
    const h = await runner().run(
      request({}, { job: resolvedJob({ source_type: "image", source: { image: "org/trainer:3" } }), image: "org/trainer:3", entrypoint: [] }),
    );
    const c = (jobsIn("runs")[0] as any).spec.template.spec.containers[0]; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(c.image).toBe("org/trainer:3");
    expect(c.command).toBeUndefined();
    await h.cancel("stopped");
  });

  it("ignores queue-supplied kubeconfig paths and contexts (the agent's own credentials only)", async () => {
    const h = await runner().run(request({ resource_args: { kubernetes: { namespace: "runs", configFile: "/etc/passwd", context: "prod" } } }));
    const job = jobsIn("runs")[0] as AnyObj;
    expect(job.configFile).toBeUndefined();
    expect(job.context).toBeUndefined();
    await h.cancel("stopped");
  });

  it("gives runs a regcred-<run id> pull Secret from a legacy ecr/gcr registry block, owned by the Job and removed at the end", async () => {
    const pullRegistry: Registry = {
      kind: "ecr",
      host: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
      repositoryUri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch",
      credentials: async () => ({ username: "AWS", password: "ecr-token-value" }),
      exists: async () => false,
    };
    const h = await runner({ pullRegistry }).run(
      request({ resource_args: { kubernetes: { namespace: "runs", spec: { template: { spec: { imagePullSecrets: [{ name: "team-pull" }] } } } } } }),
    );
    const job = jobsIn("runs")[0] as AnyObj;
    expect(job.spec.template.spec.imagePullSecrets).toEqual([{ name: "team-pull" }, { name: "regcred-run00001" }]);
    const secret = fake.get("secrets", "runs", "regcred-run00001") as AnyObj;
    expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
    const config = JSON.parse(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString());
    expect(config).toEqual({ auths: { "123456789012.dkr.ecr.us-east-1.amazonaws.com": { auth: Buffer.from("AWS:ecr-token-value").toString("base64") } } });
    expect(secret.metadata.ownerReferences).toEqual([{ apiVersion: "batch/v1", kind: "Job", name: nameOf(job), uid: job.metadata.uid }]);
    fake.succeedJob("runs", nameOf(job));
    expect((await h.wait()).status).toBe("finished");
    expect(fake.get("secrets", "runs", "regcred-run00001")).toBeUndefined();
  });

  it("takes the pull registry from the legacy registry block: ecr and gcr get one, acr, none and builder.destination do not", () => {
    expect(legacyPullRegistryUri({ type: "ecr", uri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo" })).toBe("123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo");
    expect(legacyPullRegistryUri({ type: "ecr", account_id: "123456789012", region: "us-east-2", repo_name: "r" })).toBe("123456789012.dkr.ecr.us-east-2.amazonaws.com/r");
    expect(legacyPullRegistryUri({ type: "gcr", region: "us-central1", project: "p", repository: "r", "image-name": "i" })).toBe("us-central1-docker.pkg.dev/p/r/i");
    expect(legacyPullRegistryUri({ type: "acr", uri: "https://x.azurecr.io/r" })).toBeNull();
    expect(legacyPullRegistryUri({ uri: "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo" })).toBeNull();
    expect(legacyPullRegistryUri(undefined)).toBeNull();
    expect(legacyPullRegistry({ registry: { type: "gcr", uri: "us-central1-docker.pkg.dev/p/r/i" } })?.kind).toBe("gar");
  });

  it("runs without a pull Secret when there is no legacy registry block", async () => {
    const h = await runner({ config: { registry: null } }).run(request());
    expect((jobsIn("runs")[0] as AnyObj).spec.template.spec.imagePullSecrets).toBeUndefined();
    expect(fake.list("secrets", "runs").map(nameOf)).toEqual(["wandb-api-key-run00001"]);
    await h.cancel("stopped");
  });

  it("base-image runs get their code as the official agent supplies it: an emptyDir filled by an init container downloading the code artifact", async () => {
    const job = { ...resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "train.py"], artifact: "wandb-artifact://_id/QXJ0" } }), artifacts: { job: "ent/proj/job-x:v2", code: "ent/proj/code-abc:v1" } };
    const h = await runner().run(
      request({ overrides: { args: ["--lr", "0.1 x"], working_dir: "src" } }, { job, image: "python:3.12-slim", args: ["--lr", "0.1 x"], mountCode: true, autoBaseImage: true, env: { WANDB_API_KEY: API_KEY, WANDB_BASE_URL: "https://wandb.example.com" } }),
    );
    const pod = (jobsIn("runs")[0] as AnyObj).spec.template.spec;
    new Job(jobsIn("runs")[0] as never).validate();
    expect(pod.volumes).toEqual([{ name: "wandb-source-code-volume", emptyDir: {} }]);
    const [c] = pod.containers;
    expect(c.image).toBe("python:3.12-slim");
    expect(c.volumeMounts).toEqual([{ name: "wandb-source-code-volume", mountPath: "/mnt/wandb" }]);
    expect(c.workingDir).toBe("/mnt/wandb/src");
    // The noop builder's base image: requirements are installed first (script as the official agent writes it).
    expect(c.command).toEqual(["/bin/sh", "-c"]);
    expect(c.args).toEqual([
      "if [ -f /mnt/wandb/src/requirements.txt ]; then pip install -r /mnt/wandb/src/requirements.txt; elif [ -f /mnt/wandb/src/pyproject.toml ]; then pip install /mnt/wandb/src; elif [ -f /mnt/wandb/.job/requirements.frozen.txt ]; then pip install -r /mnt/wandb/.job/requirements.frozen.txt; else echo 'No requirements file found'; fi && exec python train.py --lr '0.1 x'",
    ]);
    expect(pod.initContainers).toEqual([
      {
        name: "wandb-source-code-init",
        image: "wandb/launch-agent:0.25.1",
        volumeMounts: [{ name: "wandb-source-code-volume", mountPath: "/mnt/wandb" }],
        env: [{ name: "WANDB_BASE_URL", value: "https://wandb.example.com" }, { name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-run00001", key: "password" } } }],
        command: [
          "/bin/sh",
          "-c",
          `python -c 'import wandb; wandb.Api().artifact('"'"'ent/proj/code-abc:v1'"'"').download('"'"'/mnt/wandb'"'"')' && python -c 'import wandb; wandb.Api().artifact('"'"'ent/proj/job-x:v2'"'"').download('"'"'/mnt/wandb/.job'"'"')' && chmod -R a+w /mnt/wandb/* || true && chmod -R a+w /mnt/wandb/.* || true`,
        ],
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } },
      },
    ]);
    await h.cancel("stopped");
  });

  it("base-image repo jobs clone the commit; a job's own base_image runs its command unchanged; local jobs are refused", async () => {
    const job = { ...resolvedJob({ source_type: "repo", source: { entrypoint: ["python", "t.py"], git: { remote: "https://github.com/org/repo.git", commit: "abc123" } } }), artifacts: { job: "ent/proj/job-x:v2" } };
    const h = await runner().run(request({}, { job, image: "org/base:1", mountCode: true }));
    const pod = (jobsIn("runs")[0] as AnyObj).spec.template.spec;
    expect(pod.containers[0].command).toEqual(["python", "train.py"]);
    expect(pod.containers[0].workingDir).toBe("/mnt/wandb");
    expect(pod.initContainers[0].command[2]).toBe(
      "git clone https://github.com/org/repo.git /mnt/wandb && git config --global --add safe.directory /mnt/wandb && cd /mnt/wandb && git checkout abc123 && chmod -R a+w /mnt/wandb/* || true && chmod -R a+w /mnt/wandb/.* || true",
    );
    await h.cancel("stopped");
    await expect(runner().run(request({}, { job: resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "t.py"] } }, "/jobs/local"), mountCode: true }))).rejects.toThrow(/not a W&B job the pod can download.*builder.type kaniko/);
  });

  it("with WANDB_LAUNCH_CODE_PVC_NAME/_MOUNT_PATH, base-image runs read the code from the claim (copied under the job's source string), as the official agent's PVC variant", async () => {
    const mount = await mkdtemp(join(tmpdir(), "code-pvc-"));
    const code = await mkdtemp(join(tmpdir(), "code-"));
    await writeFile(join(code, "train.py"), "print(1)\n");
    await mkdir(join(code, ".git"));
    await writeFile(join(code, ".git", "HEAD"), "ref\n");
    try {
      const job = { ...resolvedJob({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] } }, code, "/jobs/local-job"), sourceString: "job-x:latest:vv3" };
      const h = await runner({ codePvc: { claimName: "launch-code", mountPath: mount } }).run(request({}, { job, image: "python:3.12-slim", mountCode: true, autoBaseImage: false }));
      const pod = (jobsIn("runs")[0] as AnyObj).spec.template.spec;
      expect(pod.volumes).toEqual([{ name: "wandb-source-code-volume", persistentVolumeClaim: { claimName: "launch-code" } }]);
      expect(pod.containers[0].volumeMounts).toEqual([{ name: "wandb-source-code-volume", mountPath: "/mnt/wandb", subPath: "job-x:latest:vv3" }]);
      expect(pod.containers[0].workingDir).toBe("/mnt/wandb");
      expect(pod.containers[0].command).toEqual(["python", "train.py"]);
      expect(pod.initContainers).toBeUndefined();
      expect(await readFile(join(mount, "job-x:latest:vv3", "train.py"), "utf8")).toBe("print(1)\n");
      expect(existsSync(join(mount, "job-x:latest:vv3", ".git"))).toBe(false);
      await h.cancel("stopped");
    } finally {
      await rm(mount, { recursive: true, force: true });
      await rm(code, { recursive: true, force: true });
    }
  });
});
