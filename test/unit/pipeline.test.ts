import { describe, expect, it } from "vitest";
import { ItemTask, type ItemDeps } from "../../agent/pipeline.js";
import type { QueueBackend, QueueItem, ResolvedJob, RunOutcome } from "../../agent/backend/types.js";
import type { Builder, BuildRequest } from "../../agent/builders/types.js";
import type { LaunchRequest, Runner } from "../../agent/runners/types.js";
import { silentLogger } from "../../agent/log.js";
import type { JobFile } from "../../agent/jobs/job-file.js";

/** A backend that records every call, so the order and content of reports can be asserted. */
function recordingBackend(job: JobFile) {
  const calls: [string, ...unknown[]][] = [];
  const backend: QueueBackend = {
    kind: "local",
    start: async () => ({ id: "a", name: "agent-a", entity: "ent" }),
    heartbeat: async () => ({ stopPolling: false }),
    pop: async () => null,
    ack: async (_i, runId) => void calls.push(["ack", runId]),
    resolveJob: async (): Promise<ResolvedJob> => ({ name: "job", job, codeDir: "/nonexistent", sourceString: "s", files: {}, cleanup: async () => void calls.push(["cleanup"]) }),
    markRunning: async (_i, d) => void calls.push(["markRunning", d.image]),
    isStopRequested: async () => false,
    complete: async (_i, _s, _r, outcome: RunOutcome) => void calls.push(["complete", outcome.status]),
    fail: async (_i, stage, message) => void calls.push(["fail", stage, message]),
    warn: async (_i, stage, message) => void calls.push(["warn", stage, message]),
    runCredentials: () => ({ baseUrl: "https://api.example.com", apiKey: "k".repeat(40) }),
    shutdown: async () => {},
  };
  return { backend, calls };
}

function deps(backend: QueueBackend, builder: Builder, runner: Runner): ItemDeps {
  return {
    backend,
    config: { queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0 },
    identity: { id: "a", name: "agent-a", entity: "ent" },
    logger: silentLogger,
    selectBuilder: async () => builder,
    createRunner: () => runner,
    prepareJobSource: async (j) => j,
  };
}

function capturingRunner(seen: LaunchRequest[]): Runner {
  return {
    resource: "local-container",
    run: async (req) => {
      seen.push(req);
      return { id: "1", wait: async () => ({ status: "finished", exitCode: 0 }), cancel: async () => {} };
    },
  };
}

const item: QueueItem = { id: "item-1", queue: "q", runSpec: { job: "x", resource: "local-container", overrides: { args: ["--lr", "1"] } } };

