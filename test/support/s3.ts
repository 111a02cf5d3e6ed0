// s3rver (a real S3 API server from npm), in-process on 127.0.0.1 with a free port and a temp directory.
import { createRequire } from "node:module";
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";

// s3rver ships no type declarations; this is the part of its API the tests use.
interface S3rverServer {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
  configureBuckets: { name: string }[];
}) => S3rverServer;
const S3rver = createRequire(import.meta.url)("s3rver") as S3rverCtor;

/** s3rver's built-in account (fixed, not a secret). */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

export interface RunningS3 {
  endpoint: string;
  directory: string;
  /**
   * A client for the server. s3rver does not check SigV4 signatures but does reject unknown access
   * key ids (403 InvalidAccessKeyId), so `accessKeyId` is how tests get refused.
   */
  client(accessKeyId?: string): S3Client;
  stop(): Promise<void>;
}

export async function startS3(buckets: string[]): Promise<RunningS3> {
  const directory = await mkdtemp(join(tmpdir(), "s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    directory,
    silent: true,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    directory,
    client: (accessKeyId = S3RVER_CREDENTIALS.accessKeyId) => s3ClientFor(endpoint, accessKeyId),
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

export function s3ClientFor(endpoint: string, accessKeyId = S3RVER_CREDENTIALS.accessKeyId): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey: S3RVER_CREDENTIALS.secretAccessKey },
    // s3rver stores aws-chunked framing verbatim; plain bodies keep streamed uploads intact.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
  });
}
