import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { QueueBackend, QueueItem } from "../../../agent/backend/types.js";
import { LaunchError } from "../../../agent/errors.js";
import { RunSpecSchema } from "../../../agent/jobs/run-spec.js";
import { startFakeWandb, type FakeWandb, type SweepState } from "../../fakes/wandb-server.js";
import { addArtifactJob, backendFor, type BackendFixture } from "../../fakes/wandb/helpers.js";

let fake: FakeWandb;
let fx: BackendFixture;
let b: QueueBackend;

beforeEach(async () => {
  fake = await startFakeWandb();
  fake.addQueue("q1");
  fx = await backendFor(fake);
  b = fx.backend;
  await b.start(["q1"]);
  addArtifactJob(fake, { files: { "train.py": "print(1)\n" }, entrypoint: ["python", "train.py"] });
});
afterEach(async () => {
  await fake.close();
  await fx.cleanup();
});

const sweepRun = (sweep: string) => ({ job: "fake-entity/proj/job-demo:latest", entity: "fake-entity", project: "proj", sweep_id: sweep });

describe("sweep runs start only while their sweep runs (reference §7.4 step 4)", () => {
  for (const state of ["RUNNING", "PAUSED"] as const) {
    it(`a ${state} sweep: the run's job is fetched`, async () => {
      fake.addSweep({ project: "proj", name: "sw1", state });
      const job = await b.resolveJob({ id: "i1", queue: "q1", runSpec: sweepRun("sw1") }, RunSpecSchema.parse(sweepRun("sw1")));
      await job.cleanup();
      expect(fake.callsTo("GetSweepState").map((c) => c.variables)).toEqual([{ entity: "fake-entity", project: "proj", sweep: "sw1" }]);
    });
  }

  for (const state of ["FINISHED", "CANCELED", "PENDING"] as SweepState[]) {
    it(`a ${state} sweep: the item fails at stage agent with the official message, before any artifact is fetched`, async () => {
      fake.addSweep({ project: "proj", name: "sw1", state });
      const err = await b.resolveJob({ id: "i1", queue: "q1", runSpec: sweepRun("sw1") }, RunSpecSchema.parse(sweepRun("sw1"))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LaunchError);
      expect((err as LaunchError).stage).toBe("agent");
      expect((err as Error).message).toBe(`Launch agent picked up sweep job, but sweep (sw1) was in a terminal state (${state})`);
      expect(fake.callsTo("ArtifactMembershipByName")).toHaveLength(0);
    });
  }

  it("a sweep that does not exist (or cannot be read) is not launched either", async () => {
    const err = await b.resolveJob({ id: "i1", queue: "q1", runSpec: sweepRun("gone") }, RunSpecSchema.parse(sweepRun("gone"))).catch((e: unknown) => e);
    expect((err as Error).message).toBe("Launch agent picked up sweep job, but sweep (gone) was in a terminal state (not found)");
    fake.addSweep({ project: "proj", name: "sw2" });
    fake.failNext({ kind: "graphqlError", message: "permission denied" }, { operation: "GetSweepState" });
    const err2 = await b.resolveJob({ id: "i2", queue: "q1", runSpec: sweepRun("sw2") }, RunSpecSchema.parse(sweepRun("sw2"))).catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/sweep \(sw2\) was in a terminal state \(unknown: .*permission denied\)/);
  });

  it("runs without sweep_id never ask for a sweep", async () => {
    const spec = { job: "fake-entity/proj/job-demo:latest", entity: "fake-entity", project: "proj" };
    const job = await b.resolveJob({ id: "i1", queue: "q1", runSpec: spec }, RunSpecSchema.parse(spec));
    await job.cleanup();
    expect(fake.callsTo("GetSweepState")).toHaveLength(0);
  });
});

describe("a failed sweep scheduler cancels its sweep (reference §7.4 step 8)", () => {
  const scheduler = { uri: "placeholder-uri-scheduler", resource: "local-process", job: "fake-entity/proj/sched:latest", entity: "fake-entity", project: "Proj" };
  let item: QueueItem;
  beforeEach(async () => {
    fake.push("q1", scheduler);
    item = (await b.pop("q1"))!;
    await b.ack(item, "sw1"); // a scheduler's run id is its sweep's id
  });

  it("failed: UpsertSweep sets the sweep CANCELED (lower-cased target project), and the item is failed at stage run", async () => {
    const sweep = fake.addSweep({ project: "proj", name: "sw1", state: "RUNNING" });
    await b.complete(item, RunSpecSchema.parse(scheduler), "sw1", { status: "failed", exitCode: 1, message: "scheduler crashed" });
    expect(sweep.state).toBe("CANCELED");
    expect(fake.callsTo("UpsertSweep").map((c) => c.variables)).toEqual([{ id: sweep.id, state: "CANCELED", entityName: "fake-entity", projectName: "proj" }]);
    expect(fake.item(item.id)!.failure).toMatchObject({ stage: "run", message: "scheduler crashed" });
  });

  it("a sweep that already ended is left as it is", async () => {
    const sweep = fake.addSweep({ project: "proj", name: "sw1", state: "FINISHED" });
    await b.complete(item, RunSpecSchema.parse(scheduler), "sw1", { status: "failed", exitCode: 1 });
    expect(sweep.stateHistory).toEqual([]);
    expect(fake.callsTo("UpsertSweep")).toHaveLength(0);
    expect(fake.item(item.id)!.failure?.stage).toBe("run");
  });

  it("a scheduler that finished or was stopped leaves the sweep alone, and so does a failed ordinary sweep run", async () => {
    const sweep = fake.addSweep({ project: "proj", name: "sw1", state: "RUNNING" });
    await b.complete(item, RunSpecSchema.parse(scheduler), "sw1", { status: "stopped" });
    fake.push("q1", sweepRun("sw1"));
    const run = (await b.pop("q1"))!;
    await b.ack(run, "r2");
    await b.complete(run, RunSpecSchema.parse(sweepRun("sw1")), "r2", { status: "failed", exitCode: 2 });
    expect(sweep.state).toBe("RUNNING");
    expect(fake.callsTo("UpsertSweep")).toHaveLength(0);
  });

  it("a sweep W&B cannot cancel does not stop the failure report", async () => {
    fake.addSweep({ project: "proj", name: "sw1", state: "RUNNING" });
    fake.failNext({ kind: "graphqlError", message: "permission denied" }, { operation: "UpsertSweep" });
    await b.complete(item, RunSpecSchema.parse(scheduler), "sw1", { status: "failed", exitCode: 1, message: "scheduler crashed" });
    expect(fake.item(item.id)!.failure).toMatchObject({ stage: "run", message: "scheduler crashed" });
  });
});
