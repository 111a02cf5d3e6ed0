// A strict fake of the Google Cloud Storage JSON API (no GCS emulator can be installed here; see
// reference/toolchain-on-these-machines.md §7). It serves the surface @google-cloud/storage 7 uses for
// buckets.get, objects get/list/delete and multipart/resumable uploads, and rejects what GCS rejects:
// unknown buckets and objects (404), denied buckets (403), bad object names, gaps in resumable
// uploads, Content-Range lengths that do not match the body, and X-Goog-Hash mismatches (400), all
// with GCS's JSON error shape. Objects live in memory.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Storage } from "@google-cloud/storage";

// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as GCS reports it in `crc32c`.
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32cUpdate(crc: number, buf: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < buf.length; i++) c = CRC32C_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** base64 of the big-endian CRC32C, GCS's encoding. */
export function crc32cBase64(crc: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc >>> 0);
  return b.toString("base64");
}

interface StoredObject {
  name: string;
  bucket: string;
  data: Buffer;
  contentType: string;
  generation: string;
  crc32c: string;
  md5Hash: string;
  metadata?: Record<string, string>;
  created: string;
}

interface UploadSession {
  bucket: string;
  name: string;
  contentType: string;
  metadata?: Record<string, string>;
  chunks: Buffer[];
  size: number;
  finished: StoredObject | null;
}

export interface FakeGcsRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  contentRange?: string;
}

export interface FakeGcs {
  endpoint: string;
  /** A client for the fake (no auth: a custom endpoint disables it in the SDK). */
  storage(): Storage;
  createBucket(name: string): void;
  /** Every request on this bucket answers 403, as for a principal without permissions. */
  denyBucket(name: string): void;
  object(bucket: string, name: string): Buffer | undefined;
  objectNames(bucket: string): string[];
  readonly requests: FakeGcsRequest[];
  stop(): Promise<void>;
}

class GcsHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

const notFoundBucket = (): GcsHttpError => new GcsHttpError(404, "The specified bucket does not exist.", "notFound");