describe("ItemTask", () => {
  it("builds code jobs and runs the command the build reports, with the job's arguments", async () => {
    const { backend, calls } = recordingBackend({ source_type: "artifact", source: { entrypoint: ["python", "sub/train.py"] } });
    const requests: BuildRequest[] = [];
    const builder: Builder = { type: "docker", build: async (r) => (requests.push(r), { image: "reg/x:abcd1234", built: true, tag: "abcd1234", command: ["python", "train.py"] }) };
    const seen: LaunchRequest[] = [];
    const result = await new ItemTask(item, deps(backend, builder, capturingRunner(seen))).done;
    expect(result.outcome?.status).toBe("finished");
    expect(requests).toHaveLength(1);
    expect(seen[0]).toMatchObject({ image: "reg/x:abcd1234", entrypoint: ["python", "train.py"], args: ["--lr", "1"], mountCode: false });
    expect(seen[0]!.env.WANDB_API_KEY).toBe("k".repeat(40));
    expect(calls.map((c) => c[0])).toEqual(["ack", "markRunning", "complete", "cleanup"]);
  });

  it("never builds image jobs", async () => {
    const { backend } = recordingBackend({ source_type: "image", source: { image: "repo/img:1", entrypoint: ["run"] } });
    const builder: Builder = { type: "docker", build: async () => { throw new Error("must not build"); } };
    const seen: LaunchRequest[] = [];
    await new ItemTask(item, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen[0]).toMatchObject({ image: "repo/img:1", mountCode: false });
    expect(seen[0]!.env.WANDB_DOCKER).toBe("repo/img:1");
  });

  it("with the noop builder, runs code jobs on the queue's base image with the code mounted, and warns", async () => {
    const { backend, calls } = recordingBackend({ source_type: "repo", source: { entrypoint: ["python", "t.py"] } });
    const noop: Builder = { type: "noop", build: async () => { throw new Error("noop"); } };
    const seen: LaunchRequest[] = [];
    const spec = { ...item, runSpec: { job: "x", resource: "local-container", resource_args: { "local-container": { builder: { base_image: "my/base:3" } } } } };
    await new ItemTask(spec, deps(backend, noop, capturingRunner(seen))).done;
    expect(seen[0]).toMatchObject({ image: "my/base:3", mountCode: true });
    expect(calls).toContainEqual(["warn", "build", "No builder configured. Using base image: my/base:3"]);
  });

  it("a build failure fails the item at stage build, and the job's files are still removed", async () => {
    const { backend, calls } = recordingBackend({ source_type: "artifact", source: { entrypoint: ["python", "t.py"] } });
    const { LaunchError } = await import("../../agent/errors.js");
    const builder: Builder = { type: "docker", build: async () => { throw new LaunchError("registry said no", "build"); } };
    const result = await new ItemTask(item, deps(backend, builder, capturingRunner([]))).done;
    expect(result.error).toBe("registry said no");
    expect(calls).toEqual([["ack", expect.any(String)], ["fail", "build", "registry said no"], ["cleanup"]]);
  });

  it("fills ${macros} in the resource's args, but never with the agent's secrets", async () => {
    const { backend } = recordingBackend({ source_type: "image", source: { image: "repo/img:1", entrypoint: ["run"] } });
    const seen: LaunchRequest[] = [];
    process.env.LAUNCH_TEST_ZONE = "zone-a";
    process.env.LAUNCH_TEST_API_KEY = "do-not-leak";
    const spec = {
      ...item,
      runSpec: {
        job: "x",
        resource: "local-container",
        project: "MyProj",
        resource_args: { "local-container": { name: "${project_name}-${run_id}", env: ["IMG=${image_uri}", "Z=${LAUNCH_TEST_ZONE}", "K=${LAUNCH_TEST_API_KEY}", "U=${unknown_macro}"] } },
      },
    };
    const builder: Builder = { type: "docker", build: async () => { throw new Error("must not build"); } };
    const result = await new ItemTask(spec, deps(backend, builder, capturingRunner(seen))).done;
    delete process.env.LAUNCH_TEST_ZONE;
    delete process.env.LAUNCH_TEST_API_KEY;
    expect(seen[0]!.runSpec.resource_args?.["local-container"]).toEqual({
      name: `myproj-${result.runId}`,
      env: ["IMG=repo/img:1", "Z=zone-a", "K=${LAUNCH_TEST_API_KEY}", "U=${unknown_macro}"],
    });
  });

  it("treats empty overrides as absent and never passes the job's own source.args (as the official agent)", async () => {
    const { backend } = recordingBackend({ source_type: "image", source: { image: "repo/img:1", entrypoint: ["serve", "--port=1"], args: ["--from-job"] } });
    const builder: Builder = { type: "docker", build: async () => { throw new Error("must not build"); } };
    const seen: LaunchRequest[] = [];
    await new ItemTask({ ...item, runSpec: { job: "x", resource: "local-container", overrides: { args: [], entry_point: [] } } }, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen[0]).toMatchObject({ entrypoint: ["serve", "--port=1"], args: [] });
    await new ItemTask({ ...item, runSpec: { job: "x", resource: "local-container" } }, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen[1]).toMatchObject({ entrypoint: ["serve", "--port=1"], args: [] });
    await new ItemTask({ ...item, runSpec: { job: "x", resource: "local-container", overrides: { args: ["--x"], entry_point: ["other"] } } }, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen[2]).toMatchObject({ entrypoint: ["other"], args: ["--x"] });
  });

  it("fails the item at stage agent, naming the macro, when a known macro has no value", async () => {
    const { backend, calls } = recordingBackend({ source_type: "image", source: { image: "repo/img:1", entrypoint: ["run"] } });
    const builder: Builder = { type: "docker", build: async () => { throw new Error("must not build"); } };
    const seen: LaunchRequest[] = [];
    const spec = { ...item, runSpec: { job: "x", resource: "kubernetes", resource_args: { kubernetes: { metadata: { labels: { owner: "${author}" } } } } } };
    const result = await new ItemTask(spec, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen).toHaveLength(0);
    expect(result.error).toMatch(/\$\{author\}.*resource_args\.kubernetes\.metadata\.labels\.owner/);
    expect(calls.find((c) => c[0] === "fail")?.[1]).toBe("agent");
    // With a value it is filled.
    await new ItemTask({ ...spec, runSpec: { ...spec.runSpec, author: "ann" } }, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen[0]!.runSpec.resource_args?.kubernetes).toEqual({ metadata: { labels: { owner: "ann" } } });
  });

  it("fails an item that asks for additional_services on a runner that does not start them, at stage run, before building anything", async () => {
    const { backend, calls } = recordingBackend({ source_type: "artifact", source: { entrypoint: ["python", "t.py"] } });
    const builder: Builder = { type: "docker", build: async () => { throw new Error("must not build"); } };
    const seen: LaunchRequest[] = [];
    const services = [{ config: { apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "vllm" } } }];
    const result = await new ItemTask({ ...item, runSpec: { job: "x", resource: "local-container", additional_services: services } }, deps(backend, builder, capturingRunner(seen))).done;
    expect(seen).toHaveLength(0);
    expect(result.error).toMatch(/additional_services \(1\), which only the kubernetes runner starts .*not local-container.*not started/);
    expect(calls.find((c) => c[0] === "fail")?.[1]).toBe("run");
    // An empty list is no request.
    await new ItemTask({ ...item, runSpec: { job: "x", resource: "local-container", additional_services: [] } }, deps(backend, { ...builder, build: async () => ({ image: "i:1", built: false, tag: "1" }) }, capturingRunner(seen))).done;
    expect(seen).toHaveLength(1);
  });

  it("passes additional_services to a runner that starts them, macros filled, and fails at stage agent naming a macro without value", async () => {
    const { backend, calls } = recordingBackend({ source_type: "image", source: { image: "repo/img:1", entrypoint: ["run"] } });
    const builder: Builder = { type: "docker", build: async () => { throw new Error("must not build"); } };
    const seen: LaunchRequest[] = [];
    const servicesRunner: Runner = { ...capturingRunner(seen), resource: "kubernetes", additionalServices: true };
    const config = { apiVersion: "v1", kind: "Pod", metadata: { name: "cache-${run_id}", labels: { owner: "${author}" } }, spec: { containers: [{ name: "c", image: "${image_uri}" }] } };
    const spec = { ...item, runSpec: { job: "x", resource: "kubernetes", author: "ann", additional_services: [{ config }] } };
    const ok = await new ItemTask(spec, deps(backend, builder, servicesRunner)).done;
    expect(ok.error).toBeUndefined();
    const filled = (seen[0]!.runSpec.additional_services as { config: typeof config }[])[0]!.config;
    expect(filled.metadata).toEqual({ name: `cache-${seen[0]!.runId}`, labels: { owner: "ann" } });
    expect(filled.spec.containers[0]!.image).toBe("repo/img:1");
    const bad = await new ItemTask({ ...spec, runSpec: { ...spec.runSpec, author: null } }, deps(backend, builder, servicesRunner)).done;
    expect(seen).toHaveLength(1);
    expect(bad.error).toMatch(/\$\{author\} at additional_services\[0\]\.config\.metadata\.labels\.owner/);
    expect(calls.filter((c) => c[0] === "fail").at(-1)?.[1]).toBe("agent");
  });
});
