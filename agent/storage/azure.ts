// Build contexts in Azure Blob Storage: a streamed block-blob upload on DefaultAzureCredential
// (workload identity, managed identity, AZURE_* environment, az login).
import type { BlobServiceClient } from "@azure/storage-blob";
import type { AzureStorageUri } from "../config/uris.js";
import { storageObjectKey } from "../config/uris.js";
import { LaunchError } from "../errors.js";
import { lazy } from "../lazy.js";
import type { Logger } from "../log.js";
import { abortError, firstLine, keyInStore, storeError } from "./errors.js";
import { assertContextDir, contextTarball } from "./tarball.js";
import type { ContextStore } from "./types.js";

/** Block size and parallel blocks: at most BLOCK_SIZE × CONCURRENCY bytes are buffered. */
export const AZURE_BLOCK_SIZE = 8 * 1024 * 1024;
export const AZURE_CONCURRENCY = 4;

export interface AzureStoreOptions {
  logger: Logger;
  /** Injected for tests (azurite); default: the account URL with DefaultAzureCredential. */
  client?: BlobServiceClient;
}

interface AzureErrorLike {
  name?: string;
  code?: string;
  statusCode?: number;
  message?: string;
}

const NO_CREDENTIALS =
  "Give the agent an identity DefaultAzureCredential can use: AKS workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), a managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or `az login`.";

export class AzureContextStore implements ContextStore {
  readonly kind = "azure" as const;
  private readonly client: () => Promise<BlobServiceClient>;
  private readonly logger: Logger;
  private readonly base: string;

  constructor(
    readonly store: AzureStorageUri,
    opts: AzureStoreOptions,
  ) {
    this.logger = opts.logger;
    const accountUrl = `https://${store.account}.blob.core.windows.net`;
    this.base = `${accountUrl}/${store.container}`;
    this.client = lazy(async () => {
      if (opts.client) return opts.client;
      const [{ BlobServiceClient }, { DefaultAzureCredential }] = await Promise.all([import("@azure/storage-blob"), import("@azure/identity")]);
      return new BlobServiceClient(accountUrl, new DefaultAzureCredential());
    });
  }

  private async container() {
    return (await this.client()).getContainerClient(this.store.container);
  }

  private fail(operation: string, err: unknown): LaunchError {
    if (err instanceof LaunchError) return err;
    const e = (err ?? {}) as AzureErrorLike;
    const message = firstLine(e.message);
    const c = this.store.container;
    const a = this.store.account;
    if (e.name === "CredentialUnavailableError" || e.name === "AggregateAuthenticationError" || e.name === "AuthenticationError") {
      return storeError(this.store, operation, "No usable Azure credentials", message, NO_CREDENTIALS, err);
    }
    if (e.code === "ContainerNotFound" || (e.statusCode === 404 && operation !== "DeleteBlob")) {
      return storeError(this.store, operation, `Container ${c} does not exist in storage account ${a}`, null, "Create the container or correct builder.build-context-store.", err);
    }
    if (e.statusCode === 403 || e.statusCode === 401) {
      return storeError(
        this.store,
        operation,
        `Container ${c} in storage account ${a} is not accessible`,
        `${e.code ?? `HTTP ${e.statusCode}`}: ${message}`,
        `The agent's Azure identity needs the "Storage Blob Data Contributor" role on the container (or the account), and the storage account's network rules must admit the agent.`,
        err,
      );
    }
    return storeError(
      this.store,
      operation,
      "Azure Blob request failed",
      `${e.code ?? e.name ?? "Error"}${e.statusCode ? ` (HTTP ${e.statusCode})` : ""}: ${message}`,
      `Check the storage account name and the agent's network access to ${a}.blob.core.windows.net.`,
      err,
    );
  }

  async verify(): Promise<void> {
    let exists: boolean;
    try {
      exists = await (await this.container()).exists();
    } catch (err) {
      throw this.fail("GetContainerProperties", err);
    }
    if (!exists) {
      throw storeError(
        this.store,
        "GetContainerProperties",
        `Container ${this.store.container} does not exist in storage account ${this.store.account}`,
        null,
        "Create the container or correct builder.build-context-store.",
      );
    }
  }

  async uploadContext(dir: string, objectName: string, signal?: AbortSignal): Promise<string> {
    await assertContextDir(dir);
    if (signal?.aborted) throw abortError(signal);
    const key = storageObjectKey(this.store, objectName);
    const tarball = contextTarball(dir);
    const started = Date.now();
    this.logger.info({ store: this.store.uri, key }, "uploading build context to Azure Blob Storage");
    try {
      await (await this.container())
        .getBlockBlobClient(key)
        .uploadStream(tarball.stream, AZURE_BLOCK_SIZE, AZURE_CONCURRENCY, {
          blobHTTPHeaders: { blobContentType: "application/gzip" },
          ...(signal ? { abortSignal: signal } : {}),
        });
    } catch (err) {
      tarball.stream.destroy();
      if (signal?.aborted) throw abortError(signal);
      throw this.fail("PutBlock", err);
    }
    const uri = `${this.base}/${key}`;
    this.logger.info({ uri, bytes: tarball.bytes(), ms: Date.now() - started }, "build context uploaded");
    return uri;
  }

  async deleteContext(uri: string): Promise<void> {
    const key = keyInStore(this.store, this.base, uri);
    try {
      // Already gone counts as deleted: cleanup may run twice.
      await (await this.container()).getBlockBlobClient(key).deleteIfExists();
    } catch (err) {
      throw this.fail("DeleteBlob", err);
    }
    this.logger.debug({ uri }, "build context deleted");
  }
}
