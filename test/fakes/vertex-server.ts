// A strict fake of the Vertex AI REST endpoints the JobServiceClient's REST transport calls for custom
// jobs (no Vertex emulator exists): create, get and cancel. It checks the bearer token (401), checks
// every request body field by field against the API's own descriptor (unknown fields and wrong kinds
// are 400 INVALID_ARGUMENT with Google's "Unknown name ... Cannot find field." wording, REQUIRED fields
// are enforced, output-only fields ignored), validates labels as Vertex does, and returns Google's
// error shape ({error: {code, message, status, details}}). Jobs move through a scripted list of states,
// one step per read; a cancel moves a running job to CANCELLING, then CANCELLED.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { aiplatformDescriptor, camelToSnake, node, resolveType, type ProtoNode } from "../../agent/runners/vertex-proto.js";

const V1 = ["google", "cloud", "aiplatform", "v1"];
const TERMINAL = new Set(["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED"]);

export interface JobScript {
  /** States the job shows on successive reads; the last one stays. Default PENDING → RUNNING → SUCCEEDED. */
  states: string[];
  /** google.rpc.Status set once the job shows JOB_STATE_FAILED. */
  error?: { code: number; message: string };
}

export interface FakeJob {
  name: string;
  /** The body as received (JSON as the client sent it). */
  body: Record<string, unknown>;
  script: JobScript;
  step: number;
  state: string;
  cancelRequested: boolean;
}

export interface FakeVertex {
  /** `apiEndpoint`/`port`/`protocol` for the runner's `endpoint` option. */
  endpoint: { apiEndpoint: string; port: number; protocol: "http" };
  token: string;
  jobs: FakeJob[];
  /** Every request, `METHOD path`. */
  requests: string[];
  /** The script for the next created job(s), in order; afterwards the default. */
  script(...scripts: JobScript[]): void;
  stop(): Promise<void>;
}

const STATUS: Record<number, string> = { 400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "FAILED_PRECONDITION" };

function send(res: ServerResponse, code: number, body: unknown): void {
  res.statusCode = code;
  res.setHeader("content-type", "application/json; charset=UTF-8");
  res.end(JSON.stringify(body));
}

function googleError(res: ServerResponse, http: number, message: string, status = STATUS[http] ?? "UNKNOWN", details: unknown[] = []): void {
  send(res, http, { error: { code: http, message, status, ...(details.length ? { details } : {}) } });
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
  }
}

/** Checks a JSON value against a message type the way Google's JSON parser does (lowerCamel or proto names). */
function validate(value: unknown, typePath: readonly string[], where: string, root: ProtoNode): void {
  const typeName = typePath.join(".");
  if (typeName === "google.protobuf.Duration") {
    if (typeof value !== "string" || !/^-?\d+(\.\d{1,9})?s$/.test(value)) throw new BadRequest(`Invalid value at '${where}' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(value)}`, where);
    return;
  }
  if (typeName.startsWith("google.protobuf.")) return;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new BadRequest(`Invalid value at '${where}' (${typeName}), ${JSON.stringify(value)}`, where);
  const type = node(root, typePath);
  const fields = type.fields ?? {};
  const seen = new Set<string>();
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const name = fields[key] ? key : Object.keys(fields).find((f) => camelToSnake(f) === key);
    if (!name) throw new BadRequest(`Invalid JSON payload received. Unknown name "${key}" at '${where}': Cannot find field.`, where);
    seen.add(name);
    const field = fields[name]!;
    if ((field.options?.["(google.api.field_behavior)"] as string | undefined) === "OUTPUT_ONLY") continue;
    const child = `${where}.${camelToSnake(name)}`;
    const one = (x: unknown, at: string) => {
      if (["string", "bytes"].includes(field.type)) {
        if (typeof x !== "string") throw new BadRequest(`Invalid value at '${at}' (TYPE_STRING), ${JSON.stringify(x)}`, at);
      } else if (field.type === "bool") {
        if (typeof x !== "boolean") throw new BadRequest(`Invalid value at '${at}' (TYPE_BOOL), ${JSON.stringify(x)}`, at);
      } else if (/int|fixed|double|float/.test(field.type)) {
        if (!(typeof x === "number" || (typeof x === "string" && /^-?\d+(\.\d+)?$/.test(x)))) throw new BadRequest(`Invalid value at '${at}' (${field.type.toUpperCase()}), ${JSON.stringify(x)}`, at);
      } else {
        const path = resolveType(root, typePath, field.type);
        const target = node(root, path);
        if (target.values) {
          const ok = typeof x === "number" ? Object.values(target.values).includes(x) : typeof x === "string" && x in target.values;
          if (!ok) throw new BadRequest(`Invalid value at '${at}' (type.googleapis.com/${path.join(".")}), ${JSON.stringify(x)}`, at);
        } else validate(x, path, at, root);
      }
    };
    if (field.keyType) {
      if (typeof v !== "object" || v === null) throw new BadRequest(`Invalid value at '${child}', ${JSON.stringify(v)}`, child);
      for (const [k, x] of Object.entries(v)) one(x, `${child}[${JSON.stringify(k)}]`);
    } else if (field.rule === "repeated") {
      if (!Array.isArray(v)) throw new BadRequest(`Invalid value at '${child}', ${JSON.stringify(v)}`, child);
      v.forEach((x, i) => one(x, `${child}[${i}]`));
    } else one(v, child);
  }
  for (const [name, field] of Object.entries(fields)) {
    if (field.options?.["(google.api.field_behavior)"] !== "REQUIRED") continue;
    const v = (value as Record<string, unknown>)[name] ?? (value as Record<string, unknown>)[camelToSnake(name)];
    if (v === undefined || v === "" || (Array.isArray(v) && v.length === 0)) {
      throw new BadRequest(`List of found errors:\t1.Field: ${where}.${camelToSnake(name)}; Message: Required field is not set.\t`, `${where}.${camelToSnake(name)}`);
    }
  }
}

