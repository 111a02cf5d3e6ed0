import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createWandbBackend } from "../../../agent/backend/wandb/index.js";
import type { AgentConfig } from "../../../agent/config/index.js";
import { silentLogger } from "../../../agent/log.js";
import { composeAgent } from "../../../agent/main.js";
import type { ItemResult } from "../../../agent/pipeline.js";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";
import { JOB_SCRIPT, addArtifactJob, agentConfig, backendFor, jobSpec as spec, until, type BackendFixture } from "../../fakes/wandb/helpers.js";

let fake: FakeWandb;
let fx: BackendFixture | null = null;

beforeEach(async () => {
  fake = await startFakeWandb();
  addArtifactJob(fake, { files: { "job.mjs": JOB_SCRIPT }, entrypoint: [process.execPath, "job.mjs"] });
});
afterEach(async () => {
  await fake.close();
  await fx?.cleanup();
  fx = null;
});

async function startAgent(config: Partial<AgentConfig>) {
  // Generous per-attempt timeout: the machine is shared and a timed-out ack would be retried.
  fx = await backendFor(fake, { config, timings: { attemptTimeoutMs: 1_500 } });
  const done: ItemResult[] = [];
  const agent = composeAgent({
    config: agentConfig(config),
    backend: fx.backend,
    logger: silentLogger,
    overrides: { pollIntervalMs: 40, stopCheckIntervalMs: 40, maxBackoffMs: 150, onItemDone: (r) => done.push(r) },
  });
  const exit = agent.run();
  return { agent, exit, done };
}

