// Build contexts in Google Cloud Storage: a resumable upload fed by the tar stream, on Application
// Default Credentials (Workload Identity, GOOGLE_APPLICATION_CREDENTIALS, gcloud ADC).
import { pipeline } from "node:stream/promises";
import type { Storage } from "@google-cloud/storage";
import type { GcsStorageUri } from "../config/uris.js";
import { storageObjectKey } from "../config/uris.js";
import { LaunchError } from "../errors.js";
import { lazy } from "../lazy.js";
import type { Logger } from "../log.js";
import { abortError, firstLine, keyInStore, storeError } from "./errors.js";
import { assertContextDir, contextTarball } from "./tarball.js";
import type { ContextStore } from "./types.js";

export interface GcsStoreOptions {
  logger: Logger;
  client?: Storage;
}

// ApiError (JSON API calls) carries `code`; GaxiosError (resumable session start) carries
// `status` and the JSON error body in `response.data`.
interface GcsErrorLike {
  code?: number | string;
  status?: number;
  message?: string;
  response?: { status?: number; data?: unknown };
}

function gcsStatus(e: GcsErrorLike): number {
  for (const v of [e.code, e.status, e.response?.status]) {
    const n = typeof v === "number" ? v : Number(v);
    if (Number.isInteger(n) && n >= 100 && n < 600) return n;
  }
  return NaN;
}

function gcsMessage(e: GcsErrorLike): string {
  const data = e.response?.data as { error?: { message?: unknown } } | undefined;
  const fromBody = data && typeof data === "object" ? data.error?.message : undefined;
  return firstLine(typeof fromBody === "string" ? fromBody : e.message);
}

const NO_CREDENTIALS =
  "Give the agent Application Default Credentials: Workload Identity on GKE, GOOGLE_APPLICATION_CREDENTIALS pointing at a service-account key file, or `gcloud auth application-default login`.";

export class GcsContextStore implements ContextStore {
  readonly kind = "gcs" as const;
  private readonly client: () => Promise<Storage>;
  private readonly logger: Logger;
  private readonly base: string;

  constructor(
    readonly store: GcsStorageUri,
    opts: GcsStoreOptions,
  ) {
    this.logger = opts.logger;
    this.base = `gs://${store.bucket}`;
    this.client = lazy(async () => opts.client ?? new (await import("@google-cloud/storage")).Storage());
  }

  private fail(operation: string, err: unknown, permission: string): LaunchError {
    if (err instanceof LaunchError) return err;
    const e = (err ?? {}) as GcsErrorLike;
    const status = gcsStatus(e);
    const message = gcsMessage(e);
    const b = this.store.bucket;
    // google-auth-library failures: no ADC, a bad GOOGLE_APPLICATION_CREDENTIALS file, a token that cannot be refreshed.
    if (status === 401 || /credentials|invalid_grant|Could not refresh access token|The file at .* does not exist/i.test(message)) {
      return storeError(this.store, operation, "No usable Google Cloud credentials", message, NO_CREDENTIALS, err);
    }
    if (status === 404 && (operation === "buckets.get" || /bucket/i.test(message))) {
      return storeError(this.store, operation, `Bucket ${b} does not exist`, null, "Create the bucket or correct builder.build-context-store.", err);
    }
    if (status === 403) {
      return storeError(
        this.store,
        operation,
        `Bucket ${b} is not accessible`,
        message,
        `The agent's Google service account needs ${permission} on gs://${b} (in all the agent uses storage.buckets.get, storage.objects.create, storage.objects.get and storage.objects.delete on the bucket; roles/storage.objectAdmin alone lacks storage.buckets.get).`,
        err,
      );
    }
    return storeError(this.store, operation, "GCS request failed", `${Number.isFinite(status) ? `HTTP ${status}: ` : ""}${message}`, "Check the bucket name and the agent's network access to storage.googleapis.com.", err);
  }

  async verify(): Promise<void> {
    try {
      await (await this.client()).bucket(this.store.bucket).getMetadata();
    } catch (err) {
      throw this.fail("buckets.get", err, "storage.buckets.get");
    }
  }

  async uploadContext(dir: string, objectName: string, signal?: AbortSignal): Promise<string> {
    await assertContextDir(dir);
    if (signal?.aborted) throw abortError(signal);
    const key = storageObjectKey(this.store, objectName);
    // Resumable without chunkSize: one streamed request; the SDK keeps only the last chunk for retries.
    const client = await this.client();
    const tarball = contextTarball(dir);
    const sink = client.bucket(this.store.bucket).file(key).createWriteStream({
      resumable: true,
      contentType: "application/gzip",
      validation: "crc32c",
    });
    const started = Date.now();
    this.logger.info({ store: this.store.uri, key }, "uploading build context to GCS");
    try {
      await (signal ? pipeline(tarball.stream, sink, { signal }) : pipeline(tarball.stream, sink));
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      throw this.fail("objects.insert", err, "storage.objects.create");
    }
    const uri = `${this.base}/${key}`;
    this.logger.info({ uri, bytes: tarball.bytes(), ms: Date.now() - started }, "build context uploaded");
    return uri;
  }

  async deleteContext(uri: string): Promise<void> {
    const key = keyInStore(this.store, this.base, uri);
    try {
      // Already gone counts as deleted: cleanup may run twice.
      await (await this.client()).bucket(this.store.bucket).file(key).delete({ ignoreNotFound: true });
    } catch (err) {
      throw this.fail("objects.delete", err, "storage.objects.delete");
    }
    this.logger.debug({ uri }, "build context deleted");
  }
}
