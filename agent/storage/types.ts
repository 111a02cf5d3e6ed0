/**
 * Where kaniko reads build contexts from (`builder.build-context-store`): an S3 bucket, a GCS
 * bucket or an Azure Blob container, with an optional prefix.
 */
export type ContextStoreKind = "s3" | "gcs" | "azure" | "pvc";

export interface ContextStore {
  readonly kind: ContextStoreKind;
  /**
   * Uploads a gzip-compressed tar of `dir` (its root as `.`) as `<store>/<objectName>`, streaming
   * (constant memory whatever the size). Returns the URI kaniko's `--context` takes:
   * `s3://bucket/key`, `gs://bucket/key` or `https://<account>.blob.core.windows.net/<container>/<key>`.
   */
  uploadContext(dir: string, objectName: string, signal?: AbortSignal): Promise<string>;
  /** Removes an uploaded context (the official agent never does; we do once the build ends). */
  deleteContext(uri: string): Promise<void>;
  /** Checks the bucket/container exists and is reachable with the agent's credentials; throws a LaunchError naming it. */
  verify(): Promise<void>;
}