function validateObjectName(name: string | undefined): string {
  if (name === undefined || name === "") throw new GcsHttpError(400, "Required", "required");
  if (Buffer.byteLength(name, "utf8") > 1024 || /[\r\n]/.test(name) || name === "." || name === ".." || name.startsWith(".well-known/acme-challenge/")) {
    throw new GcsHttpError(400, `The specified object name is not valid: ${JSON.stringify(name)}.`, "invalid");
  }
  return name;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function parseHashHeader(header: string | string[] | undefined): { crc32c?: string; md5?: string } {
  const out: { crc32c?: string; md5?: string } = {};
  for (const part of String(header ?? "").split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const k = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (k === "crc32c") out.crc32c = v;
    if (k === "md5") out.md5 = v;
  }
  return out;
}

export async function startFakeGcs(opts: { buckets?: string[]; project?: string } = {}): Promise<FakeGcs> {
  const buckets = new Map<string, Map<string, StoredObject>>();
  const denied = new Set<string>();
  const sessions = new Map<string, UploadSession>();
  const requests: FakeGcsRequest[] = [];
  const project = opts.project ?? "fake-project";
  let generation = 1_700_000_000_000_000;
  for (const b of opts.buckets ?? []) buckets.set(b, new Map());

  let endpoint = "";

  const bucketFor = (name: string, permission: string): Map<string, StoredObject> => {
    if (denied.has(name)) {
      throw new GcsHttpError(
        403,
        `fake-caller@${project}.iam.gserviceaccount.com does not have ${permission} access to the Google Cloud Storage bucket. Permission '${permission}' denied on resource (or it may not exist).`,
        "forbidden",
      );
    }
    const b = buckets.get(name);
    if (!b) throw notFoundBucket();
    return b;
  };

  const objectJson = (o: StoredObject): Record<string, unknown> => {
    const enc = encodeURIComponent(o.name);
    return {
      kind: "storage#object",
      id: `${o.bucket}/${o.name}/${o.generation}`,
      selfLink: `${endpoint}/storage/v1/b/${o.bucket}/o/${enc}`,
      mediaLink: `${endpoint}/download/storage/v1/b/${o.bucket}/o/${enc}?generation=${o.generation}&alt=media`,
      name: o.name,
      bucket: o.bucket,
      generation: o.generation,
      metageneration: "1",
      contentType: o.contentType,
      storageClass: "STANDARD",
      size: String(o.data.length),
      md5Hash: o.md5Hash,
      crc32c: o.crc32c,
      etag: Buffer.from(o.generation).toString("base64"),
      timeCreated: o.created,
      updated: o.created,
      timeStorageClassUpdated: o.created,
      ...(o.metadata ? { metadata: o.metadata } : {}),
    };
  };

  const store = (
    bucket: string,
    name: string,
    data: Buffer,
    contentType: string,
    metadata: Record<string, string> | undefined,
    hashHeader: string | string[] | undefined,
  ): StoredObject => {
    const crc32c = crc32cBase64(crc32cUpdate(0, data));
    const md5Hash = createHash("md5").update(data).digest("base64");
    const claimed = parseHashHeader(hashHeader);
    if (claimed.crc32c !== undefined && claimed.crc32c !== crc32c) {
      throw new GcsHttpError(400, `Provided CRC32C "${claimed.crc32c}" doesn't match calculated CRC32C "${crc32c}".`, "invalid");
    }
    if (claimed.md5 !== undefined && claimed.md5 !== md5Hash) {
      throw new GcsHttpError(400, `Provided MD5 hash "${claimed.md5}" doesn't match calculated MD5 hash "${md5Hash}".`, "invalid");
    }
    const obj: StoredObject = {
      name,
      bucket,
      data,
      contentType,
      generation: String(++generation),
      crc32c,
      md5Hash,
      created: new Date().toISOString(),
      ...(metadata ? { metadata } : {}),
    };
    bucketFor(bucket, "storage.objects.create").set(name, obj);
    return obj;
  };

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json; charset=UTF-8", "content-length": Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const parseMetadata = (raw: Buffer): { name?: string; contentType?: string; metadata?: Record<string, string> } => {
    if (raw.length === 0) return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString("utf8"));
    } catch {
      throw new GcsHttpError(400, "Parse Error", "parseError");
    }
    if (typeof parsed !== "object" || parsed === null) throw new GcsHttpError(400, "Invalid JSON payload received.", "invalid");
    return parsed as { name?: string; contentType?: string; metadata?: Record<string, string> };
  };

  async function handleResumablePut(req: IncomingMessage, res: ServerResponse, session: UploadSession): Promise<void> {
    const range = String(req.headers["content-range"] ?? "");
    const body = await readBody(req);
    const status = /^bytes \*\/(\*|\d+)$/.exec(range);
    if (status) {
      // Status query: where is the upload?
      if (session.finished) return sendJson(res, 200, objectJson(session.finished));
      if (body.length > 0) throw new GcsHttpError(400, "Content-Range with '*' for the byte range must have an empty body.", "invalid");
      res.writeHead(308, session.size > 0 ? { range: `bytes=0-${session.size - 1}`, "content-length": 0 } : { "content-length": 0 });
      return void res.end();
    }
    const m = /^bytes (\d+)-(\*|\d+)\/(\*|\d+)$/.exec(range);
    if (!m) throw new GcsHttpError(400, `Failed to parse Content-Range header: ${JSON.stringify(range)}.`, "invalid");
    if (session.finished) return sendJson(res, 200, objectJson(session.finished));
    const start = Number(m[1]);
    const end = m[2] === "*" ? start + body.length - 1 : Number(m[2]);
    if (m[2] !== "*" && end - start + 1 !== body.length) {
      throw new GcsHttpError(400, `Content-Range ${range} claims ${end - start + 1} bytes but the request carried ${body.length}.`, "invalid");
    }
    if (start > session.size) {
      throw new GcsHttpError(400, `Invalid request. The upload has ${session.size} bytes; a chunk cannot start at ${start}.`, "invalid");
    }
    // Bytes the server already has (a client retry) are ignored, as GCS does.
    const fresh = body.subarray(session.size - start);
    session.chunks.push(fresh);
    session.size += fresh.length;
    const total = m[3] === "*" ? (m[2] === "*" ? session.size : null) : Number(m[3]);
    if (total !== null && session.size > total) {
      throw new GcsHttpError(400, `The upload has ${session.size} bytes, more than the declared total ${total}.`, "invalid");
    }
    if (total !== null && session.size === total) {
      session.finished = store(session.bucket, session.name, Buffer.concat(session.chunks), session.contentType, session.metadata, req.headers["x-goog-hash"]);
      session.chunks = [];
      return sendJson(res, 200, objectJson(session.finished));
    }
    res.writeHead(308, session.size > 0 ? { range: `bytes=0-${session.size - 1}`, "content-length": 0 } : { "content-length": 0 });
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? "GET";
    requests.push({ method, path: url.pathname, query, ...(req.headers["content-range"] ? { contentRange: String(req.headers["content-range"]) } : {}) });
    const path = url.pathname;

    // Uploads: /upload/storage/v1/b/{bucket}/o
    let m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m) {
      const bucket = decodeURIComponent(m[1]!);
      if (method === "PUT" && query.upload_id) {
        const session = sessions.get(query.upload_id);
        if (!session || session.bucket !== bucket) throw new GcsHttpError(404, "No such upload session.", "notFound");
        return handleResumablePut(req, res, session);
      }
      if (method !== "POST") throw new GcsHttpError(405, `Method ${method} not allowed on uploads.`, "methodNotAllowed");
      bucketFor(bucket, "storage.objects.create");
      const uploadType = query.uploadType;
      if (uploadType === "resumable") {
        const meta = parseMetadata(await readBody(req));
        const name = validateObjectName(query.name ?? meta.name);
        const id = randomUUID();
        sessions.set(id, {
          bucket,
          name,
          contentType: String(req.headers["x-upload-content-type"] ?? meta.contentType ?? "application/octet-stream"),
          ...(meta.metadata ? { metadata: meta.metadata } : {}),
          chunks: [],
          size: 0,
          finished: null,
        });
        const location = `${endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        res.writeHead(200, { location, "content-length": 0 });
        return void res.end();
      }
      if (uploadType === "multipart") {
        const ct = String(req.headers["content-type"] ?? "");
        const bm = /boundary=("?)([^";]+)\1/.exec(ct);
        if (!/^multipart\/related/i.test(ct) || !bm) throw new GcsHttpError(400, "Multipart uploads need Content-Type multipart/related with a boundary.", "invalid");
        const parts = splitMultipart(await readBody(req), bm[2]!);
        if (parts.length !== 2) throw new GcsHttpError(400, `A multipart upload has exactly 2 parts (metadata, media); got ${parts.length}.`, "invalid");
        const meta = parseMetadata(parts[0]!.body);
        const name = validateObjectName(query.name ?? meta.name);
        const obj = store(bucket, name, parts[1]!.body, meta.contentType ?? parts[1]!.contentType ?? "application/octet-stream", meta.metadata, req.headers["x-goog-hash"]);
        return sendJson(res, 200, objectJson(obj));
      }
      if (uploadType === "media") {
        const name = validateObjectName(query.name);
        const obj = store(bucket, name, await readBody(req), String(req.headers["content-type"] ?? "application/octet-stream"), undefined, req.headers["x-goog-hash"]);
        return sendJson(res, 200, objectJson(obj));
      }
      throw new GcsHttpError(400, `Invalid upload type: ${JSON.stringify(uploadType ?? "")}.`, "invalidParameter");
    }

    // Objects: /storage/v1/b/{bucket}/o/{object} (object name URL-encoded)
    m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (m) {
      const bucket = decodeURIComponent(m[1]!);
      const name = decodeURIComponent(m[2]!);
      if (method === "GET") {
        const obj = bucketFor(bucket, "storage.objects.get").get(name);
        if (!obj) throw new GcsHttpError(404, `No such object: ${bucket}/${name}`, "notFound");
        if (query.alt === "media") {
          res.writeHead(200, {
            "content-type": obj.contentType,
            "content-length": obj.data.length,
            "x-goog-hash": `crc32c=${obj.crc32c},md5=${obj.md5Hash}`,
            "x-goog-generation": obj.generation,
            "x-goog-stored-content-length": String(obj.data.length),
          });
          return void res.end(obj.data);
        }
        return sendJson(res, 200, objectJson(obj));
      }
      if (method === "DELETE") {
        const b = bucketFor(bucket, "storage.objects.delete");
        if (!b.delete(name)) throw new GcsHttpError(404, `No such object: ${bucket}/${name}`, "notFound");
        res.writeHead(204);
        return void res.end();
      }
      throw new GcsHttpError(405, `Method ${method} not allowed on objects.`, "methodNotAllowed");
    }

    m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(path);
    if (m && method === "GET") {
      const bucket = decodeURIComponent(m[1]!);
      const prefix = query.prefix ?? "";
      const items = [...bucketFor(bucket, "storage.objects.list").values()]
        .filter((o) => o.name.startsWith(prefix))
        .sort((a, b) => (a.name < b.name ? -1 : 1))
        .map(objectJson);
      return sendJson(res, 200, { kind: "storage#objects", ...(items.length ? { items } : {}) });
    }

    m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path);
    if (m && method === "GET") {
      const bucket = decodeURIComponent(m[1]!);
      bucketFor(bucket, "storage.buckets.get");
      return sendJson(res, 200, {
        kind: "storage#bucket",
        id: bucket,
        selfLink: `${endpoint}/storage/v1/b/${bucket}`,
        projectNumber: "123456789012",
        name: bucket,
        timeCreated: "2026-01-01T00:00:00.000Z",
        updated: "2026-01-01T00:00:00.000Z",
        metageneration: "1",
        location: "US",
        locationType: "multi-region",
        storageClass: "STANDARD",
        etag: "CAE=",
      });
    }

    throw new GcsHttpError(404, `Not Found: ${method} ${path}`, "notFound");
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = err instanceof GcsHttpError ? err : new GcsHttpError(500, String(err), "backendError");
      if (res.headersSent) return void res.destroy();
      // Drain what the client still sends so it reads the response instead of an EPIPE.
      req.resume();
      sendJson(res, e.status, { error: { code: e.status, message: e.message, errors: [{ message: e.message, domain: "global", reason: e.reason }] } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    endpoint,
    storage: () => new Storage({ apiEndpoint: endpoint, projectId: project, retryOptions: { autoRetry: false } }),
    createBucket: (name) => void buckets.set(name, buckets.get(name) ?? new Map()),
    denyBucket: (name) => void denied.add(name),
    object: (bucket, name) => buckets.get(bucket)?.get(name)?.data,
    objectNames: (bucket) => [...(buckets.get(bucket)?.keys() ?? [])].sort(),
    requests,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function splitMultipart(body: Buffer, boundary: string): { contentType?: string; body: Buffer }[] {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { contentType?: string; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw new GcsHttpError(400, "Multipart body has no boundary.", "invalid");
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === "--") break;
    const next = body.indexOf(delim, pos);
    if (next < 0) throw new GcsHttpError(400, "Multipart body is not terminated.", "invalid");
    // part = CRLF headers CRLF CRLF content CRLF
    const part = body.subarray(pos + 2, next - 2);
    const sep = part.indexOf("\r\n\r\n");
    if (sep < 0) throw new GcsHttpError(400, "Multipart part has no header block.", "invalid");
    const headers = part.subarray(0, sep).toString("utf8");
    const ct = /content-type:\s*([^\r\n]+)/i.exec(headers);
    parts.push({ ...(ct ? { contentType: ct[1]!.trim() } : {}), body: part.subarray(sep + 4) });
    pos = next;
  }
  return parts;
}
