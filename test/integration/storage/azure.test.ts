// Azure Blob build-context store against azurite (the real emulator), started by test/global-setup.ts.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import type { BlobServiceClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LaunchError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import { contextStoreFor } from "../../../agent/storage/index.js";
import { AZURITE_ACCOUNT, AZURITE_KEY, azuriteBlobService } from "../../support/azurite.js";
import { expectSameTree, extractTo, makeContextTree, removeTempDirs } from "./tree.js";

const ACCOUNT_URL = `https://${AZURITE_ACCOUNT}.blob.core.windows.net`;
let service: BlobServiceClient;
let context: string;

beforeAll(async () => {
  service = azuriteBlobService();
  await service.getContainerClient("contexts").createIfNotExists();
  await service.getContainerClient("second").createIfNotExists();
  context = await makeContextTree();
});

afterAll(removeTempDirs);

const storeFor = (uri: string, client: BlobServiceClient = service) =>
  contextStoreFor(uri, { environment: { type: "azure", region: null }, logger: silentLogger, clients: { azure: client } });

async function download(container: string, name: string): Promise<Readable> {
  const res = await service.getContainerClient(container).getBlobClient(name).download();
  return res.readableStreamBody as Readable;
}

async function names(container: string): Promise<string[]> {
  const out: string[] = [];
  for await (const b of service.getContainerClient(container).listBlobsFlat()) out.push(b.name);
  return out.sort();
}

describe("Azure Blob context store (azurite)", () => {
  it("uploads a context under the prefix and it comes back byte-for-byte", async () => {
    const store = storeFor(`${ACCOUNT_URL}/contexts/builds/team-a`);
    expect(store.kind).toBe("azure");
    const uri = await store.uploadContext(context, "run12345.tgz");
    // The URI kaniko's --context takes: the real account URL, whatever endpoint the client used.
    expect(uri).toBe(`${ACCOUNT_URL}/contexts/builds/team-a/run12345.tgz`);
    const props = await service.getContainerClient("contexts").getBlobClient("builds/team-a/run12345.tgz").getProperties();
    expect(props.contentType).toBe("application/gzip");
    await expectSameTree(await extractTo(await download("contexts", "builds/team-a/run12345.tgz")), context);
  });

  it("places blobs at the container root without a prefix", async () => {
    expect(await storeFor(`${ACCOUNT_URL}/second`).uploadContext(context, "root0001.tgz")).toBe(`${ACCOUNT_URL}/second/root0001.tgz`);
    expect(await storeFor(`${ACCOUNT_URL}/second/`).uploadContext(context, "root0002.tgz")).toBe(`${ACCOUNT_URL}/second/root0002.tgz`);
    expect(await storeFor(`${ACCOUNT_URL}/second/a/b/`).uploadContext(context, "nest0003.tgz")).toBe(`${ACCOUNT_URL}/second/a/b/nest0003.tgz`);
    expect(await names("second")).toEqual(["a/b/nest0003.tgz", "root0001.tgz", "root0002.tgz"]);
  });

  it("verify() passes for an existing container", async () => {
    await expect(storeFor(`${ACCOUNT_URL}/contexts/p`).verify()).resolves.toBeUndefined();
  });

  it("verify() names a missing container, the config key and the fix", async () => {
    const err = await storeFor(`${ACCOUNT_URL}/no-such-container/p`).verify().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toBe(
      `Container no-such-container does not exist in storage account ${AZURITE_ACCOUNT} (builder.build-context-store: ${ACCOUNT_URL}/no-such-container/p, operation GetContainerProperties). Create the container or correct builder.build-context-store.`,
    );
  });

  it("verify() and uploads with a rejected key say the container is not accessible, never echoing the key", async () => {
    const wrongKey = Buffer.from("definitely-not-the-account-key").toString("base64");
    const bad = azuriteBlobService(wrongKey);
    const verifyErr = await storeFor(`${ACCOUNT_URL}/contexts`, bad).verify().catch((e: unknown) => e);
    expect(verifyErr).toBeInstanceOf(LaunchError);
    const msg = (verifyErr as Error).message;
    expect(msg).toMatch(/^Container contexts in storage account devstoreaccount1 is not accessible \(builder\.build-context-store: .*operation GetContainerProperties\): /);
    expect(msg).toContain("Storage Blob Data Contributor");
    const uploadErr = await storeFor(`${ACCOUNT_URL}/contexts/denied`, bad).uploadContext(context, "denied01.tgz").catch((e: unknown) => e);
    expect((uploadErr as Error).message).toMatch(/is not accessible .*operation PutBlock.*: AuthorizationFailure/);
    for (const m of [msg, (uploadErr as Error).message]) {
      expect(m).not.toContain(wrongKey);
      expect(m).not.toContain(AZURITE_KEY);
    }
    expect(await names("contexts")).not.toContain("denied/denied01.tgz");
  });

  it("an upload to a missing container says so", async () => {
    const err = await storeFor(`${ACCOUNT_URL}/no-such-container`).uploadContext(context, "r.tgz").catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^Container no-such-container does not exist in storage account devstoreaccount1 .*operation PutBlock/);
  });

  it("deleteContext removes the blob, tolerates a second delete and refuses URIs of other stores", async () => {
    const store = storeFor(`${ACCOUNT_URL}/contexts/del`);
    const uri = await store.uploadContext(context, "delrun01.tgz");
    expect(await names("contexts")).toContain("del/delrun01.tgz");
    await store.deleteContext(uri);
    expect(await names("contexts")).not.toContain("del/delrun01.tgz");
    await expect(store.deleteContext(uri)).resolves.toBeUndefined();
    await expect(store.deleteContext(`${ACCOUNT_URL}/second/root0001.tgz`)).rejects.toThrow(/is not an object of the build context store/);
    expect(await names("second")).toContain("root0001.tgz");
  });

  it("an aborted upload rejects with the abort reason and leaves no blob", async () => {
    const big = await makeContextTree();
    await writeFile(join(big, "weights.bin"), randomBytes(40 * 1024 * 1024));
    const ac = new AbortController();
    const pending = storeFor(`${ACCOUNT_URL}/contexts/abort`).uploadContext(big, "abort001.tgz", ac.signal);
    setTimeout(() => ac.abort(new Error("job cancelled")), 100);
    await expect(pending).rejects.toThrow("job cancelled");
    expect(await names("contexts")).not.toContain("abort/abort001.tgz");
  });
});
