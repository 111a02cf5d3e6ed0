// Azurite (the real Azure Blob emulator from npm), started once per test run by test/global-setup.ts.
// Tests get a BlobServiceClient through azuriteBlobService(); if the emulator could not start they
// fail with the reason instead of skipping.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { inject } from "vitest";

/** Azurite's fixed development account (documented, not a secret). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** What global setup hands to tests: the blob endpoint, or why azurite did not start. */
export type AzuriteInfo = { endpoint: string } | { error: string };

declare module "vitest" {
  export interface ProvidedContext {
    azurite: AzuriteInfo;
  }
}

export interface RunningAzurite {
  /** `http://127.0.0.1:<port>` (account name goes in the path). */
  endpoint: string;
  stop(): Promise<void>;
}

/** Spawns azurite-blob on 127.0.0.1 with a free port and a temp workspace; resolves once it listens. */
export async function startAzurite(timeoutMs = 30_000): Promise<RunningAzurite> {
  const location = await mkdtemp(join(tmpdir(), "azurite-"));
  const bin = resolve(import.meta.dirname, "../../node_modules/.bin/azurite-blob");
  // --disableTelemetry: it would otherwise call an Azure endpoint; --skipApiVersionCheck: storage-blob
  // 12.32 sends an x-ms-version newer than azurite 3.35 knows.
  const child = spawn(
    bin,
    ["--blobHost", "127.0.0.1", "--blobPort", "0", "--location", location, "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await rm(location, { recursive: true, force: true });
  };
  try {
    const endpoint = await new Promise<string>((resolveEndpoint, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`azurite did not start within ${timeoutMs} ms; output: ${out}`)), timeoutMs);
      const onData = (chunk: Buffer): void => {
        out += chunk.toString("utf8");
        const m = /listens on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolveEndpoint(m[1]!);
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`azurite exited with code ${code}; output: ${out}`));
      });
    });
    return { endpoint, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      done();
    });
    child.kill("SIGTERM");
  });
}

/** The endpoint global setup started; throws (failing the test) when azurite is not running. */
export function azuriteEndpoint(): string {
  const info = inject("azurite");
  if (!info) throw new Error("azurite was not started: test/global-setup.ts must start it (see test/support/azurite.ts)");
  if ("error" in info) throw new Error(`azurite failed to start in global setup: ${info.error}`);
  return info.endpoint;
}

/** A client for azurite's development account; `key` lets tests present a wrong key (403). */
export function azuriteBlobService(key: string = AZURITE_KEY): BlobServiceClient {
  const credential = new StorageSharedKeyCredential(AZURITE_ACCOUNT, key);
  return new BlobServiceClient(`${azuriteEndpoint()}/${AZURITE_ACCOUNT}`, credential, {
    retryOptions: { maxTries: 1 },
  });
}
