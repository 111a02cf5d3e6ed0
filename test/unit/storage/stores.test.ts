// contextStoreFor: URI classification, the environment/store mismatch warning, and the errors users
// get when a cloud's credential chain or region is missing (all fail before any network call).
import { Writable } from "node:stream";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { CredentialUnavailableError } from "@azure/identity";
import { BlobServiceClient } from "@azure/storage-blob";
import { Storage } from "@google-cloud/storage";
import { mockClient } from "aws-sdk-client-mock";
import { pino } from "pino";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, INVALID_STORE_MESSAGE } from "../../../agent/config/index.js";
import { LaunchError } from "../../../agent/errors.js";
import { silentLogger, type Logger } from "../../../agent/log.js";
import { contextStoreFor } from "../../../agent/storage/index.js";
import { makeContextTree, removeTempDirs } from "../../integration/storage/tree.js";

function capturingLogger(): { logger: Logger; lines: () => string[] } {
  const out: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, dest), lines: () => out };
}

async function failure(p: Promise<unknown>): Promise<LaunchError> {
  const err = await p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LaunchError);
  expect((err as LaunchError).stage).toBe("build");
  return err as LaunchError;
}

afterEach(() => {
  vi.unstubAllEnvs();
});
afterAll(removeTempDirs);

describe("contextStoreFor", () => {
  it("picks the store from the URI", () => {
    const kinds = ["s3://b-1/p", "gs://b-2/p", "https://acct1.blob.core.windows.net/cont/p"].map(
      (u) => contextStoreFor(u, { logger: silentLogger, clients: { s3: new S3Client({ region: "us-east-1" }), gcs: new Storage(), azure: new BlobServiceClient("https://acct1.blob.core.windows.net") } }).kind,
    );
    expect(kinds).toEqual(["s3", "gcs", "azure"]);
  });

  it("rejects a URI that is no store with a ConfigError naming the key", () => {
    let err: unknown;
    try {
      contextStoreFor("/mnt/contexts", { logger: silentLogger });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("builder.build-context-store");
    expect((err as Error).message).toContain(INVALID_STORE_MESSAGE);
    expect((err as Error).message).toContain("'/mnt/contexts'");
  });

  it("rejects a query string (a SAS token) without echoing it", () => {
    let err: unknown;
    try {
      contextStoreFor("https://acct1.blob.core.windows.net/cont/p?sv=2024-01-01&sig=c2VjcmV0LXNhcw%3D", { logger: silentLogger });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain("builder.build-context-store: The URI must not contain a query string");
    expect((err as Error).message).toContain("Got 'https://acct1.blob.core.windows.net/cont/p?…'");
    expect((err as Error).message).not.toMatch(/sig=|c2VjcmV0/);
  });

  it("warns when the environment is another cloud than the store", () => {
    const { logger, lines } = capturingLogger();
    contextStoreFor("gs://ctx-bucket", { environment: { type: "aws", region: "us-east-1" }, logger, clients: { gcs: new Storage() } });
    const warn = lines().map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(warn).toHaveLength(1);
    expect(warn[0]!.level).toBe(40);
    expect(warn[0]!.msg).toContain("builder.build-context-store is a gcs location but environment.type is aws");
    const quiet = capturingLogger();
    contextStoreFor("s3://ctx-bucket", { environment: { type: "aws", region: "us-east-1" }, logger: quiet.logger });
    expect(quiet.lines()).toEqual([]);
  });

  it("refuses to delete a URI outside its store and a bare store URI", async () => {
    const store = contextStoreFor("s3://ctx-bucket/pre", { logger: silentLogger, clients: { s3: new S3Client({ region: "us-east-1" }) } });
    await expect(store.deleteContext("s3://ctx-bucket/")).rejects.toThrow(/not an object of the build context store s3:\/\/ctx-bucket\/pre/);
    await expect(store.deleteContext("gs://ctx-bucket/pre/x.tgz")).rejects.toThrow(/expected a URI starting with s3:\/\/ctx-bucket\//);
  });
});

describe("S3 store without region or credentials", () => {
  function isolateAws(): void {
    for (const name of ["AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]) vi.stubEnv(name, undefined);
    vi.stubEnv("AWS_CONFIG_FILE", "/nonexistent/aws-config");
    vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials");
    vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
  }

  it("no region anywhere: tells the user to set environment.region", async () => {
    isolateAws();
    const err = await failure(contextStoreFor("s3://ctx-bucket", { environment: null, logger: silentLogger }).verify());
    expect(err.message).toBe(
      "No AWS region configured (builder.build-context-store: s3://ctx-bucket, operation HeadBucket): Region is missing. Set environment.region in the launch config (or AWS_REGION for the agent).",
    );
  });

  it("no credentials from the chain: names the chain's sources", async () => {
    const noCreds = Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
    const s3 = new S3Client({ region: "us-east-1", endpoint: "http://127.0.0.1:9", credentials: () => Promise.reject(noCreds) });
    const store = contextStoreFor("s3://ctx-bucket/p", { logger: silentLogger, clients: { s3 } });
    const err = await failure(store.verify());
    expect(err.message).toMatch(/^No AWS credentials found \(builder\.build-context-store: s3:\/\/ctx-bucket\/p, operation HeadBucket\): Could not load credentials from any providers\. Configure credentials/);
    const upload = await failure(store.uploadContext(await makeContextTree(), "run00001.tgz"));
    expect(upload.message).toMatch(/^No AWS credentials found .*operation PutObject/);
  });

  it("logs the upload (store, key, bytes) and never the credentials", async () => {
    const s3 = new S3Client({ region: "us-east-1", credentials: { accessKeyId: "AKIALOGTEST", secretAccessKey: "log-secret-value" } });
    const mock = mockClient(s3);
    mock.on(PutObjectCommand).resolves({ ETag: '"x"' });
    const { logger, lines } = capturingLogger();
    const uri = await contextStoreFor("s3://ctx-bucket/p", { environment: { type: "aws", region: "us-east-1" }, logger, clients: { s3 } }).uploadContext(await makeContextTree(), "run00002.tgz");
    expect(uri).toBe("s3://ctx-bucket/p/run00002.tgz");
    const put = mock.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect([put.Bucket, put.Key, put.ContentType]).toEqual(["ctx-bucket", "p/run00002.tgz", "application/gzip"]);
    const logged = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged.map((l) => l.msg)).toEqual(["uploading build context to S3", "build context uploaded"]);
    expect(logged[1]).toMatchObject({ uri: "s3://ctx-bucket/p/run00002.tgz" });
    expect(logged[1]!.bytes as number).toBeGreaterThan(3 * 1024 * 1024);
    expect(lines().join("\n")).not.toMatch(/AKIALOGTEST|log-secret-value/);
  });
});

describe("GCS store without credentials", () => {
  it("a missing GOOGLE_APPLICATION_CREDENTIALS file is reported as a credentials problem", async () => {
    vi.stubEnv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/sa.json");
    vi.stubEnv("METADATA_SERVER_DETECTION", "none");
    const gcs = new Storage({ apiEndpoint: "http://127.0.0.1:9", useAuthWithCustomEndpoint: true, retryOptions: { autoRetry: false } });
    const err = await failure(contextStoreFor("gs://ctx-bucket/p", { logger: silentLogger, clients: { gcs } }).verify());
    expect(err.message).toMatch(/^No usable Google Cloud credentials \(builder\.build-context-store: gs:\/\/ctx-bucket\/p, operation buckets\.get\): The file at \/nonexistent\/sa\.json does not exist/);
    expect(err.message).toContain("Workload Identity");
  });
});

describe("Azure store without credentials", () => {
  it("an identity DefaultAzureCredential cannot find is reported with the fix, on verify and upload", async () => {
    const credential = { getToken: () => Promise.reject(new CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token from the included credentials.")) };
    const azure = new BlobServiceClient("https://127.0.0.1:9/acct1", credential, { retryOptions: { maxTries: 1 } });
    const store = contextStoreFor("https://acct1.blob.core.windows.net/cont/p", { logger: silentLogger, clients: { azure } });
    const err = await failure(store.verify());
    expect(err.message).toMatch(/^No usable Azure credentials \(builder\.build-context-store: https:\/\/acct1\.blob\.core\.windows\.net\/cont\/p, operation GetContainerProperties\): DefaultAzureCredential failed/);
    expect(err.message).toContain("AZURE_FEDERATED_TOKEN_FILE");
    const upload = await failure(store.uploadContext(await makeContextTree(), "run00003.tgz"));
    expect(upload.message).toMatch(/^No usable Azure credentials .*operation PutBlock/);
  });
});
