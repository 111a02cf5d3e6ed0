import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { QueueBackend, QueueItem } from "../../../agent/backend/types.js";
import { parseUploadHeaders } from "../../../agent/backend/wandb/index.js";
import { startFakeWandb, type FakeWandb, type FakeWandbOptions } from "../../fakes/wandb-server.js";
import { backendFor, type BackendFixture } from "../../fakes/wandb/helpers.js";

let fake: FakeWandb;
let fx: BackendFixture;

afterEach(async () => {
  await fake.close();
  await fx.cleanup();
});

/** A registered backend with one popped item; the fake wants Azure's blob-type header on uploads. */
async function setup(opts: FakeWandbOptions = {}, logLines?: string[]): Promise<{ b: QueueBackend; item: QueueItem; agentName: string }> {
  fake = await startFakeWandb({ uploadHeaders: ["x-ms-blob-type:BlockBlob"], ...opts });
  fake.addQueue("q1");
  const logger = logLines
    ? pino({ level: "debug" }, new Writable({ write: (c, _e, done) => (logLines.push(String(c)), done()) }))
    : undefined;
  fx = await backendFor(fake, { config: { queues: ["q1"], max_jobs: 2 }, logger });
  const b = fx.backend;
  const identity = await b.start(["q1"]);
  fake.push("q1", { job: "fake-entity/proj/job:latest" });
  const item = (await b.pop("q1"))!;
  return { b, item, agentName: identity.name };
}

describe("the agent's own W&B run (reference §7.2 step 7)", () => {
  it("is created at registration in model-registry, named after the agent, job type sweep-controller, with the agent's config", async () => {
    const { agentName } = await setup();
    const upsert = fake.callsTo("UpsertBucket");
    expect(upsert).toHaveLength(1);
    expect(upsert[0]!.variables).toMatchObject({ name: agentName, project: "model-registry", entity: "fake-entity", jobType: "sweep-controller", host: "test-host" });
    const run = fake.run("fake-entity", "model-registry", agentName)!;
    expect(run.jobType).toBe("sweep-controller");
    // W&B's run-config format: each key as {desc, value}; the key itself is never in it.
    expect(run.config).toMatchObject({ queues: { desc: null, value: ["q1"] }, max_jobs: { desc: null, value: 2 }, entity: { desc: null, value: "fake-entity" } });
    expect(JSON.stringify(upsert[0]!.variables)).not.toContain(fake.apiKey);
  });
});

describe("a failed item links to its error log (reference §7.5)", () => {
  it("creates the run file, uploads it with W&B's upload headers, marks it uploaded, then fails the item with filePaths", async () => {
    const { b, item, agentName } = await setup();
    await b.fail(item, "build", "docker build failed: exit 1", "Error: docker build failed: exit 1\n    at build (builders/docker.ts:10:5)");
    const path = `${item.id}/error/error.log`;
    const ops = fake.calls.map((c) => c.operation);
    const order = ["CreateRunFiles", "MarkRunFilesUploaded", "failRunQueueItem"].map((o) => ops.indexOf(o));
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(order[0]).toBeGreaterThan(-1);
    expect(fake.callsTo("CreateRunFiles")[0]!.variables).toEqual({ entity: "fake-entity", project: "model-registry", run: agentName, files: [path] });
    expect(fake.callsTo("MarkRunFilesUploaded")[0]!.variables).toEqual({ entity: "fake-entity", project: "model-registry", run: agentName, files: [path] });
    const file = fake.run("fake-entity", "model-registry", agentName)!.files.get(path)!;
    expect(file.uploaded).toBe(true);
    expect(file.bytes!.toString()).toMatch(/^\d{4}-\d\d-\d\dT.* run queue item .* failed at stage build\n\nError: docker build failed: exit 1\n {4}at build/);
    expect(fake.storageRequests.filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([200]);
    expect(fake.item(item.id)!.failure).toEqual({ message: "docker build failed: exit 1", stage: "build", filePaths: [path] });
  });

  it("without a log the message is the log", async () => {
    const { b, item, agentName } = await setup();
    await b.fail(item, "run", "The submitted run was not successfully started");
    const file = fake.run("fake-entity", "model-registry", agentName)!.files.get(`${item.id}/error/error.log`)!;
    expect(file.bytes!.toString()).toMatch(/failed at stage run\n\nThe submitted run was not successfully started\n$/);
  });

  it("an upload W&B refuses still fails the item, without filePaths, and says why in the log", async () => {
    const lines: string[] = [];
    const { b, item } = await setup({}, lines);
    fake.failNext({ kind: "graphqlError", message: "run files are disabled" }, { operation: "CreateRunFiles" });
    await b.fail(item, "agent", "boom");
    expect(fake.item(item.id)!.failure).toEqual({ message: "boom", stage: "agent", filePaths: null });
    expect(lines.join("")).toMatch(/could not upload error\.log.*run files are disabled|run files are disabled.*could not upload error\.log/);
  });

  it("file calls failing with 5xx get only the loop's few attempts, so the failure report is not held up", async () => {
    const { b, item } = await setup();
    fake.setOutage({ kind: "status", status: 503 }, { operations: ["CreateRunFiles"] });
    await b.fail(item, "agent", "boom");
    expect(fake.callsTo("CreateRunFiles")).toHaveLength(3); // FAST_TIMINGS.pollAttempts, not maxAttempts (4)
    expect(fake.item(item.id)!.failure).toMatchObject({ message: "boom", filePaths: null });
  });

  it("storage refusing the PUT (an expired upload URL: 403) also falls back to no filePaths", async () => {
    const { b, item } = await setup({ signedUrlTtlMs: 0 }); // every signed URL is born expired
    await b.fail(item, "agent", "boom");
    expect(fake.storageRequests.filter((r) => r.method === "PUT").map((r) => r.status)).toEqual([403]);
    expect(fake.callsTo("MarkRunFilesUploaded")).toHaveLength(0);
    expect(fake.item(item.id)!.failure).toMatchObject({ message: "boom", filePaths: null });
  });

  it("an agent run W&B would not create at start is created when the first log is attached", async () => {
    fake = await startFakeWandb();
    fake.addQueue("q1");
    fake.failNext({ kind: "graphqlError", message: "project is read-only" }, { operation: "UpsertBucket" });
    fx = await backendFor(fake);
    const b = fx.backend;
    const identity = await b.start(["q1"]); // not fatal: only the log links depend on it
    expect(fake.run("fake-entity", "model-registry", identity.name)).toBeUndefined();
    fake.push("q1", { job: "x" });
    const item = (await b.pop("q1"))!;
    await b.fail(item, "agent", "boom");
    expect(fake.callsTo("UpsertBucket")).toHaveLength(2);
    expect(fake.item(item.id)!.failure!.filePaths).toEqual([`${item.id}/error/error.log`]);
  });
});

describe("parseUploadHeaders", () => {
  it("splits wandb-core's Name:Value strings at the first colon", () => {
    expect(parseUploadHeaders(["x-ms-blob-type:BlockBlob", "Content-Type: text/plain", "x-amz-meta-url:https://a:b", "junk"])).toEqual({
      "x-ms-blob-type": "BlockBlob",
      "Content-Type": "text/plain",
      "x-amz-meta-url": "https://a:b",
    });
  });
});