/** Vertex label rules: keys start with a lowercase letter; keys and values ≤ 63 of [a-z0-9_-] (international letters too); ≤ 64 labels. */
function checkLabels(labels: unknown): void {
  if (labels === undefined) return;
  const entries = Object.entries(labels as Record<string, string>);
  if (entries.length > 64) throw new BadRequest("Too many labels: at most 64 are allowed.", "custom_job.labels");
  for (const [k, v] of entries) {
    if (!/^[\p{Ll}\p{Lo}][\p{Ll}\p{Lo}\p{N}_-]{0,62}$/u.test(k)) throw new BadRequest(`Label key "${k}" is invalid: it must start with a lowercase letter and use only lowercase letters, digits, '_' and '-' (at most 63).`, "custom_job.labels");
    if (!/^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$/u.test(v)) throw new BadRequest(`Label value "${v}" of key "${k}" is invalid: use only lowercase letters, digits, '_' and '-' (at most 63).`, "custom_job.labels");
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of req) body += chunk;
  return body;
}

export async function startFakeVertex(): Promise<FakeVertex> {
  const root = aiplatformDescriptor();
  const token = `fake-token-${Math.random().toString(36).slice(2)}`;
  const jobs: FakeJob[] = [];
  const requests: string[] = [];
  const queued: JobScript[] = [];
  let nextId = 1000;

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const path = url.pathname;
      requests.push(`${req.method} ${path}`);
      const body = await readBody(req);
      if (req.headers.authorization !== `Bearer ${token}`) {
        return googleError(res, 401, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
      }
      let m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+)\/customJobs$/.exec(path);
      if (m && req.method === "POST") {
        let job: Record<string, unknown>;
        try {
          job = JSON.parse(body) as Record<string, unknown>;
        } catch {
          return googleError(res, 400, "Invalid JSON payload received.");
        }
        try {
          validate(job, [...V1, "CustomJob"], "custom_job", root);
          checkLabels(job.labels);
          const pools = ((job.jobSpec ?? {}) as { workerPoolSpecs?: unknown[] }).workerPoolSpecs ?? [];
          pools.forEach((p, i) => {
            const machine = (p as { machineSpec?: { machineType?: string } }).machineSpec;
            if (!machine?.machineType) throw new BadRequest(`custom_job.job_spec.worker_pool_specs[${i}].machine_spec.machine_type must be set.`, `custom_job.job_spec.worker_pool_specs[${i}].machine_spec`);
          });
        } catch (err) {
          if (!(err instanceof BadRequest)) throw err;
          return googleError(res, 400, err.message, "INVALID_ARGUMENT", [{ "@type": "type.googleapis.com/google.rpc.BadRequest", fieldViolations: [{ field: err.field, description: err.message }] }]);
        }
        const script = queued.shift() ?? { states: ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"] };
        const fake: FakeJob = { name: `${m[1]}/customJobs/${nextId++}`, body: job, script, step: 0, state: "JOB_STATE_QUEUED", cancelRequested: false };
        jobs.push(fake);
        return send(res, 200, render(fake));
      }
      m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/customJobs\/[^/:]+)(:cancel)?$/.exec(path);
      if (m) {
        const job = jobs.find((j) => j.name === m![1]);
        if (!job) return googleError(res, 404, `The CustomJob "${m[1]}" does not exist.`);
        if (m[2] && req.method === "POST") {
          if (TERMINAL.has(job.state)) return googleError(res, 400, `Cannot cancel CustomJob "${job.name}" in state ${job.state}.`, "FAILED_PRECONDITION");
          job.cancelRequested = true;
          job.state = "JOB_STATE_CANCELLING";
          return send(res, 200, {});
        }
        if (!m[2] && req.method === "GET") {
          if (job.cancelRequested) job.state = job.state === "JOB_STATE_CANCELLING" ? "JOB_STATE_CANCELLED" : job.state;
          else job.state = job.script.states[Math.min(job.step++, job.script.states.length - 1)]!;
          return send(res, 200, render(job));
        }
      }
      googleError(res, 404, `The requested URL ${path} was not found on this server.`, "NOT_FOUND");
    })().catch((err: unknown) => googleError(res, 500, `fake vertex: ${(err as Error).message}`, "INTERNAL"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  function render(job: FakeJob): Record<string, unknown> {
    return {
      ...job.body,
      name: job.name,
      state: job.state,
      createTime: "2026-01-01T00:00:00Z",
      ...(job.state === "JOB_STATE_FAILED" && job.script.error ? { error: job.script.error } : {}),
    };
  }

  return {
    endpoint: { apiEndpoint: "127.0.0.1", port, protocol: "http" },
    token,
    jobs,
    requests,
    script: (...scripts) => void queued.push(...scripts),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
