// GCS build-context store against the strict fake JSON API server (no installable emulator exists).
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LaunchError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import { contextStoreFor } from "../../../agent/storage/index.js";
import { startFakeGcs, type FakeGcs } from "../../fakes/gcs-server.js";
import { expectSameTree, extractTo, makeContextTree, removeTempDirs } from "./tree.js";

let gcs: FakeGcs;
let context: string;

beforeAll(async () => {
  gcs = await startFakeGcs({ buckets: ["contexts", "second"] });
  gcs.createBucket("locked-down");
  gcs.denyBucket("locked-down");
  context = await makeContextTree();
});
afterAll(async () => {
  await removeTempDirs();
  await gcs?.stop();
});

const storeFor = (uri: string) =>
  contextStoreFor(uri, { environment: { type: "gcp", region: "us-central1" }, logger: silentLogger, clients: { gcs: gcs.storage() } });

describe("GCS context store (fake JSON API)", () => {
  it("uploads a context under the prefix with one resumable session and it comes back byte-for-byte", async () => {
    const store = storeFor("gs://contexts/builds/team-a");
    expect(store.kind).toBe("gcs");
    const before = gcs.requests.length;
    const uri = await store.uploadContext(context, "run12345.tgz");
    expect(uri).toBe("gs://contexts/builds/team-a/run12345.tgz");
    const sent = gcs.requests.slice(before);
    expect(sent[0]).toMatchObject({ method: "POST", path: "/upload/storage/v1/b/contexts/o", query: { uploadType: "resumable", name: "builds/team-a/run12345.tgz" } });
    // Streamed as a single request whose length is unknown up front.
    expect(sent.filter((r) => r.method === "PUT").map((r) => r.contentRange)).toEqual(["bytes 0-*/*"]);
    const bytes = gcs.object("contexts", "builds/team-a/run12345.tgz");
    expect(bytes).toBeDefined();
    await expectSameTree(await extractTo(Readable.from([bytes!])), context);
  });

  it("places objects at the bucket root without a prefix", async () => {
    expect(await storeFor("gs://second").uploadContext(context, "root0001.tgz")).toBe("gs://second/root0001.tgz");
    expect(await storeFor("gs://second/").uploadContext(context, "root0002.tgz")).toBe("gs://second/root0002.tgz");
    expect(await storeFor("gs://second/a/b/").uploadContext(context, "nest0003.tgz")).toBe("gs://second/a/b/nest0003.tgz");
    expect(gcs.objectNames("second")).toEqual(["a/b/nest0003.tgz", "root0001.tgz", "root0002.tgz"]);
  });

  it("verify() passes for an existing bucket", async () => {
    await expect(storeFor("gs://contexts/p").verify()).resolves.toBeUndefined();
  });

  it("verify() names a missing bucket, the config key and the fix", async () => {
    const err = await storeFor("gs://no-such-bucket/p").verify().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toBe(
      "Bucket no-such-bucket does not exist (builder.build-context-store: gs://no-such-bucket/p, operation buckets.get). Create the bucket or correct builder.build-context-store.",
    );
  });

  it("a bucket the identity may not use is reported with the missing permission", async () => {
    const verifyErr = await storeFor("gs://locked-down").verify().catch((e: unknown) => e);
    expect((verifyErr as Error).message).toMatch(/^Bucket locked-down is not accessible \(builder\.build-context-store: gs:\/\/locked-down, operation buckets\.get\): .*storage\.buckets\.get/);
    const uploadErr = await storeFor("gs://locked-down/p").uploadContext(context, "denied01.tgz").catch((e: unknown) => e);
    expect(uploadErr).toBeInstanceOf(LaunchError);
    expect((uploadErr as Error).message).toMatch(/^Bucket locked-down is not accessible .*operation objects\.insert.*needs storage\.objects\.create on gs:\/\/locked-down/);
  });

  it("an upload to a missing bucket says so", async () => {
    const err = await storeFor("gs://no-such-bucket").uploadContext(context, "r.tgz").catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^Bucket no-such-bucket does not exist .*operation objects\.insert/);
  });

  it("deleteContext removes the object, tolerates a second delete and refuses URIs of other stores", async () => {
    const store = storeFor("gs://contexts/del");
    const uri = await store.uploadContext(context, "delrun01.tgz");
    expect(gcs.objectNames("contexts")).toContain("del/delrun01.tgz");
    await store.deleteContext(uri);
    expect(gcs.objectNames("contexts")).not.toContain("del/delrun01.tgz");
    await expect(store.deleteContext(uri)).resolves.toBeUndefined();
    await expect(store.deleteContext("gs://second/root0001.tgz")).rejects.toThrow(/is not an object of the build context store gs:\/\/contexts\/del/);
    expect(gcs.objectNames("second")).toContain("root0001.tgz");
  });
});

