import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isTransientError, WandbAuthError, WandbUnavailableError } from "../../../agent/backend/wandb/index.js";
import type { QueueBackend, QueueItem } from "../../../agent/backend/types.js";
import { RunSpecSchema } from "../../../agent/jobs/run-spec.js";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";
import { addArtifactJob, backendFor, type BackendFixture } from "../../fakes/wandb/helpers.js";

let fake: FakeWandb;
let fx: BackendFixture;
const fixtures: BackendFixture[] = [];

async function backend(opts: Parameters<typeof backendFor>[1] = {}): Promise<QueueBackend> {
  fx = await backendFor(fake, opts);
  fixtures.push(fx);
  return fx.backend;
}

beforeEach(async () => {
  fake = await startFakeWandb();
});
afterEach(async () => {
  await fake.close();
  for (const f of fixtures.splice(0)) await f.cleanup();
});

const spec = (over: Record<string, unknown> = {}) => ({ job: "fake-entity/proj/job-demo:latest", entity: "fake-entity", project: "Proj", ...over });

describe("registration (reference §7.2)", () => {
  it("registers with the official sequence, the queue IDs, the resolved config and the hostname", async () => {
    const q1 = fake.addQueue("q1");
    const q2 = fake.addQueue("q2");
    const b = await backend({ config: { queues: ["q1", "q2"], max_jobs: 3 }, env: { WANDB_AGENT_VERSION: "v9.9-test" } });
    const identity = await b.start(["q1", "q2"]);
    expect(fake.calls.map((c) => c.operation)).toEqual(["Viewer", "ProjectRunQueues", "createLaunchAgent", "EntityIsTeam", "LaunchAgent", "UpsertBucket"]);
    expect(fake.callsTo("ProjectRunQueues")[0]!.variables).toEqual({ entity: "fake-entity", projectName: "model-registry" });
    const agent = fake.state.agents[0]!;
    expect(identity).toEqual({ id: agent.id, name: agent.name, entity: "fake-entity" });
    expect(agent.queueIds).toEqual([q1.id, q2.id]);
    expect(agent.hostname).toBe("test-host");
    expect(agent.version).toBe("v9.9-test");
    expect(agent.agentConfig).toMatchObject({ entity: "fake-entity", queues: ["q1", "q2"], max_jobs: 3, max_schedulers: 1 });
    // The key never travels in the agent config.
    expect(JSON.stringify(fake.callsTo("createLaunchAgent")[0]!.variables)).not.toContain(fake.apiKey);
  });

  it("creates the default queue when the project has none", async () => {
    const b = await backend({ config: { queues: ["default"] } });
    await b.start(["default"]);
    expect(fake.callsTo("CreateRunQueue")[0]!.variables).toEqual({ entity: "fake-entity", project: "model-registry", queueName: "default", access: "PROJECT" });
    expect(fake.state.queues.map((q) => q.name)).toEqual(["default"]);
    expect(fake.state.agents[0]!.queueIds).toEqual([fake.state.queues[0]!.id]);
  });

  it("refuses unknown queues with the official message and registers nothing", async () => {
    fake.addQueue("q1");
    fake.addQueue("gpu");
    const b = await backend();
    await expect(b.start(["q1", "nope"])).rejects.toThrow(
      "Could not start launch agent: Not all of requested queues (q1, nope) found. Available queues for this project: q1,gpu",
    );
    expect(fake.state.agents).toHaveLength(0);
  });

  it("stops with the relogin message when the key has no viewer", async () => {
    await fake.close();
    fake = await startFakeWandb({ viewerEntity: null });
    const b = await backend();
    await expect(b.start(["q1"])).rejects.toThrow(/Could not connect with current API-key. Please relogin using `wandb login --relogin`/);
  });

  it("rejects a wrong key at once with 'invalid API key' and how to fix it, without retrying", async () => {
    const b = await backend({ env: { WANDB_API_KEY: "wrong-key-123" } });
    const err = await b.start(["q1"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WandbAuthError);
    expect((err as Error).message).toMatch(/invalid API key/);
    expect((err as Error).message).toMatch(/WANDB_API_KEY/);
    expect((err as Error).message).toMatch(/wandb login/);
    expect((err as Error).message).not.toContain("wrong-key-123");
    expect(fake.calls).toHaveLength(1);
    expect(fake.calls[0]!.status).toBe(401);
  });

  it("reports a missing key or a bad env setting from start(), before any request", async () => {
    const noKey = await backend({ env: { WANDB_API_KEY: "" } });
    await expect(noKey.start(["q1"])).rejects.toThrow(/No W&B API key found for 127\.0\.0\.1: set WANDB_API_KEY or run `wandb login`/);
    const badHeaders = await backend({ env: { WANDB__EXTRA_HTTP_HEADERS: "nope" } });
    await expect(badHeaders.start(["q1"])).rejects.toThrow(/WANDB__EXTRA_HTTP_HEADERS must be a JSON object/);
    expect(fake.calls).toHaveLength(0);
  });

  it("uses config.entity over the viewer's default and warns when it is a team", async () => {
    await fake.close();
    fake = await startFakeWandb({ teams: ["team-x"] });
    fake.addQueue("q1", { entity: "team-x" });
    const lines: string[] = [];
    const logger = pino({ level: "info" }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const b = await backend({ config: { entity: "team-x" }, logger });
    const identity = await b.start(["q1"]);
    expect(identity.entity).toBe("team-x");
    expect(lines.join("")).toContain("Agent is running on team entity (team-x). Members of this team will be able to run code on this device.");
  });
});

describe("loop calls (reference §7.3)", () => {
  let b: QueueBackend;
  beforeEach(async () => {
    fake.addQueue("q1");
    fake.addQueue("q2");
    b = await backend({ config: { queues: ["q1", "q2"] } });
    await b.start(["q1", "q2"]);
  });

  it("pops with the agent id from the named queue and returns the runSpec object", async () => {
    const pushed = fake.push("q2", spec({ run_id: "abc" }));
    expect(await b.pop("q1")).toBeNull();
    const item = await b.pop("q2");
    expect(item).toEqual({ id: pushed.id, queue: "q2", runSpec: spec({ run_id: "abc" }) });
    expect(fake.callsTo("popFromRunQueue")[1]!.variables).toEqual({ entity: "fake-entity", project: "model-registry", queueName: "q2", launchAgentId: fake.state.agents[0]!.id });
    expect(fake.item(pushed.id)!.state).toBe("LEASED");
  });

  it("acks binding the run id, and refuses an item acked twice", async () => {
    fake.push("q1", spec());
    const item = (await b.pop("q1"))!;
    await b.ack(item, "run12345");
    expect(fake.item(item.id)).toMatchObject({ state: "CLAIMED", runName: "run12345" });
    await expect(b.ack(item, "run12345")).rejects.toThrow("Item may have already been acknowledged by another process");
  });

  it("an ack whose answer was lost and is retried still counts as ours", async () => {
    fake.push("q1", spec());
    const item = (await b.pop("q1"))!;
    fake.failNext({ kind: "applyThenDrop" }, { operation: "ackRunQueueItem" });
    await b.ack(item, "r7");
    expect(fake.callsTo("ackRunQueueItem").map((c) => c.status)).toEqual([0, 200]);
    expect(fake.item(item.id)).toMatchObject({ state: "CLAIMED", runName: "r7" });
  });

  it("returns a malformed runSpec raw, so the pipeline fails only that item", async () => {
    fake.push("q1", "{not json");
    const item = (await b.pop("q1"))!;
    expect(item.runSpec).toBe("{not json");
    expect(RunSpecSchema.safeParse(item.runSpec).success).toBe(false);
    await b.fail(item, "agent", "invalid run spec: runSpec must be a JSON object");
    expect(fake.item(item.id)!.failure).toEqual({ message: "invalid run spec: runSpec must be a JSON object", stage: "agent", filePaths: [`${item.id}/error/error.log`] });
  });

  it("fails items with stage and message, and records warnings", async () => {
    fake.push("q1", spec());
    const item = (await b.pop("q1"))!;
    await b.warn(item, "build", "No builder configured");
    await b.fail(item, "build", "docker build failed: exit 1");
    expect(fake.item(item.id)).toMatchObject({
      state: "FAILED",
      failure: { message: "docker build failed: exit 1", stage: "build", filePaths: [`${item.id}/error/error.log`] },
      warnings: [{ message: "No builder configured", stage: "build", filePaths: [] }],
    });
  });

  it("reports POLLING/RUNNING every second heartbeat and honours stopPolling", async () => {
    expect(await b.heartbeat("POLLING")).toEqual({ stopPolling: false });
    expect(await b.heartbeat("RUNNING")).toEqual({ stopPolling: false });
    expect(await b.heartbeat("RUNNING")).toEqual({ stopPolling: false });
    expect(fake.state.agents[0]!.statusHistory).toEqual(["POLLING", "RUNNING"]);
    fake.state.agents[0]!.stopPolling = true;
    expect(await b.heartbeat("POLLING")).toEqual({ stopPolling: true });
  });

  it("reports KILLED on shutdown", async () => {
    await b.shutdown();
    expect(fake.state.agents[0]!.status).toBe("KILLED");
  });

  it("turns an outage into a transient error, then resumes", async () => {
    fake.setOutage({ kind: "status", status: 503 });
    const hb = await b.heartbeat("POLLING").catch((e: unknown) => e);
    expect(hb).toBeInstanceOf(WandbUnavailableError);
    expect(isTransientError(hb)).toBe(true);
    expect((hb as Error).message).toMatch(/LaunchAgent.*HTTP 503/);
    const popErr = await b.pop("q1").catch((e: unknown) => e);
    expect(isTransientError(popErr)).toBe(true);
    fake.setOutage({ kind: "hang" });
    expect(isTransientError(await b.pop("q1").catch((e: unknown) => e))).toBe(true);
    fake.setOutage(null);
    fake.push("q1", spec());
    expect(await b.pop("q1")).not.toBeNull();
  });

  it("a GraphQL error on pop is still an outage for the loop, not a crash", async () => {
    fake.failNext({ kind: "graphqlError", message: "internal error" }, { operation: "popFromRunQueue" });
    const err = await b.pop("q1").catch((e: unknown) => e);
    expect(isTransientError(err)).toBe(true);
    expect((err as Error).message).toContain("popFromRunQueue failed: internal error");
  });

  it("reads stop requests from RunStoppedStatus with the lower-cased project", async () => {
    fake.setRun({ entity: "fake-entity", project: "proj", name: "r1", stopped: false });
    const item: QueueItem = { id: "x", queue: "q1", runSpec: spec() };
    const rs = RunSpecSchema.parse(spec());
    expect(await b.isStopRequested(item, rs, "r1")).toBe(false);
    fake.setRun({ entity: "fake-entity", project: "proj", name: "r1", stopped: true });
    expect(await b.isStopRequested(item, rs, "r1")).toBe(true);
    expect(fake.callsTo("RunStoppedStatus")[0]!.variables).toEqual({ projectName: "proj", entityName: "fake-entity", runId: "r1" });
  });
});

describe("completion (reference §7.4, §7.5)", () => {
  let b: QueueBackend;
  let item: QueueItem;
  beforeEach(async () => {
    fake.addQueue("q1");
    b = await backend();
    await b.start(["q1"]);
    fake.push("q1", spec({ sweep_id: "sw1" }));
    item = (await b.pop("q1"))!;
    await b.ack(item, "r1");
  });
  const rs = () => RunSpecSchema.parse(item.runSpec);

  it("finished and the run exists in W&B: nothing is reported", async () => {
    fake.setRun({ entity: "fake-entity", project: "proj", name: "r1", state: "finished" });
    await b.complete(item, rs(), "r1", { status: "finished", exitCode: 0 });
    expect(fake.item(item.id)!.state).toBe("CLAIMED");
    expect(fake.callsTo("RunState")).toHaveLength(1);
  });

  it("finished but wandb.init never ran: RunState with backoff, then failed at stage run", async () => {
    await b.complete(item, rs(), "r1", { status: "finished", exitCode: 0 });
    expect(fake.callsTo("RunState")).toHaveLength(4); // first look + three backoff steps (compressed)
    expect(fake.item(item.id)!.failure).toEqual({
      message: "The submitted job exited successfully but failed to call wandb.init",
      stage: "run",
      filePaths: [`${item.id}/error/error.log`],
    });
  });

  it("failed: reported at stage run with the runner's message", async () => {
    await b.complete(item, rs(), "r1", { status: "failed", exitCode: 3, message: "process exited with code 3" });
    expect(fake.item(item.id)!.failure).toMatchObject({ stage: "run", message: "process exited with code 3" });
  });

  it("stopped: nothing more is sent", async () => {
    const before = fake.calls.length;
    await b.complete(item, rs(), "r1", { status: "stopped" });
    expect(fake.calls.length).toBe(before);
  });

  it("interrupted by agent shutdown: failed at stage agent, so the item is not left claimed", async () => {
    await b.complete(item, rs(), "r1", { status: "interrupted", message: "run interrupted by the agent" });
    expect(fake.item(item.id)!.failure).toMatchObject({ stage: "agent", message: "run interrupted by the agent" });
  });

  it("preempted: requeued on the same queue with the run id kept, _resume_count+1 and no sweep_id", async () => {
    await b.complete(item, rs(), "r1", { status: "preempted" });
    const pushed = fake.state.items.at(-1)!;
    expect(pushed.id).not.toBe(item.id);
    expect(pushed.runSpec).toEqual({ job: "fake-entity/proj/job-demo:latest", entity: "fake-entity", project: "Proj", run_id: "r1", _resume_count: 1 });
    expect(fake.callsTo("pushToRunQueueByName")[0]!.variables).toMatchObject({ entityName: "fake-entity", projectName: "model-registry", queueName: "q1" });
  });

  it("preempted after five resumes: failed instead of requeued", async () => {
    await b.complete(item, RunSpecSchema.parse({ ...spec(), _resume_count: 5 }), "r1", { status: "preempted" });
    expect(fake.callsTo("pushToRunQueueByName")).toHaveLength(0);
    expect(fake.item(item.id)!.failure?.stage).toBe("run");
  });
});

describe("jobs from W&B artifacts (reference §2.2, §3.1)", () => {
  let b: QueueBackend;
  beforeEach(async () => {
    fake.addQueue("q1");
    b = await backend();
    await b.start(["q1"]);
  });

  it("downloads and verifies the job and its code artifact; source string as the SDK forms it", async () => {
    addArtifactJob(fake, { files: { "train.py": "print('hi')\n", "pkg/util.py": "X = 1\n" }, entrypoint: ["python", "train.py"], extra: { "diff.patch": "--- a\n+++ b\n" } });
    const item: QueueItem = { id: "i1", queue: "q1", runSpec: spec() };
    const job = await b.resolveJob(item, RunSpecSchema.parse(spec()));
    expect(job.name).toBe("fake-entity/proj/job-demo:latest");
    expect(job.sourceString).toBe("job-demo:latest:vv0");
    // Qualified names, for pods that download the code themselves (base-image runs on Kubernetes).
    expect(job.artifacts?.job).toBe("fake-entity/proj/job-demo:latest");
    expect(job.artifacts?.code).toMatch(/^fake-entity\/proj\/[^/]+:v\d+$/);
    expect(job.job.source_type).toBe("artifact");
    expect(job.job.source.entrypoint).toEqual(["python", "train.py"]);
    expect(await readFile(join(job.codeDir, "train.py"), "utf8")).toBe("print('hi')\n");
    expect(await readFile(join(job.codeDir, "pkg/util.py"), "utf8")).toBe("X = 1\n");
    expect(await readFile(job.files.requirementsFrozen!, "utf8")).toBe("wandb==0.19.0\n");
    expect(await readFile(job.files.diffPatch!, "utf8")).toBe("--- a\n+++ b\n");
    expect(fake.calls.map((c) => c.operation).filter((o) => o !== "LaunchAgent")).toEqual(
      expect.arrayContaining(["ArtifactMembershipByName", "FetchArtifactManifest", "GetArtifactMembershipFileUrls", "ArtifactByID"]),
    );
    await job.cleanup();
    expect(existsSync(job.codeDir)).toBe(false);
  });

  it("a bare job name and an explicit version give the SDK's differing source strings", async () => {
    addArtifactJob(fake, { files: { "a.py": "1" }, entrypoint: ["python", "a.py"] });
    addArtifactJob(fake, { files: { "a.py": "2" }, entrypoint: ["python", "a.py"] }); // v1 becomes latest
    const bare = await b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec({ job: "fake-entity/proj/job-demo" })));
    const v0 = await b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec({ job: "fake-entity/proj/job-demo:v0" })));
    expect(bare.sourceString).toBe("job-demo:v1:vv1");
    expect(v0.sourceString).toBe("job-demo:v0:vv0");
    expect(await readFile(join(v0.codeDir, "a.py"), "utf8")).toBe("1");
    await bare.cleanup();
    await v0.cleanup();
  });

  it("a file whose bytes do not match the manifest digest fails the job naming the file", async () => {
    const { codeId } = addArtifactJob(fake, { files: { "train.py": "print('hi')\n" }, entrypoint: ["python", "train.py"] });
    fake.corruptFile(codeId, "train.py", "import os; os.system('evil')\n");
    const err = await b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec())).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/file train\.py does not match its manifest digest/);
    // Nothing of the job is left on disk for a runner to pick up.
    const left = (await readdir(fx.home)).filter((n) => n.startsWith("wandb-job-"));
    expect(left).toEqual([]);
  });

  it("caches verified files by digest: a second resolve downloads nothing again", async () => {
    const { codeId } = addArtifactJob(fake, { files: { "train.py": "print('hi')\n" }, entrypoint: ["python", "train.py"] });
    const first = await b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec()));
    await first.cleanup();
    fake.corruptFile(codeId, "train.py", "tampered\n"); // would fail if downloaded again
    const second = await b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec()));
    expect(await readFile(join(second.codeDir, "train.py"), "utf8")).toBe("print('hi')\n");
    await second.cleanup();
  });

  it("names a missing project, a missing job and a deleted code artifact", async () => {
    await expect(b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec({ job: "fake-entity/nowhere/j:latest" })))).rejects.toThrow(
      'Artifact fake-entity/nowhere/j:latest: project "nowhere" not found under entity "fake-entity"',
    );
    const { codeId } = addArtifactJob(fake, { files: { "a.py": "1" }, entrypoint: ["python", "a.py"] });
    await expect(b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec({ job: "fake-entity/proj/nope:latest" })))).rejects.toThrow(
      /Artifact fake-entity\/proj\/nope:latest not found/,
    );
    fake.state.artifacts.find((a) => a.id === codeId)!.state = "DELETED";
    await expect(b.resolveJob({ id: "i", queue: "q1", runSpec: {} }, RunSpecSchema.parse(spec()))).rejects.toThrow(
      "Job fake-entity/proj/job-demo:latest references deleted code artifact code-job-demo:v0",
    );
  });
});

