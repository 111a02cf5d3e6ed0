import { execFile } from "node:child_process";
import { mkdir, readFile, utimes, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { chooseEntry } from "../../bin/entry.js";
import { tempDir } from "../support/local-jobs.js";

const run = promisify(execFile);
const TRACE = resolve("test/support/module-trace.mjs");
const CLI = resolve("agent/cli.ts");
/** Packages only a job or a check that uses that cloud may load. */
const HEAVY = /\/node_modules\/(@aws-sdk|@smithy|@google-cloud|google-auth-library|@azure|@kubernetes)\//;

/** The packages a command loaded, by the module trace of a real CLI process. */
async function packagesLoaded(args: string[], script = CLI): Promise<Set<string>> {
  const out = join(await tempDir("trace-"), "modules.txt");
  await run(process.execPath, ["--import", "tsx", "--import", TRACE, script, ...args], {
    env: { ...process.env, MODULE_TRACE: out },
    timeout: 30_000,
  }).catch((err: { code?: number }) => {
    // build-plan/validate may exit non-zero; only the trace matters here.
    if (typeof err.code !== "number") throw err;
  });
  const files = (await readFile(out, "utf8")).split("\n").filter(Boolean);
  const heavy = files.filter((f) => HEAVY.test(f)).map((f) => f.match(HEAVY)![1]!);
  return new Set(heavy);
}

describe("start-up footprint", () => {
  // A config naming every cloud part (ECR, S3, AWS, kaniko on Kubernetes) loads none of their SDKs
  // until a job or `doctor` uses them.
  const cloudConfig = resolve("test/fixtures/configs/ecr-kaniko-s3-all-builder-keys.yaml");

  it("--help, config validate and build-plan load no cloud SDK or Kubernetes client", async () => {
    expect(await packagesLoaded(["--help"])).toEqual(new Set());
    expect(await packagesLoaded(["config", "validate", cloudConfig])).toEqual(new Set());
    expect(await packagesLoaded(["build-plan", "--job", "examples/jobs/hello", "-c", cloudConfig, "--json"])).toEqual(new Set());
  });

  it("the trace sees an SDK once something uses it (the check above can fail)", async () => {
    const dir = await tempDir("trace-probe-");
    const probe = join(dir, "probe.mts"); // .mts: an ES module outside the package
    // The S3 store's verify is the first use of the AWS SDK: it must load it then, not before.
    await writeFile(
      probe,
      `import { contextStoreFor } from ${JSON.stringify(resolve("agent/storage/index.js"))};
       import { silentLogger } from ${JSON.stringify(resolve("agent/log.js"))};
       const store = contextStoreFor("s3://bucket/p", { logger: silentLogger, s3: { endpoint: "http://127.0.0.1:9" } });
       await store.verify().catch(() => undefined);`,
    );
    const loaded = await packagesLoaded([], probe);
    expect(loaded.has("@aws-sdk")).toBe(true);
    expect(loaded.has("@azure")).toBe(false);
  });
});

describe("bin/launch-agent.js chooses compiled code only while it is current", () => {
  async function checkout(withDist: boolean, withSource = true): Promise<string> {
    const root = await tempDir("entry-");
    if (withSource) {
      await mkdir(join(root, "agent", "config"), { recursive: true });
      await writeFile(join(root, "agent", "cli.ts"), "");
      await writeFile(join(root, "agent", "config", "schema.ts"), "");
    }
    if (withDist) {
      await mkdir(join(root, "dist", "agent"), { recursive: true });
      await writeFile(join(root, "dist", "agent", "cli.js"), "");
      // Built after the sources.
      const later = new Date(Date.now() + 5_000);
      await utimes(join(root, "dist", "agent", "cli.js"), later, later);
    }
    return root;
  }

  it("uses dist/ when it is newer than every source, the sources otherwise", async () => {
    const root = await checkout(true);
    expect(chooseEntry(root).kind).toBe("dist");
    // Editing a nested source makes dist/ stale: the sources run.
    const edited = new Date(Date.now() + 10_000);
    await utimes(join(root, "agent", "config", "schema.ts"), edited, edited);
    expect(chooseEntry(root)).toMatchObject({ kind: "source", reason: expect.stringContaining("newer than dist") });
  });

  it("uses the sources when dist/ is missing, and dist/ when there are no sources (the image)", async () => {
    expect(chooseEntry(await checkout(false)).kind).toBe("source");
    expect(chooseEntry(await checkout(true, false)).kind).toBe("dist");
  });
});
