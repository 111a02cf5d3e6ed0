// S3 build-context store against s3rver (a real S3 API server) on 127.0.0.1.
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { LaunchError } from "../../../agent/errors.js";
import { silentLogger } from "../../../agent/log.js";
import { contextStoreFor } from "../../../agent/storage/index.js";
import { S3RVER_CREDENTIALS, startS3, type RunningS3 } from "../../support/s3.js";
import { expectSameTree, extractTo, makeContextTree, tempDir, removeTempDirs } from "./tree.js";

let s3: RunningS3;
let context: string;

beforeAll(async () => {
  s3 = await startS3(["contexts", "other-bucket"]);
  context = await makeContextTree();
});
afterAll(async () => {
  await removeTempDirs();
  await s3?.stop();
});
afterEach(() => {
  vi.unstubAllEnvs();
});

const storeFor = (uri: string, accessKeyId?: string, client = s3.client(accessKeyId)) =>
  contextStoreFor(uri, { environment: { type: "aws", region: "us-east-1" }, logger: silentLogger, clients: { s3: client } });

/** Records the S3 operations a client sends. */
function recording(): { client: S3Client; commands: string[] } {
  const client = s3.client();
  const commands: string[] = [];
  client.middlewareStack.add(
    (next, ctx) => (args) => {
      commands.push(String(ctx.commandName));
      return next(args);
    },
    { step: "initialize" },
  );
  return { client, commands };
}

async function download(bucket: string, key: string): Promise<Readable> {
  const out = await s3.client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return out.Body as Readable;
}

async function keys(bucket: string): Promise<string[]> {
  const out = await s3.client().send(new ListObjectsV2Command({ Bucket: bucket }));
  return (out.Contents ?? []).map((o) => o.Key!).sort();
}