describe("runSpec transport forms and schedulers (reference §7.3)", () => {
  it("parses runSpec sent as a JSON string by older servers", async () => {
    await fake.close();
    fake = await startFakeWandb({ runSpecAsString: true });
    fake.addQueue("q1");
    const b = await backend();
    await b.start(["q1"]);
    fake.push("q1", spec({ run_id: "r9" }));
    expect((await b.pop("q1"))!.runSpec).toEqual(spec({ run_id: "r9" }));
  });

  it("skips a second sweep scheduler without acking it while max_schedulers are running", async () => {
    fake.addQueue("q1");
    const b = await backend({ config: { max_schedulers: 1 } });
    await b.start(["q1"]);
    const sched = { uri: "placeholder-uri-scheduler", resource: "local-process", job: "fake-entity/proj/sched:latest" };
    fake.push("q1", sched);
    const second = fake.push("q1", sched);
    const first = (await b.pop("q1"))!;
    await b.ack(first, "s1");
    expect(await b.pop("q1")).toBeNull();
    expect(fake.item(second.id)!.state).toBe("LEASED"); // handed back by W&B after the lease, never acked
    expect(fake.callsTo("ackRunQueueItem")).toHaveLength(1);
    await b.complete(first, RunSpecSchema.parse(sched), "s1", { status: "stopped" });
    fake.item(second.id)!.state = "PENDING"; // the lease ran out
    expect((await b.pop("q1"))!.id).toBe(second.id);
  });
});

