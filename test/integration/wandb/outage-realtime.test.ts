import { afterAll, beforeAll, expect, it } from "vitest";
import { DEFAULT_WANDB_TIMINGS } from "../../../agent/backend/wandb/index.js";
import { silentLogger } from "../../../agent/log.js";
import { composeAgent } from "../../../agent/main.js";
import type { ItemResult } from "../../../agent/pipeline.js";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";
import { JOB_SCRIPT, addArtifactJob, agentConfig, backendFor, jobSpec as spec, until, type BackendFixture } from "../../fakes/wandb/helpers.js";

/**
 * Issue 4's outage, in real time and with the production timings (20 s attempt timeout, W&B's
 * back-off, the loop's 10 s poll and 60 s back-off cap): two minutes of 500s and hanging requests
 * while a job runs. The official agent dies when its per-tick query fails; ours must keep the job,
 * report it once W&B answers again, and go on polling.
 */

const OUTAGE_MS = 120_000;
let fake: FakeWandb;
let fx: BackendFixture;

beforeAll(async () => {
  fake = await startFakeWandb();
  addArtifactJob(fake, { files: { "job.mjs": JOB_SCRIPT }, entrypoint: [process.execPath, "job.mjs"] });
});
afterAll(async () => {
  await fake.close();
  await fx?.cleanup();
});

it("keeps a job running through two minutes of 500s and hangs, reports it, and resumes polling", { timeout: 600_000 }, async () => {
  fake.addQueue("q1");
  // Runs into the outage and ends in the middle of it.
  const during = fake.push("q1", spec({ sleep_ms: 60_000 }));
  fx = await backendFor(fake, { timings: DEFAULT_WANDB_TIMINGS });
  const done: ItemResult[] = [];
  const config = agentConfig({ queues: ["q1"], max_jobs: 2 });
  const agent = composeAgent({ config, backend: fx.backend, logger: silentLogger, overrides: { onItemDone: (r) => done.push(r) } });
  let exited = false;
  const exit = agent.run().finally(() => (exited = true));
  await until(() => fake.jobRuns().length === 1, 60_000, "the first run to start");

  const outageStart = fake.calls.length;
  const started = Date.now();
  while (Date.now() - started < OUTAGE_MS) {
    fake.setOutage({ kind: "status", status: 500 });
    await new Promise((r) => setTimeout(r, 20_000));
    fake.setOutage({ kind: "hang" });
    await new Promise((r) => setTimeout(r, 20_000));
  }
  fake.setOutage(null);
  const calls = fake.calls.slice(outageStart);
  expect(calls.some((c) => c.status === 500)).toBe(true);
  expect(calls.some((c) => c.status === 0)).toBe(true);
  expect(exited).toBe(false);
  // The job was not touched by the outage: it ran to its end.
  expect(done).toEqual([]);

  const after = fake.push("q1", spec());
  // Recovery is bounded by design, not instant: a request hung when the outage ends still waits out its
  // 20 s attempt timeout, W&B's back-off can be at its 60 s cap (+25 % jitter), and the loop's own back-off
  // at its 60 s cap; then the new item runs and its RunState check follows.
  await until(() => done.length === 2, 300_000, () => `the first item's report and the new item (done: ${done.length})`);
  expect(done.map((r) => r.outcome?.status)).toEqual(["finished", "finished"]);
  expect(fake.item(during.id)!.failure).toBeUndefined();
  expect(fake.item(after.id)!.state).toBe("CLAIMED");
  expect(fake.jobRuns()).toHaveLength(2);
  agent.stop("test over");
  expect(await exit).toBe(0);
  expect(fake.state.agents[0]!.status).toBe("KILLED");
});
