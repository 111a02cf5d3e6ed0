// WANDB_BASE_URL pointing at a closed port: each failed attempt is logged at the default verbosity,
// and the first SIGTERM ends start-up at once (it used to be ignored for minutes).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { createWandbBackend } from "../../agent/backend/wandb/index.js";
import { silentLogger } from "../../agent/log.js";
import { formatFatalError } from "../../agent/report.js";
import { tempDir } from "../support/local-jobs.js";

const BIN = resolve("bin/launch-agent.js");

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe("W&B unreachable at start-up", () => {
  it("logs every failed attempt with the next try and how long it keeps trying; SIGTERM ends it at once", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const child = spawn(process.execPath, [BIN, "-q", "Q"], {
      env: { ...process.env, HOME: await tempDir(), WANDB_BASE_URL: url, WANDB_API_KEY: "k".repeat(40) },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on("close", r));
    const deadline = Date.now() + 90_000;
    // The first retry comes right after the refused connection; wait for the second (after ~2 s back-off).
    while ((out.match(/could not reach W&B/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(out).toMatch(new RegExp(`could not reach W&B at ${url.replace(/\./g, "\\.")}: .*ECONNREFUSED.*; next try in \\d+ s \\(attempt 2 of 20; giving up in about \\d+ min if it stays unreachable`));
    expect(out).toMatch(/attempt 3 of 20/);
    const sent = Date.now();
    child.kill("SIGTERM");
    const code = await exited;
    expect(Date.now() - sent).toBeLessThan(3_000);
    expect(code, out).toBe(0);
    expect(out).toMatch(/stopped during start-up/);
    expect(out).not.toMatch(/\n\s+at |unexpected error/);
  }, 150_000);

  it("giving up ends with a plain message naming the host, not a stack trace", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const backend = createWandbBackend({
      config: { queues: ["Q"], max_jobs: 1, max_schedulers: 1, verbosity: 0 } as never,
      env: { WANDB_BASE_URL: url, WANDB_API_KEY: "k".repeat(40) },
      logger: silentLogger,
      homeDir: await tempDir(),
      timings: { maxAttempts: 3, backoffInitialMs: 10, backoffMaxMs: 20 },
    });
    const err = await backend.start(["Q"]).then(() => null, (e: unknown) => e);
    const text = formatFatalError(err, 0);
    expect(text).toMatch(new RegExp(`^W&B Viewer failed after retries: .*ECONNREFUSED.*${url.replace(/\./g, "\\.")}.*Check WANDB_BASE_URL and the network, then start the agent again\\.$`));
  });
});