describe("the agent loop against the fake W&B", () => {
  it("registers, runs local-process jobs from two queues fairly, reports a failure at stage run, stops on stopPolling with KILLED", async () => {
    fake.addQueue("q1");
    fake.addQueue("q2");
    const a1 = fake.push("q1", spec({ sleep_ms: 100 }));
    const a2 = fake.push("q1", spec({ exit_code: 3 }));
    const b1 = fake.push("q2", spec());
    const { exit, done } = await startAgent({ queues: ["q1", "q2"], max_jobs: 1 });
    await until(() => done.length === 3, 30_000, "three items");

    // Round-robin: the queue that just gave an item goes to the back.
    const ackOrder = fake.callsTo("ackRunQueueItem").map((c) => c.variables.itemId);
    expect(ackOrder).toEqual([a1.id, b1.id, a2.id]);
    for (const item of [a1, b1]) {
      const it = fake.item(item.id)!;
      expect(it.state).toBe("CLAIMED");
      expect(fake.run("fake-entity", "proj", it.runName!)?.state).toBe("running");
    }
    const failed = fake.item(a2.id)!;
    expect(failed.state).toBe("FAILED");
    // The failure links to its error log, uploaded to the agent's own run (reference §7.5).
    expect(failed.failure).toMatchObject({ stage: "run", filePaths: [`${a2.id}/error/error.log`] });
    expect(failed.failure!.message).toMatch(/exited with code 3/);
    const agentRun = fake.run("fake-entity", "model-registry", fake.state.agents[0]!.name)!;
    expect(agentRun.files.get(`${a2.id}/error/error.log`)?.uploaded).toBe(true);
    expect(agentRun.files.get(`${a2.id}/error/error.log`)?.bytes?.toString()).toMatch(/failed at stage run[\s\S]*exited with code 3/);

    const agentRec = fake.state.agents[0]!;
    agentRec.stopPolling = true;
    expect(await exit).toBe(0);
    expect(agentRec.status).toBe("KILLED");
    expect(agentRec.statusHistory).toContain("RUNNING");
    // Each item is acked before its job is fetched (reference §7.4: ack before any work).
    const ops = fake.calls.map((c) => c.operation);
    expect(ops.indexOf("ackRunQueueItem")).toBeLessThan(ops.indexOf("ArtifactMembershipByName"));
    expect(ops.filter((o) => o === "ArtifactMembershipByName").length).toBe(3);
    // Registration happened once, first.
    expect(fake.calls.slice(0, 6).map((c) => c.operation)).toEqual(["Viewer", "ProjectRunQueues", "createLaunchAgent", "EntityIsTeam", "LaunchAgent", "UpsertBucket"]);
  });

  it("fails a malformed runSpec item at stage agent and goes on with the next one", async () => {
    fake.addQueue("q1");
    const bad = fake.push("q1", "{not json");
    const good = fake.push("q1", spec());
    const { agent, exit, done } = await startAgent({ queues: ["q1"] });
    await until(() => done.length === 2, 20_000, "two items");
    expect(fake.item(bad.id)!.failure).toMatchObject({ stage: "agent" });
    expect(fake.item(bad.id)!.failure!.message).toMatch(/runSpec must be a JSON object/);
    expect(fake.item(good.id)!.state).toBe("CLAIMED");
    agent.stop("test over");
    expect(await exit).toBe(0);
  });

  it("an artifact file with a wrong digest fails the item naming the file, and nothing runs", async () => {
    fake.addQueue("q1");
    const code = fake.state.artifacts.find((a) => a.type === "code")!;
    fake.corruptFile(code.id, "job.mjs", "process.exit(0)\n");
    const item = fake.push("q1", spec());
    const { agent, exit, done } = await startAgent({ queues: ["q1"] });
    await until(() => done.length === 1, 20_000, "the item");
    expect(fake.item(item.id)!.failure!.message).toMatch(/file job\.mjs does not match its manifest digest/);
    expect(fake.jobRuns()).toHaveLength(0);
    // Its error log carries the stack, as the official agent's carries the traceback.
    const log = fake.run("fake-entity", "model-registry", fake.state.agents[0]!.name)!.files.get(`${item.id}/error/error.log`)!.bytes!.toString();
    expect(log).toMatch(/failed at stage agent\n\nLaunchError: Artifact .* file job\.mjs does not match its manifest digest[\s\S]*\n +at /);
    agent.stop("test over");
    await exit;
  });

  it("rides out a window of 500s and hanging requests mid-run, then resumes polling", async () => {
    fake.addQueue("q1");
    const long = fake.push("q1", spec({ sleep_ms: 2_500 }));
    const { agent, exit, done } = await startAgent({ queues: ["q1"], max_jobs: 2 });
    await until(() => fake.jobRuns().length === 1, 20_000, "the first run to start");

    const outageStart = fake.calls.length;
    fake.setOutage({ kind: "status", status: 500 });
    await new Promise((r) => setTimeout(r, 700));
    fake.setOutage({ kind: "hang" });
    await new Promise((r) => setTimeout(r, 900));
    fake.setOutage(null);
    const during = fake.calls.slice(outageStart);
    expect(during.some((c) => c.status === 500)).toBe(true);
    expect(during.some((c) => c.status === 0)).toBe(true); // hung, timed out by the agent

    const after = fake.push("q1", spec());
    await until(() => done.length === 2, 30_000, "both items");
    expect(fake.item(long.id)!.state).toBe("CLAIMED"); // finished, its run seen, nothing failed
    expect(fake.item(after.id)!.state).toBe("CLAIMED");
    expect(fake.jobRuns()).toHaveLength(2);
    agent.stop("test over");
    expect(await exit).toBe(0);
    expect(fake.state.agents[0]!.status).toBe("KILLED");
  });

  it("stop (SIGTERM) with a job running: waits for it, then reports KILLED", async () => {
    fake.addQueue("q1");
    const item = fake.push("q1", spec({ sleep_ms: 400 }));
    const { agent, exit, done } = await startAgent({ queues: ["q1"], stopped_run_timeout: 10 });
    await until(() => fake.jobRuns().length === 1, 20_000, "the run to start");
    agent.stop("received SIGTERM");
    expect(await exit).toBe(0);
    expect(done.map((r) => r.outcome?.status)).toEqual(["finished"]);
    expect(fake.item(item.id)!.state).toBe("CLAIMED");
    expect(fake.state.agents[0]!.statusHistory.at(-1)).toBe("KILLED");
  });

  it("a user's stop request (RunStoppedStatus) cancels the run after stopped_run_timeout; nothing is failed", async () => {
    fake.addQueue("q1");
    const item = fake.push("q1", spec({ sleep_ms: 60_000 }));
    const { agent, exit, done } = await startAgent({ queues: ["q1"], stopped_run_timeout: 0 });
    await until(() => fake.jobRuns().length === 1, 20_000, "the run to start");
    fake.jobRuns()[0]!.stopped = true;
    await until(() => done.length === 1, 20_000, "the run to be cancelled");
    expect(done[0]!.outcome?.status).toBe("stopped");
    expect(fake.item(item.id)!.state).toBe("CLAIMED");
    expect(fake.item(item.id)!.failure).toBeUndefined();
    expect(fake.callsTo("RunStoppedStatus")[0]!.variables).toEqual({ projectName: "proj", entityName: "fake-entity", runId: fake.item(item.id)!.runName });
    agent.stop("test over");
    await exit;
  });

  it("a rejected key stops the agent before it registers or takes any work", async () => {
    fake.addQueue("q1");
    fake.push("q1", spec());
    const backend = createWandbBackend({
      config: agentConfig(),
      env: { WANDB_BASE_URL: fake.url, WANDB_API_KEY: "revoked" },
      logger: silentLogger,
    });
    const agent = composeAgent({ config: agentConfig(), backend, logger: silentLogger, overrides: { pollIntervalMs: 40 } });
    await expect(agent.run()).rejects.toThrow(/invalid API key/);
    expect(fake.calls.map((c) => c.operation)).toEqual(["Viewer"]);
    expect(fake.state.items[0]!.state).toBe("PENDING");
  });
});