describe("runCredentials", () => {
  it("gives runs the host and key the agent uses", async () => {
    const b = await backend();
    expect(b.runCredentials()).toEqual({ baseUrl: fake.url, apiKey: fake.apiKey });
  });
});

describe("secrets", () => {
  it("the API key appears in no log line, even at trace level, through registration, retries, jobs and failures", async () => {
    fake.addQueue("q1");
    addArtifactJob(fake, { files: { "a.py": "1" }, entrypoint: ["python", "a.py"] });
    const lines: string[] = [];
    const logger = pino({ level: "trace" }, new Writable({ write: (c, _e, cb) => (lines.push(String(c)), cb()) }));
    const b = await backend({ logger });
    await b.start(["q1"]);
    fake.failNext({ kind: "status", status: 502 }, { count: 2 });
    await b.heartbeat("POLLING");
    fake.push("q1", spec());
    const item = (await b.pop("q1"))!;
    await b.ack(item, "r1");
    const job = await b.resolveJob(item, RunSpecSchema.parse(spec()));
    await job.cleanup();
    fake.setOutage({ kind: "status", status: 500 });
    await b.heartbeat("RUNNING").catch(() => undefined);
    fake.setOutage(null);
    await b.fail(item, "run", "boom");
    await b.shutdown();
    expect(lines.length).toBeGreaterThan(3); // retries and downloads were logged
    expect(lines.join("\n")).not.toContain(fake.apiKey);
    expect(lines.join("\n")).not.toContain(Buffer.from(`api:${fake.apiKey}`).toString("base64"));
  });
});
