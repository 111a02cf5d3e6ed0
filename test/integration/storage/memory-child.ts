// Runs one uploadContext in a fresh process and reports its memory, so the measurement holds only
// the uploader (the servers live in the test process). Input: JSON in argv[2]; output: JSON line.
import { S3Client } from "@aws-sdk/client-s3";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { Storage } from "@google-cloud/storage";
import { silentLogger } from "../../../agent/log.js";
import { contextStoreFor } from "../../../agent/storage/index.js";

interface Args {
  kind: "s3" | "gcs" | "azure";
  endpoint: string;
  uri: string;
  warmupDir: string;
  dir: string;
}

const args = JSON.parse(process.argv[2]!) as Args;

function clients(): Parameters<typeof contextStoreFor>[1]["clients"] {
  switch (args.kind) {
    case "s3":
      return {
        s3: new S3Client({
          endpoint: args.endpoint,
          region: "us-east-1",
          forcePathStyle: true,
          credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        }),
      };
    case "gcs":
      return { gcs: new Storage({ apiEndpoint: args.endpoint, projectId: "fake-project" }) };
    case "azure": {
      const [account, key] = [process.env.AZURITE_ACCOUNT!, process.env.AZURITE_KEY!];
      return { azure: new BlobServiceClient(`${args.endpoint}/${account}`, new StorageSharedKeyCredential(account, key)) };
    }
  }
}

const store = contextStoreFor(args.uri, { logger: silentLogger, clients: clients() });
// A small upload first, so lazily loaded modules and connection pools are part of the baseline.
await store.uploadContext(args.warmupDir, "warmup.tgz");
globalThis.gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);
const started = Date.now();
const uri = await store.uploadContext(args.dir, "big.tgz");
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
process.stdout.write(`${JSON.stringify({ uri, baseline, peak, ms: Date.now() - started })}\n`);
