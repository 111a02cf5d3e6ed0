// Streaming, proven: uploading a ~200 MiB context must not grow the uploader's memory anywhere near
// the context's size. Each upload runs in a child process so the servers' memory is not counted.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { startFakeGcs, type FakeGcs } from "../../fakes/gcs-server.js";
import { AZURITE_ACCOUNT, AZURITE_KEY, azuriteBlobService, azuriteEndpoint } from "../../support/azurite.js";
import { startS3, type RunningS3 } from "../../support/s3.js";
import { makeContextTree, tempDir, removeTempDirs } from "./tree.js";

const run = promisify(execFile);
const CHILD = resolve(import.meta.dirname, "memory-child.ts");
const MiB = 1024 * 1024;
const CONTEXT_MIB = 200;
/** Allowed RSS growth during the upload; a buffering upload would need more than the context itself. */
const BOUND_MIB = 150;

let big: string;
let small: string;
let s3: RunningS3;
let gcs: FakeGcs;

beforeAll(async () => {
  small = await makeContextTree();
  big = await tempDir("ctx-big");
  // Random bytes: gzip cannot shrink them, so ~200 MiB really travels through the upload.
  for (let d = 0; d < 4; d++) {
    await mkdir(join(big, `shard-${d}`));
    for (let f = 0; f < CONTEXT_MIB / 4 / 2; f++) await writeFile(join(big, `shard-${d}`, `blob-${f}.bin`), randomBytes(2 * MiB));
  }
  s3 = await startS3(["contexts"]);
  gcs = await startFakeGcs({ buckets: ["contexts"] });
  await azuriteBlobService().getContainerClient("memory").createIfNotExists();
}, 120_000);

afterAll(async () => {
  await removeTempDirs();
  await s3?.stop();
  await gcs?.stop();
});

async function measure(kind: string, endpoint: string, uri: string): Promise<{ uri: string; baseline: number; peak: number; ms: number }> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", CHILD, JSON.stringify({ kind, endpoint, uri, warmupDir: small, dir: big })], {
    cwd: resolve(import.meta.dirname, "../../.."),
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true", AZURITE_ACCOUNT, AZURITE_KEY },
    maxBuffer: 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!) as { uri: string; baseline: number; peak: number; ms: number };
}

describe("build-context upload memory", () => {
  it(`S3: a ${CONTEXT_MIB} MiB context uploads with RSS growth under ${BOUND_MIB} MiB`, async () => {
    const r = await measure("s3", s3.endpoint, "s3://contexts/mem");
    expect(r.uri).toBe("s3://contexts/mem/big.tgz");
    const growthMiB = (r.peak - r.baseline) / MiB;
    console.info(`S3 upload of ${CONTEXT_MIB} MiB: RSS growth ${growthMiB.toFixed(1)} MiB, ${r.ms} ms`);
    expect(growthMiB).toBeLessThan(BOUND_MIB);
    const head = await s3.client().send(new HeadObjectCommand({ Bucket: "contexts", Key: "mem/big.tgz" }));
    expect(head.ContentLength).toBeGreaterThan(CONTEXT_MIB * MiB);
  }, 300_000);

  it(`GCS: a ${CONTEXT_MIB} MiB context uploads with RSS growth under ${BOUND_MIB} MiB`, async () => {
    const r = await measure("gcs", gcs.endpoint, "gs://contexts/mem");
    expect(r.uri).toBe("gs://contexts/mem/big.tgz");
    const growthMiB = (r.peak - r.baseline) / MiB;
    console.info(`GCS upload of ${CONTEXT_MIB} MiB: RSS growth ${growthMiB.toFixed(1)} MiB, ${r.ms} ms`);
    expect(growthMiB).toBeLessThan(BOUND_MIB);
    expect(gcs.object("contexts", "mem/big.tgz")!.length).toBeGreaterThan(CONTEXT_MIB * MiB);
  }, 300_000);

  it(`Azure: a ${CONTEXT_MIB} MiB context uploads with RSS growth under ${BOUND_MIB} MiB`, async () => {
    const r = await measure("azure", azuriteEndpoint(), `https://${AZURITE_ACCOUNT}.blob.core.windows.net/memory/mem`);
    expect(r.uri).toBe(`https://${AZURITE_ACCOUNT}.blob.core.windows.net/memory/mem/big.tgz`);
    const growthMiB = (r.peak - r.baseline) / MiB;
    console.info(`Azure upload of ${CONTEXT_MIB} MiB: RSS growth ${growthMiB.toFixed(1)} MiB, ${r.ms} ms`);
    expect(growthMiB).toBeLessThan(BOUND_MIB);
    const props = await azuriteBlobService().getContainerClient("memory").getBlobClient("mem/big.tgz").getProperties();
    expect(props.contentLength).toBeGreaterThan(CONTEXT_MIB * MiB);
  }, 300_000);
});
