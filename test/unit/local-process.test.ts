import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LocalProcessRunner } from "../../agent/runners/local-process.js";
import type { LaunchRequest } from "../../agent/runners/types.js";
import { silentLogger } from "../../agent/log.js";
import { tempDir } from "../support/local-jobs.js";

async function request(entrypoint: string[], args: string[] = [], sourceType: "artifact" | "image" = "artifact"): Promise<LaunchRequest> {
  const codeDir = await tempDir();
  return {
    runId: "abc12345",
    runSpec: {},
    job: { name: "t", job: { source_type: sourceType, source: {} }, codeDir, sourceString: "s", files: {}, cleanup: async () => {} },
    image: null,
    entrypoint,
    args,
    env: { WANDB_RUN_ID: "abc12345", SECRET_THING: "s3cr3t" },
    logger: silentLogger,
  };
}

describe("LocalProcessRunner", () => {
  const runner = new LocalProcessRunner({ killGraceMs: 500 });

  it("runs argv without a shell, in the code directory, with the run environment", async () => {
    const req = await request(["/bin/sh", "-c", 'printf "%s|%s|%s" "$WANDB_RUN_ID" "$1" "$2" > marker', "sh"], ["a b;c", "$HOME"]);
    const outcome = await (await runner.run(req)).wait();
    expect(outcome).toMatchObject({ status: "finished", exitCode: 0 });
    // Arguments arrive verbatim: no word splitting, no expansion.
    expect(await readFile(join(req.job.codeDir, "marker"), "utf8")).toBe("abc12345|a b;c|$HOME");
  });

  it("reports a missing command as a failed run that says what to install", async () => {
    const outcome = await (await runner.run(await request(["definitely-not-a-command-xyz"]))).wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toMatch(/could not start definitely-not-a-command-xyz.*is definitely-not-a-command-xyz installed/);
  });

  it("cancel ends the run's whole process group and reports how it was cancelled", async () => {
    const handle = await runner.run(await request(["/bin/sh", "-c", "sleep 30 & sleep 30; wait"]));
    const started = Date.now();
    await handle.cancel("interrupted");
    const outcome = await handle.wait();
    expect(outcome.status).toBe("interrupted");
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("refuses image jobs and jobs without an entrypoint", async () => {
    await expect(runner.run(await request(["x"], [], "image"))).rejects.toThrow(/image job.*local-container/);
    await expect(runner.run(await request([]))).rejects.toThrow(/has no entrypoint/);
  });
});