describe("S3 context store (s3rver)", () => {
  it("uploads a context under the prefix and it comes back byte-for-byte", async () => {
    const store = storeFor("s3://contexts/builds/team-a");
    expect(store.kind).toBe("s3");
    const uri = await store.uploadContext(context, "run12345.tgz");
    expect(uri).toBe("s3://contexts/builds/team-a/run12345.tgz");
    await expectSameTree(await extractTo(await download("contexts", "builds/team-a/run12345.tgz")), context);
  });

  it("streams contexts larger than a part as a multipart upload", async () => {
    const big = await makeContextTree();
    await writeFile(join(big, "weights.bin"), randomBytes(20 * 1024 * 1024));
    const rec = recording();
    const uri = await storeFor("s3://contexts/multi", undefined, rec.client).uploadContext(big, "bigrun01.tgz");
    expect(uri).toBe("s3://contexts/multi/bigrun01.tgz");
    // 20+ MiB of incompressible data in 8 MiB parts: three parts.
    expect(rec.commands.sort()).toEqual([
      "CompleteMultipartUploadCommand",
      "CreateMultipartUploadCommand",
      "UploadPartCommand",
      "UploadPartCommand",
      "UploadPartCommand",
    ]);
    await expectSameTree(await extractTo(await download("contexts", "multi/bigrun01.tgz")), big);
  });

  it("places objects at the bucket root without a prefix and strips slashes around the prefix", async () => {
    expect(await storeFor("s3://other-bucket").uploadContext(context, "rootrun1.tgz")).toBe("s3://other-bucket/rootrun1.tgz");
    expect(await storeFor("s3://other-bucket/").uploadContext(context, "rootrun2.tgz")).toBe("s3://other-bucket/rootrun2.tgz");
    expect(await storeFor("s3://other-bucket/nested/p/").uploadContext(context, "run3.tgz")).toBe("s3://other-bucket/nested/p/run3.tgz");
    expect(await keys("other-bucket")).toEqual(["nested/p/run3.tgz", "rootrun1.tgz", "rootrun2.tgz"]);
  });

  it("the default client reaches an S3-compatible endpoint from S3_ENDPOINT/S3_FORCE_PATH_STYLE on the default credential chain", async () => {
    // Credentials from the environment, as the SDK's default chain reads them; nothing injected.
    vi.stubEnv("AWS_ACCESS_KEY_ID", S3RVER_CREDENTIALS.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", S3RVER_CREDENTIALS.secretAccessKey);
    vi.stubEnv("AWS_SESSION_TOKEN", undefined);
    vi.stubEnv("AWS_PROFILE", undefined);
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    const store = contextStoreFor("s3://contexts/compat", {
      environment: { type: "aws", region: "us-east-1" },
      logger: silentLogger,
      env: { S3_ENDPOINT: s3.endpoint, S3_FORCE_PATH_STYLE: "true" },
    });
    await store.verify();
    const uri = await store.uploadContext(context, "compat01.tgz");
    expect(uri).toBe("s3://contexts/compat/compat01.tgz");
    await expectSameTree(await extractTo(await download("contexts", "compat/compat01.tgz")), context);
  });

  it("verify() passes for an existing bucket", async () => {
    await expect(storeFor("s3://contexts/x").verify()).resolves.toBeUndefined();
  });

  it("verify() names a missing bucket, the config key and the fix", async () => {
    const err = await storeFor("s3://no-such-bucket/p").verify().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toMatch(/^Bucket no-such-bucket does not exist \(builder\.build-context-store: s3:\/\/no-such-bucket\/p, operation HeadBucket\)\. Create the bucket/);
  });

  it("verify() reports a bucket the credentials cannot reach, naming the permission, without the secret", async () => {
    const err = await storeFor("s3://contexts", "UNKNOWNKEYID").verify().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^Bucket contexts is not accessible \(builder\.build-context-store: s3:\/\/contexts, operation HeadBucket\)/);
    expect(msg).toContain("s3:ListBucket on arn:aws:s3:::contexts");
    expect(msg).not.toContain(S3RVER_CREDENTIALS.secretAccessKey);
  });

  it("an upload the credentials may not make names s3:PutObject on the prefix", async () => {
    const err = await storeFor("s3://contexts/team", "UNKNOWNKEYID").uploadContext(context, "denied01.tgz").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toContain("operation PutObject");
    expect((err as Error).message).toContain("InvalidAccessKeyId");
    expect((err as Error).message).toContain("s3:PutObject (and s3:AbortMultipartUpload) on arn:aws:s3:::contexts/team/*");
    expect(await keys("contexts")).not.toContain("team/denied01.tgz");
  });

  it("an upload to a missing bucket says so", async () => {
    const err = await storeFor("s3://no-such-bucket").uploadContext(context, "r.tgz").catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^Bucket no-such-bucket does not exist .*operation PutObject/);
  });

  it("a missing context directory fails before anything is sent", async () => {
    const missing = join(await tempDir("gone"), "nope");
    const err = await storeFor("s3://contexts").uploadContext(missing, "x.tgz").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toContain(`The build context directory ${missing} cannot be read`);
  });

  it("deleteContext removes the object and refuses URIs of other stores", async () => {
    const store = storeFor("s3://contexts/del");
    const uri = await store.uploadContext(context, "delrun01.tgz");
    expect(await keys("contexts")).toContain("del/delrun01.tgz");
    await store.deleteContext(uri);
    expect(await keys("contexts")).not.toContain("del/delrun01.tgz");
    await expect(store.deleteContext("s3://other-bucket/rootrun1.tgz")).rejects.toThrow(/is not an object of the build context store s3:\/\/contexts\/del/);
    expect(await keys("other-bucket")).toContain("rootrun1.tgz");
  });

  it("an aborted upload rejects with the abort reason and leaves no object", async () => {
    const big = await makeContextTree();
    await writeFile(join(big, "weights.bin"), randomBytes(40 * 1024 * 1024));
    const ac = new AbortController();
    const pending = storeFor("s3://contexts/abort").uploadContext(big, "abort001.tgz", ac.signal);
    setTimeout(() => ac.abort(new Error("job cancelled")), 100);
    await expect(pending).rejects.toThrow("job cancelled");
    expect(await keys("contexts")).not.toContain("abort/abort001.tgz");
  });
});
