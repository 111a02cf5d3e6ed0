// Picks the build-context store for `builder.build-context-store` (reference §1.5.1, §6.3).
import type { S3Client } from "@aws-sdk/client-s3";
import type { Storage } from "@google-cloud/storage";
import type { BlobServiceClient } from "@azure/storage-blob";
import { ConfigError } from "../config/index.js";
import { classifyStorageUri, type StorageUri } from "../config/uris.js";
import { STORE_KEY } from "./errors.js";
import type { Logger } from "../log.js";
import { AzureContextStore } from "./azure.js";
import { GcsContextStore } from "./gcs.js";
import { S3ContextStore, type ChecksumMode } from "./s3.js";
import type { ContextStore } from "./types.js";

export type { ContextStore, ContextStoreKind } from "./types.js";
export { S3ContextStore, S3_PART_SIZE, S3_QUEUE_SIZE, type ChecksumMode } from "./s3.js";
export { GcsContextStore } from "./gcs.js";
export { AzureContextStore, AZURE_BLOCK_SIZE, AZURE_CONCURRENCY } from "./azure.js";
export { contextTarball, assertContextDir } from "./tarball.js";
export { STORE_KEY } from "./errors.js";

export interface ContextStoreOptions {
  /** The config's `environment` block: its region is the S3 client's region. */
  environment?: { type?: string; region?: string | null } | null;
  logger: Logger;
  /** Pre-built clients (tests, or a caller that already has one); default: each cloud's default chain. */
  clients?: { s3?: S3Client; gcs?: Storage; azure?: BlobServiceClient };
  /**
   * S3-compatible stores, for the default S3 client. Unset fields come from S3_ENDPOINT and
   * S3_FORCE_PATH_STYLE, the variables kaniko itself reads for its S3 context, so one setting
   * serves both the agent's upload and kaniko's download.
   */
  s3?: { endpoint?: string; forcePathStyle?: boolean; checksums?: ChecksumMode };
  /** Environment variables for the S3 defaults above (tests); default process.env. */
  env?: NodeJS.ProcessEnv;
}

/**
 * A query string would become part of every object name, and on Azure it is usually a SAS token: a
 * secret that must not reach logs or error messages. Only the part before it is echoed.
 */
function rejectQueryString(uri: string): void {
  const q = uri.search(/[?#]/);
  if (q < 0) return;
  const message = `The URI must not contain a query string or fragment (a SAS token?); the agent authenticates with its cloud identity, not with tokens in the URI. Remove everything from '${uri[q]}' on. Got '${uri.slice(0, q)}${uri[q]}…'.`;
  throw new ConfigError(`${STORE_KEY}: ${message}`, [{ path: STORE_KEY, message }]);
}

const CLOUD_OF: Record<StorageUri["kind"], string> = { s3: "aws", gcs: "gcp", azure: "azure" };

/**
 * The ContextStore for a `builder.build-context-store` URI. Throws ConfigError naming the key when
 * the URI is not an S3, GCS or Azure Blob location. Credentials come from the store's own cloud
 * chain whatever `environment.type` says (the official agent instead fails when they differ); a
 * mismatch is logged as a warning because it usually means a copy-pasted config.
 */
export function contextStoreFor(uri: string, opts: ContextStoreOptions): ContextStore {
  rejectQueryString(uri);
  const store: StorageUri = classifyStorageUri(uri);
  const envType = opts.environment?.type;
  if (envType && envType !== CLOUD_OF[store.kind]) {
    opts.logger.warn(
      { store: store.uri, environment: envType },
      `builder.build-context-store is a ${store.kind} location but environment.type is ${envType}; using the ${CLOUD_OF[store.kind]} default credential chain for the store`,
    );
  }
  switch (store.kind) {
    case "s3": {
      const env = opts.env ?? process.env;
      const endpoint = opts.s3?.endpoint ?? (env.S3_ENDPOINT || undefined);
      const forcePathStyle = opts.s3?.forcePathStyle ?? /^(1|true|yes)$/i.test(env.S3_FORCE_PATH_STYLE ?? "");
      return new S3ContextStore(store, {
        logger: opts.logger,
        region: opts.environment?.region ?? null,
        ...(opts.clients?.s3 ? { client: opts.clients.s3 } : {}),
        ...(endpoint ? { endpoint } : {}),
        ...(forcePathStyle ? { forcePathStyle } : {}),
        ...(opts.s3?.checksums ? { checksums: opts.s3.checksums } : {}),
      });
    }
    case "gcs":
      return new GcsContextStore(store, { logger: opts.logger, ...(opts.clients?.gcs ? { client: opts.clients.gcs } : {}) });
    case "azure":
      return new AzureContextStore(store, { logger: opts.logger, ...(opts.clients?.azure ? { client: opts.clients.azure } : {}) });
  }
}