describe("GCS context store: cancellation", () => {
  it("an aborted upload rejects with the abort reason and leaves no object", async () => {
    const big = await makeContextTree();
    await writeFile(join(big, "weights.bin"), randomBytes(40 * 1024 * 1024));
    const ac = new AbortController();
    const pending = storeFor("gs://contexts/abort").uploadContext(big, "abort001.tgz", ac.signal);
    setTimeout(() => ac.abort(new Error("job cancelled")), 100);
    await expect(pending).rejects.toThrow("job cancelled");
    expect(gcs.objectNames("contexts")).not.toContain("abort/abort001.tgz");
  });
});

describe("the fake GCS server is strict", () => {
  it("answers unknown buckets and objects with GCS's 404 error shape", async () => {
    const res = await fetch(`${gcs.endpoint}/storage/v1/b/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({
      error: { code: 404, message: "The specified bucket does not exist.", errors: [{ message: "The specified bucket does not exist.", domain: "global", reason: "notFound" }] },
    });
    const obj = await fetch(`${gcs.endpoint}/storage/v1/b/contexts/o/${encodeURIComponent("missing.tgz")}?alt=media`);
    expect(obj.status).toBe(404);
  });

  it("rejects a resumable chunk that leaves a gap, a length mismatch and a wrong checksum", async () => {
    const start = await fetch(`${gcs.endpoint}/upload/storage/v1/b/contexts/o?uploadType=resumable&name=strict.bin`, { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    expect(start.status).toBe(200);
    const session = start.headers.get("location")!;
    const gap = await fetch(session, { method: "PUT", body: "abc", headers: { "content-range": "bytes 5-7/*" } });
    expect(gap.status).toBe(400);
    const mismatch = await fetch(session, { method: "PUT", body: "abc", headers: { "content-range": "bytes 0-9/*" } });
    expect(mismatch.status).toBe(400);
    const partial = await fetch(session, { method: "PUT", body: "abc", headers: { "content-range": "bytes 0-2/*" } });
    expect(partial.status).toBe(308);
    expect(partial.headers.get("range")).toBe("bytes=0-2");
    const badHash = await fetch(session, { method: "PUT", body: "def", headers: { "content-range": "bytes 3-5/6", "x-goog-hash": "crc32c=AAAAAA==" } });
    expect(badHash.status).toBe(400);
    expect(((await badHash.json()) as { error: { message: string } }).error.message).toMatch(/doesn't match calculated CRC32C/);
  });

  it("computes crc32c like GCS (RFC 3720 check value)", async () => {
    // CRC32C("123456789") = 0xE3069283.
    const res = await fetch(`${gcs.endpoint}/upload/storage/v1/b/contexts/o?uploadType=media&name=check.txt`, { method: "POST", body: "123456789" });
    const json = (await res.json()) as { crc32c: string; size: string };
    expect(Buffer.from(json.crc32c, "base64").toString("hex")).toBe("e3069283");
    expect(json.size).toBe("9");
  });

  it("rejects invalid object names", async () => {
    const res = await fetch(`${gcs.endpoint}/upload/storage/v1/b/contexts/o?uploadType=media&name=${encodeURIComponent("a\nb")}`, { method: "POST", body: "x" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { errors: { reason: string }[] } }).error.errors[0]!.reason).toBe("invalid");
  });
});
