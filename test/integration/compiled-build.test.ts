import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { tempDir } from "../support/local-jobs.js";

const run = promisify(execFile);

// The container image runs the compiled agent (tsconfig.build.json → dist/), not the TypeScript
// sources: prove that output starts, validates a config and runs a job end to end.
describe("the compiled agent (what the Dockerfile ships)", () => {
  let outDir = "";
  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it("builds with tsconfig.build.json and runs a local job from dist", async () => {
    // Inside the project so package.json's "type": "module" and node_modules apply, as in the image.
    outDir = await mkdtemp(resolve(".compiled-test-"));
    await run(process.execPath, [resolve("node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json", "--outDir", outDir], { timeout: 240_000 });
    const cli = join(outDir, "agent", "cli.js");
    const validated = await run(process.execPath, [cli, "config", "validate", "test/fixtures/configs/acr-https-kaniko-azure-blob.yaml", "--json"]);
    expect(JSON.parse(validated.stdout)).toMatchObject({ valid: true, errors: [] });

    const root = await tempDir();
    await run(process.execPath, [cli, "local", "push", "-q", "c", "--job", "examples/jobs/hello", "--local", root]);
    await run(process.execPath, [cli, "--local", root, "-q", "c", "--exit-when-idle"], { timeout: 60_000 });
    const listed = await run(process.execPath, [cli, "local", "list", "--json", "--local", root]);
    expect(JSON.parse(listed.stdout).map((i: { state: string }) => i.state)).toEqual(["finished"]);

    // `npm start` runs the compiled code once `npm ci` has built dist/: the bundled example job is found from the
    // package root, not from the compiled file's directory.
    const demo = await run(process.execPath, [cli, "demo", "--local", join(root, "demo")], { timeout: 60_000 });
    expect(demo.stdout).toMatch(/finished/);
  }, 300_000); // a full tsc build: ~30 s on a quiet 2-core machine, minutes on a loaded one
});
