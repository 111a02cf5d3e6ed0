// Build contexts in Amazon S3 (or an S3-compatible store): streamed multipart upload with
// @aws-sdk/lib-storage on the default AWS credential chain.
import type { S3Client } from "@aws-sdk/client-s3";
import type { S3StorageUri } from "../config/uris.js";
import { storageObjectKey } from "../config/uris.js";
import { LaunchError } from "../errors.js";
import { lazy } from "../lazy.js";
import type { Logger } from "../log.js";
import { abortError, firstLine, keyInStore, storeError } from "./errors.js";
import { assertContextDir, contextTarball } from "./tarball.js";
import type { ContextStore } from "./types.js";

/** Part size and parallel parts: at most PART_SIZE × QUEUE_SIZE bytes are buffered. */
export const S3_PART_SIZE = 8 * 1024 * 1024;
export const S3_QUEUE_SIZE = 4;

export type ChecksumMode = "WHEN_SUPPORTED" | "WHEN_REQUIRED";

export interface S3StoreOptions {
  logger: Logger;
  /** `environment.region`; when null the SDK's own resolution applies (AWS_REGION, profile). */
  region?: string | null;
  client?: S3Client;
  /** An S3-compatible endpoint (CoreWeave, MinIO, Ceph…); default AWS's, or AWS_ENDPOINT_URL_S3. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /**
   * Flexible checksums. With the SDK default (WHEN_SUPPORTED) every request carries x-amz-checksum
   * headers (and streamed bodies go `aws-chunked`), which older S3-compatible servers reject or
   * store verbatim. Our uploads send buffered parts, so AWS itself is fine either way. Default:
   * WHEN_REQUIRED with a custom `endpoint`, else the SDK's own default (which also reads
   * AWS_REQUEST_CHECKSUM_CALCULATION / AWS_RESPONSE_CHECKSUM_VALIDATION).
   */
  checksums?: ChecksumMode;
}

interface AwsErrorLike {
  name?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

const NO_CREDENTIALS =
  "Configure credentials for the agent's default AWS chain: IRSA / web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), an ECS or EC2 instance role, AWS_PROFILE with ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.";

export class S3ContextStore implements ContextStore {
  readonly kind = "s3" as const;
  private readonly client: () => Promise<S3Client>;
  private readonly logger: Logger;
  private readonly base: string;

  constructor(
    readonly store: S3StorageUri,
    opts: S3StoreOptions,
  ) {
    this.logger = opts.logger;
    this.base = `s3://${store.bucket}`;
    const checksums = opts.checksums ?? (opts.endpoint ? "WHEN_REQUIRED" : undefined);
    this.client = lazy(async () =>
      opts.client ??
      new (await import("@aws-sdk/client-s3")).S3Client({
        ...(opts.region ? { region: opts.region } : {}),
        ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
        ...(opts.forcePathStyle ? { forcePathStyle: true } : {}),
        // A bucket in another region than environment.region still works (one extra round trip).
        followRegionRedirects: true,
        ...(checksums ? { requestChecksumCalculation: checksums, responseChecksumValidation: checksums } : {}),
      }),
    );
  }

  private keyArn(key = "*"): string {
    return `arn:aws:s3:::${this.store.bucket}/${key}`;
  }

  /** Maps an SDK error to what the user must do; `permission` is the IAM action the call needs. */
  private fail(operation: string, err: unknown, permission: string, resource: string): LaunchError {
    if (err instanceof LaunchError) return err;
    const e = (err ?? {}) as AwsErrorLike;
    const status = e.$metadata?.httpStatusCode;
    const code = e.name ?? e.Code ?? "Error";
    const message = firstLine(e.message);
    const b = this.store.bucket;
    if (code === "CredentialsProviderError" || /Could not load credentials/i.test(message)) {
      return storeError(this.store, operation, "No AWS credentials found", message, NO_CREDENTIALS, err);
    }
    if (/Region is missing|Region not accepted/i.test(message)) {
      return storeError(this.store, operation, "No AWS region configured", message, "Set environment.region in the launch config (or AWS_REGION for the agent).", err);
    }
    if (status === 404 || code === "NotFound" || code === "NoSuchBucket") {
      return storeError(this.store, operation, `Bucket ${b} does not exist`, null, `Create the bucket or correct builder.build-context-store.`, err);
    }
    if (status === 403 || code === "AccessDenied" || code === "Forbidden") {
      // HEAD responses carry no error body: the SDK then only knows the status.
      const detail = message === "" || message === "UnknownError" || code === "Forbidden" ? "HTTP 403 (access denied)" : `${code}: ${message}`;
      return storeError(
        this.store,
        operation,
        `Bucket ${b} is not accessible`,
        detail,
        `The agent's AWS identity needs ${permission} on ${resource}; check its IAM policy, the bucket policy, and that the credentials are valid (InvalidAccessKeyId / SignatureDoesNotMatch / ExpiredToken also answer 403).`,
        err,
      );
    }
    if (status === 301 || code === "PermanentRedirect") {
      return storeError(this.store, operation, `Bucket ${b} is in another region`, message, "Set environment.region to the bucket's region.", err);
    }
    return storeError(this.store, operation, `S3 request failed`, `${code}${status ? ` (HTTP ${status})` : ""}: ${message}`, "Check the bucket name, region and the agent's network access to S3.", err);
  }

  async verify(): Promise<void> {
    try {
      const { HeadBucketCommand } = await import("@aws-sdk/client-s3");
      await (await this.client()).send(new HeadBucketCommand({ Bucket: this.store.bucket }));
    } catch (err) {
      throw this.fail("HeadBucket", err, "s3:ListBucket", `arn:aws:s3:::${this.store.bucket}`);
    }
  }

  async uploadContext(dir: string, objectName: string, signal?: AbortSignal): Promise<string> {
    await assertContextDir(dir);
    if (signal?.aborted) throw abortError(signal);
    const key = storageObjectKey(this.store, objectName);
    const [{ Upload }, client] = await Promise.all([import("@aws-sdk/lib-storage"), this.client()]);
    const tarball = contextTarball(dir);
    const body = tarball.stream;
    const upload = new Upload({
      client,
      params: { Bucket: this.store.bucket, Key: key, Body: body, ContentType: "application/gzip" },
      partSize: S3_PART_SIZE,
      queueSize: S3_QUEUE_SIZE,
      // Abort the multipart upload on failure so no orphaned parts are billed.
      leavePartsOnError: false,
    });
    const onAbort = (): void => void upload.abort().catch(() => undefined);
    signal?.addEventListener("abort", onAbort, { once: true });
    const started = Date.now();
    this.logger.info({ store: this.store.uri, key }, "uploading build context to S3");
    try {
      await upload.done();
    } catch (err) {
      body.destroy();
      if (signal?.aborted) throw abortError(signal);
      throw this.fail("PutObject", err, "s3:PutObject (and s3:AbortMultipartUpload)", this.keyArn(this.store.prefix ? `${this.store.prefix}/*` : "*"));
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    const uri = `${this.base}/${key}`;
    this.logger.info({ uri, bytes: tarball.bytes(), ms: Date.now() - started }, "build context uploaded");
    return uri;
  }

  async deleteContext(uri: string): Promise<void> {
    const key = keyInStore(this.store, this.base, uri);
    try {
      const { DeleteObjectCommand } = await import("@aws-sdk/client-s3");
      await (await this.client()).send(new DeleteObjectCommand({ Bucket: this.store.bucket, Key: key }));
    } catch (err) {
      throw this.fail("DeleteObject", err, "s3:DeleteObject", this.keyArn(key));
    }
    this.logger.debug({ uri }, "build context deleted");
  }
}
