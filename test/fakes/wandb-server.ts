/**
 * A strict in-process fake of the W&B backend for the launch protocol (reference §7.8): GraphQL
 * over HTTP with basic auth, run queues, launch agents, runs and artifacts (manifest + signed file
 * URLs). Every document is parsed and validated with graphql-js against the schema in
 * ./wandb/schema.ts, so the agent cannot send what W&B would reject. Faults on demand.
 */
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  buildSchema,
  execute,
  GraphQLError,
  Kind,
  parse,
  validate,
  type DocumentNode,
  type OperationDefinitionNode,
} from "graphql";
import { ALLOWED_OPERATIONS, WANDB_SDL } from "./wandb/schema.js";

const schema = buildSchema(WANDB_SDL);

export interface FakeQueue {
  id: string;
  name: string;
  entity: string;
  project: string;
  access: "PROJECT" | "USER";
}

export type ItemState = "PENDING" | "LEASED" | "CLAIMED" | "FAILED";

export interface FakeItem {
  id: string;
  queueId: string;
  /** What was pushed: an object, or a raw string to simulate a malformed spec. */
  runSpec: unknown;
  state: ItemState;
  leasedBy?: string;
  leasedAt?: number;
  runName?: string;
  failure?: { message: string; stage: string; filePaths: string[] | null };
  warnings: { message: string; stage: string; filePaths: string[] | null }[];
}

export interface FakeAgent {
  id: string;
  name: string;
  entity: string;
  project: string;
  queueIds: string[];
  hostname: string;
  agentConfig: unknown;
  version: string | null;
  status: string;
  statusHistory: string[];
  stopPolling: boolean;
  heartbeatAt: number;
}

export interface FakeRun {
  entity: string;
  project: string;
  name: string;
  state: string;
  stopped: boolean;
  /** What upsertBucket set: the run config (parsed JSONString), job type and host. */
  config?: unknown;
  jobType?: string | null;
  host?: string | null;
  /** Run files by path: created by createRunFiles, bytes PUT to their signed URL, then marked uploaded. */
  files: Map<string, { bytes: Buffer | null; uploaded: boolean }>;
}

/** One request to the fake's storage (signed URLs, the artifact file handler), for assertions. */
export interface StorageRequest {
  method: string;
  path: string;
  status: number;
  at: number;
}

export interface FakeArtifact {
  id: string;
  entity: string;
  project: string;
  collection: string;
  type: string;
  versionIndex: number;
  aliases: string[];
  state: "PENDING" | "COMMITTED" | "DELETED";
  files: Map<string, Buffer>;
  /** Bytes served instead of the real ones (the manifest keeps the real digest). */
  served: Map<string, Buffer>;
  /** Files the URL listing leaves out. */
  unlisted: Set<string>;
  /** Files whose next download is cut off halfway. */
  dropOnce: Set<string>;
}

export type SweepState = "PENDING" | "RUNNING" | "PAUSED" | "CANCELED" | "FINISHED";

export interface FakeSweep {
  id: string;
  entity: string;
  project: string;
  /** The sweep id users see (`wandb sweep` prints it); runs carry it as `sweep_id`. */
  name: string;
  state: SweepState;
  /** Every state set through upsertSweep, in order. */
  stateHistory: string[];
}

export interface FakeState {
  sweeps: FakeSweep[];
  queues: FakeQueue[];
  items: FakeItem[];
  agents: FakeAgent[];
  runs: FakeRun[];
  artifacts: FakeArtifact[];
  teams: Set<string>;
}

export interface RecordedCall {
  operation: string;
  variables: Record<string, unknown>;
  status: number;
  at: number;
}

export type Fault =
  | { kind: "status"; status: number; body?: string }
  | { kind: "hang" }
  | { kind: "malformed"; body?: string }
  | { kind: "graphqlError"; message: string }
  /** Apply the request, then drop the connection: the client never learns it succeeded. */
  | { kind: "applyThenDrop" };

export interface FakeWandbOptions {
  apiKey?: string;
  /** The key's default entity (Viewer.entity); null makes Viewer answer an empty viewer. */
  viewerEntity?: string | null;
  /** Entities whose `isTeam` is true. */
  teams?: string[];
  /** Un-acked items go back on the queue after this long (W&B: about a minute). */
  leaseMs?: number;
  /** Answer popFromRunQueue's runSpec as a JSON string, as older servers do. */
  runSpecAsString?: boolean;
  /** Lifetime of signed storage URLs (default one hour). */
  signedUrlTtlMs?: number;
  /** How an expired signed URL is refused: S3 (403 AccessDenied) or GCS (400 ExpiredToken). */
  expiredUrlError?: "s3" | "gcs";
  /** Headers createRunFiles returns (`Name:Value`); an upload without them is refused, as storage refuses it. */
  uploadHeaders?: string[];
  /** Artifact file bodies are sent in two halves this far apart, so downloads take time. */
  storageChunkDelayMs?: number;
  /** Host name in `url` and signed URLs instead of 127.0.0.1 (one only a test proxy resolves). */
  publicHost?: string;
}

export interface FakeWandb {
  url: string;
  apiKey: string;
  state: FakeState;
  calls: RecordedCall[];
  callsTo(operation: string): RecordedCall[];
  addQueue(name: string, opts?: { entity?: string; project?: string }): FakeQueue;
  /** Push a run spec (object, or a raw string for a malformed one) onto a queue by name. */
  push(queue: string, runSpec: unknown, opts?: { entity?: string }): FakeItem;
  item(id: string): FakeItem | undefined;
  addArtifact(a: { entity: string; project: string; collection: string; type: string; files: Record<string, string | Buffer>; aliases?: string[]; state?: FakeArtifact["state"] }): FakeArtifact;
  /** Serve other bytes for one file of an artifact than the manifest describes. */
  corruptFile(artifactId: string, path: string, bytes: string | Buffer): void;
  setRun(run: Partial<FakeRun> & { entity: string; project: string; name: string }): FakeRun;
  run(entity: string, project: string, name: string): FakeRun | undefined;
  /** Runs launched jobs created: every run but the agents' own runs in model-registry. */
  jobRuns(): FakeRun[];
  addSweep(s: { entity?: string; project: string; name: string; state?: SweepState }): FakeSweep;
  /** Leave one file of an artifact out of the file-URL listing (its direct URL is missing). */
  unlistFile(artifactId: string, path: string): void;
  /** The next download of this file sends half its bytes, then drops the connection. */
  dropDownloadOnce(artifactId: string, path: string): void;
  storageRequests: StorageRequest[];
  /** Fail the next `count` GraphQL requests (of `operation`, if given). */
  failNext(fault: Fault, opts?: { operation?: string; count?: number }): void;
  /** Fail every GraphQL request (of the listed operations) until cleared with null. */
  setOutage(fault: Fault | null, opts?: { operations?: string[] }): void;
  close(): Promise<void>;
}

interface PendingFault {
  fault: Fault;
  operation?: string;
  remaining: number;
}

export async function startFakeWandb(options: FakeWandbOptions = {}): Promise<FakeWandb> {
  const apiKey = options.apiKey ?? `fake-${randomBytes(20).toString("hex")}`;
  const signingKey = randomBytes(16);
  const state: FakeState = { sweeps: [], queues: [], items: [], agents: [], runs: [], artifacts: [], teams: new Set(options.teams ?? []) };
  const calls: RecordedCall[] = [];
  const pending: PendingFault[] = [];
  let outage: { fault: Fault; operations?: string[] } | null = null;
  let seq = 0;
  const newId = (prefix: string) => Buffer.from(`${prefix}:${++seq}`).toString("base64");
  const viewerEntity = options.viewerEntity === undefined ? "fake-entity" : options.viewerEntity;
  const sockets = new Set<Socket>();
  let url = "";

  const storageRequests: StorageRequest[] = [];
  const sign = (path: string, expires: string) => createHmac("sha256", signingKey).update(`${path}\n${expires}`).digest("hex");
  const signedUrl = (path: string) => {
    const expires = String(Date.now() + (options.signedUrlTtlMs ?? 3_600_000));
    return `${url}${path}?expires=${expires}&sig=${sign(path, expires)}`;
  };
  const md5b64 = (b: Buffer) => createHash("md5").update(b).digest("base64");

  // ---- queries and mutations ---------------------------------------------------------------
  const fail = (message: string) => new GraphQLError(message);
  const findQueue = (entity: string, project: string, name: string) =>
    state.queues.find((q) => q.entity === entity && q.project === project && q.name === name);
  const findItem = (id: string) => {
    const item = state.items.find((i) => i.id === id);
    if (!item) throw fail(`run queue item ${id} not found`);
    return item;
  };
  const requireAgent = (id: string) => {
    const agent = state.agents.find((a) => a.id === id);
    if (!agent) throw fail(`launch agent ${id} not found`);
    agent.heartbeatAt = Date.now();
    return agent;
  };
  const versionsOf = (entity: string, project: string, collection: string) =>
    state.artifacts.filter((a) => a.entity === entity && a.project === project && a.collection === collection);

  const entityObj = (name: string) => ({ id: `entity:${name}`, name, isTeam: state.teams.has(name) });
  const artifactObj = (a: FakeArtifact) => ({
    id: a.id,
    versionIndex: a.versionIndex,
    state: a.state,
    digest: createHash("md5").update([...a.files.entries()].map(([p, b]) => `${p}:${md5b64(b)}\n`).join("")).digest("hex"),
    size: [...a.files.values()].reduce((n, b) => n + b.length, 0),
    description: null,
    artifactType: { id: `type:${a.type}`, name: a.type },
    artifactSequence: { id: `seq:${a.collection}`, name: a.collection, project: projectObj(a.entity, a.project) },
    aliases: a.aliases.map((alias) => ({ id: `${a.id}:${alias}`, alias })),
    currentManifest: () =>
      a.state === "COMMITTED" ? { id: `manifest:${a.id}`, file: { id: `mf:${a.id}`, name: "wandb_manifest.json", directUrl: signedUrl(`/storage/manifests/${encodeURIComponent(a.id)}`) } } : null,
  });
  const resolveAlias = (entity: string, project: string, collection: string, alias: string) => {
    const versions = versionsOf(entity, project, collection);
    const byIndex = /^v(\d+)$/.exec(alias);
    if (byIndex) return versions.find((v) => v.versionIndex === Number(byIndex[1]));
    return versions.find((v) => v.aliases.includes(alias));
  };
  const membershipObj = (a: FakeArtifact) => ({
    id: `membership:${a.id}`,
    versionIndex: a.versionIndex,
    aliases: a.aliases.map((alias) => ({ id: `${a.id}:${alias}`, alias })),
    artifactCollection: collectionObj(a.entity, a.project, a.collection),
    artifact: artifactObj(a),
    files: ({ names: only, after, first }: { names?: string[] | null; after?: string | null; first?: number | null }) => {
      const names = [...a.files.keys()].filter((n) => !a.unlisted.has(n) && (!only || only.includes(n))).sort();
      const start = after ? Number(Buffer.from(after, "base64").toString()) : 0;
      const page = names.slice(start, start + (first ?? 50));
      const end = start + page.length;
      return {
        pageInfo: { endCursor: page.length ? Buffer.from(String(end)).toString("base64") : null, hasNextPage: end < names.length },
        edges: page.map((name) => ({
          cursor: Buffer.from(String(end)).toString("base64"),
          node: { id: `file:${a.id}:${name}`, name, displayName: name, uploadUrl: null, directUrl: signedUrl(`/storage/files/${encodeURIComponent(a.id)}/${encodeURIComponent(name)}`) },
        })),
      };
    },
  });
  const collectionObj = (entity: string, project: string, collection: string): Record<string, unknown> => ({
    id: `collection:${entity}/${project}/${collection}`,
    name: collection,
    project: () => projectObj(entity, project),
    artifactMembership: ({ aliasName }: { aliasName: string }) => {
      const a = resolveAlias(entity, project, collection, aliasName);
      return a ? membershipObj(a) : null;
    },
  });
  const projectObj = (entity: string, name: string): Record<string, unknown> => ({
    id: `project:${entity}/${name}`,
    internalId: `project:${entity}/${name}`,
    name,
    entity: entityObj(entity),
    runQueues: () => state.queues.filter((q) => q.entity === entity && q.project === name).map((q) => ({ id: q.id, name: q.name, createdBy: 1, access: q.access })),
    run: ({ name: runName }: { name: string }) => {
      const r = state.runs.find((x) => x.entity === entity && x.project === name && x.name === runName);
      return r ? { id: `run:${entity}/${name}/${runName}`, name: r.name, state: r.state, stopped: r.stopped } : null;
    },
    artifactCollectionMembership: ({ name: full }: { name: string }) => {
      const [collection, alias] = full.includes(":") ? [full.slice(0, full.indexOf(":")), full.slice(full.indexOf(":") + 1)] : [full, "latest"];
      const a = resolveAlias(entity, name, collection!, alias!);
      return a ? membershipObj(a) : null;
    },
    artifactCollection: ({ name: collection }: { name: string }) =>
      versionsOf(entity, name, collection).length ? collectionObj(entity, name, collection) : null,
    sweep: ({ sweepName }: { sweepName: string }) => {
      const sw = state.sweeps.find((x) => x.entity === entity && x.project === name && x.name === sweepName);
      return sw ? sweepObj(sw) : null;
    },
  });
  const sweepObj = (sw: FakeSweep) => ({ id: sw.id, name: sw.name, state: sw.state, displayName: sw.name, project: () => projectObj(sw.entity, sw.project) });

  const rootValue = {
    viewer: () => (viewerEntity ? { id: "viewer:1", entity: viewerEntity, username: viewerEntity, email: null, flags: null, teams: { edges: [] } } : null),
    project: ({ name, entityName }: { name?: string | null; entityName?: string | null }) => {
      const entity = entityName ?? viewerEntity;
      if (!entity || !name) return null;
      // Projects exist once something lives in them; model-registry always does for a known entity.
      const known =
        name === "model-registry" ||
        state.queues.some((q) => q.entity === entity && q.project === name) ||
        state.runs.some((r) => r.entity === entity && r.project === name) ||
        state.sweeps.some((x) => x.entity === entity && x.project === name) ||
        state.artifacts.some((a) => a.entity === entity && a.project === name);
      return known ? projectObj(entity, name) : null;
    },
    entity: ({ name }: { name: string }) => entityObj(name),
    launchAgent: ({ id }: { id: string }) => {
      const a = state.agents.find((x) => x.id === id);
      if (!a) return null;
      a.heartbeatAt = Date.now();
      return { id: a.id, name: a.name, runQueues: a.queueIds, hostname: a.hostname, agentStatus: a.status, stopPolling: a.stopPolling, heartbeatAt: new Date(a.heartbeatAt).toISOString() };
    },
    artifact: ({ id }: { id: string }) => {
      const a = state.artifacts.find((x) => x.id === id);
      return a ? artifactObj(a) : null;
    },

    createRunQueue: ({ input }: { input: { entityName: string; projectName: string; queueName: string; access: "PROJECT" | "USER" } }) => {
      if (findQueue(input.entityName, input.projectName, input.queueName)) throw fail(`run queue ${input.queueName} already exists`);
      const q = api.addQueue(input.queueName, { entity: input.entityName, project: input.projectName });
      q.access = input.access;
      return { success: true, queueID: q.id };
    },
    createLaunchAgent: ({ input }: { input: { entityName: string; projectName: string; runQueues: string[]; hostname: string; agentConfig?: string | null; version?: string | null } }) => {
      for (const id of input.runQueues) if (!state.queues.some((q) => q.id === id)) throw fail(`run queue ${id} not found`);
      let agentConfig: unknown = null;
      if (input.agentConfig != null) {
        try {
          agentConfig = JSON.parse(input.agentConfig);
        } catch {
          throw fail("agentConfig is not a valid JSONString");
        }
      }
      const id = newId("LaunchAgent");
      state.agents.push({
        id,
        name: `launch-agent-${state.agents.length + 1}`,
        entity: input.entityName,
        project: input.projectName,
        queueIds: input.runQueues,
        hostname: input.hostname,
        agentConfig,
        version: input.version ?? null,
        status: "POLLING",
        statusHistory: [],
        stopPolling: false,
        heartbeatAt: Date.now(),
      });
      return { launchAgentId: id };
    },
    updateLaunchAgent: ({ input }: { input: { launchAgentId: string; agentStatus?: string | null } }) => {
      const agent = requireAgent(input.launchAgentId);
      if (input.agentStatus != null) {
        if (!["POLLING", "RUNNING", "KILLED"].includes(input.agentStatus)) throw fail(`invalid agentStatus ${input.agentStatus}`);
        agent.status = input.agentStatus;
        agent.statusHistory.push(input.agentStatus);
      }
      return { success: true };
    },
    popFromRunQueue: ({ input }: { input: { entityName: string; projectName: string; queueName: string; launchAgentId?: string | null } }) => {
      const q = findQueue(input.entityName, input.projectName, input.queueName);
      if (!q) throw fail(`run queue ${input.queueName} not found in ${input.entityName}/${input.projectName}`);
      if (input.launchAgentId) requireAgent(input.launchAgentId);
      const now = Date.now();
      for (const i of state.items) {
        if (i.state === "LEASED" && now - (i.leasedAt ?? 0) > (options.leaseMs ?? 60_000)) i.state = "PENDING";
      }
      const item = state.items.find((i) => i.queueId === q.id && i.state === "PENDING");
      if (!item) return null;
      item.state = "LEASED";
      item.leasedAt = now;
      item.leasedBy = input.launchAgentId ?? undefined;
      const spec = options.runSpecAsString && typeof item.runSpec !== "string" ? JSON.stringify(item.runSpec) : item.runSpec;
      return { runQueueItemId: item.id, runSpec: spec };
    },
    ackRunQueueItem: ({ input }: { input: { runQueueItemId: string; runName: string } }) => {
      const item = findItem(input.runQueueItemId);
      if (item.state !== "LEASED") return { success: false };
      item.state = "CLAIMED";
      item.runName = input.runName;
      return { success: true };
    },
    failRunQueueItem: ({ input }: { input: { runQueueItemId: string; message: string; stage: string; filePaths?: string[] | null } }) => {
      const item = findItem(input.runQueueItemId);
      item.state = "FAILED";
      item.failure = { message: input.message, stage: input.stage, filePaths: input.filePaths ?? null };
      return { success: true };
    },
    updateRunQueueItemWarning: ({ input }: { input: { runQueueItemId: string; message: string; stage: string; filePaths?: string[] | null } }) => {
      const item = findItem(input.runQueueItemId);
      item.warnings.push({ message: input.message, stage: input.stage, filePaths: input.filePaths ?? null });
      return { success: true };
    },
    pushToRunQueueByName: ({ input }: { input: { entityName: string; projectName: string; queueName: string; runSpec: string } }) => {
      let spec: unknown;
      try {
        spec = JSON.parse(input.runSpec);
      } catch {
        throw fail("runSpec is not a valid JSONString");
      }
      if (!findQueue(input.entityName, input.projectName, input.queueName)) throw fail(`run queue ${input.queueName} not found`);
      const item = api.push(input.queueName, spec, { entity: input.entityName });
      return { runQueueItemId: item.id, runSpec: JSON.stringify(spec) };
    },
    upsertSweep: ({ input }: { input: { id?: string | null; state?: string | null; entityName?: string | null; projectName?: string | null; config?: string | null } }) => {
      // Only updates by id are modelled; creating a sweep needs its config, as on the real server.
      if (!input.id) throw fail(input.config ? "fake: creating sweeps is not modelled" : "config is required to create a sweep");
      const sw = state.sweeps.find((x) => x.id === input.id);
      if (!sw) throw fail(`sweep ${input.id} not found`);
      if (input.state != null) {
        if (!["PENDING", "RUNNING", "PAUSED", "CANCELED", "FINISHED"].includes(input.state)) throw fail(`invalid sweep state ${input.state}`);
        sw.state = input.state as SweepState;
        sw.stateHistory.push(input.state);
      }
      return { sweep: sweepObj(sw), configValidationWarnings: [], inserted: false };
    },
    upsertBucket: ({ input }: { input: { name?: string | null; modelName?: string | null; entityName?: string | null; config?: string | null; jobType?: string | null; host?: string | null } }) => {
      const entity = input.entityName ?? viewerEntity;
      if (!entity || !input.name || !input.modelName) throw fail("upsertBucket needs name, modelName and entityName");
      let config: unknown;
      if (input.config != null) {
        try {
          config = JSON.parse(input.config);
        } catch {
          throw fail("config is not a valid JSONString");
        }
      }
      const existing = api.run(entity, input.modelName, input.name);
      const run = api.setRun({ entity, project: input.modelName, name: input.name, state: "running", stopped: existing?.stopped ?? false });
      if (input.config != null) run.config = config;
      if (input.jobType != null) run.jobType = input.jobType;
      if (input.host != null) run.host = input.host;
      return {
        bucket: {
          id: `run:${entity}/${run.project}/${run.name}`,
          name: run.name,
          displayName: run.name,
          state: run.state,
          stopped: run.stopped,
          config: run.config === undefined ? null : JSON.stringify(run.config),
          project: () => projectObj(entity, run.project),
        },
        inserted: !existing,
      };
    },
    createRunFiles: ({ input }: { input: { entityName: string; projectName: string; runName: string; files: string[] } }) => {
      const run = api.run(input.entityName, input.projectName, input.runName);
      if (!run) throw fail(`run ${input.entityName}/${input.projectName}/${input.runName} not found`);
      for (const f of input.files) if (!run.files.has(f)) run.files.set(f, { bytes: null, uploaded: false });
      return {
        runID: `run:${run.entity}/${run.project}/${run.name}`,
        uploadHeaders: options.uploadHeaders ?? [],
        files: input.files.map((f) => ({
          id: `runfile:${run.name}:${f}`,
          name: f,
          directUrl: signedUrl(runFilePath(run, f)),
          uploadUrl: signedUrl(runFilePath(run, f)),
        })),
      };
    },
    markRunFilesUploaded: ({ input }: { input: { entityName: string; projectName: string; runName: string; files: string[] } }) => {
      const run = api.run(input.entityName, input.projectName, input.runName);
      if (!run) throw fail(`run ${input.entityName}/${input.projectName}/${input.runName} not found`);
      for (const f of input.files) {
        const file = run.files.get(f);
        if (!file) throw fail(`file ${f} was never created for run ${run.name}`);
        if (file.bytes) file.uploaded = true;
      }
      return { success: true };
    },
  };

  // ---- HTTP ---------------------------------------------------------------------------------
  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json" }).end(text);
  };
  const requestError = (res: ServerResponse, status: number, call: RecordedCall, messages: string[]) => {
    call.status = status;
    send(res, status, { errors: messages.map((message) => ({ message })) });
  };

  const takeFault = (operation: string): Fault | null => {
    if (outage && (!outage.operations || outage.operations.includes(operation))) return outage.fault;
    const idx = pending.findIndex((p) => !p.operation || p.operation === operation);
    if (idx < 0) return null;
    const p = pending[idx]!;
    if (--p.remaining <= 0) pending.splice(idx, 1);
    return p.fault;
  };

  const handleGraphql = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const call: RecordedCall = { operation: "", variables: {}, status: 200, at: Date.now() };
    let body: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      calls.push(call);
      return requestError(res, 400, call, ["request body is not JSON"]);
    }
    const variables = (body.variables ?? {}) as Record<string, unknown>;
    call.variables = variables;
    let doc: DocumentNode;
    try {
      if (typeof body.query !== "string") throw new GraphQLError("Must provide query string.");
      doc = parse(body.query);
    } catch (err) {
      calls.push(call);
      return requestError(res, 400, call, [(err as Error).message]);
    }
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    const op = ops.length === 1 ? ops[0]! : ops.find((o) => o.name?.value === body.operationName);
    call.operation = op?.name?.value ?? "";
    calls.push(call);

    // Authentication comes before anything else, as on the real server.
    const auth = req.headers.authorization ?? "";
    const m = /^Basic (.+)$/.exec(auth);
    const [user, key] = m ? Buffer.from(m[1]!, "base64").toString().split(/:(.*)/s) : [];
    if (user !== "api" || key !== apiKey) {
      call.status = 401;
      return send(res, 401, { errors: [{ message: "user is not logged in" }] });
    }

    const fault = takeFault(call.operation);
    if (fault && fault.kind !== "applyThenDrop") {
      switch (fault.kind) {
        case "hang":
          call.status = 0;
          return; // never answer; the socket is destroyed by close()
        case "status":
          call.status = fault.status;
          return send(res, fault.status, fault.body ?? { errors: [{ message: `injected HTTP ${fault.status}` }] });
        case "malformed":
          return send(res, 200, fault.body ?? "<html>502 Bad Gateway</html>");
        case "graphqlError":
          return send(res, 200, { data: null, errors: [{ message: fault.message, path: [call.operation] }] });
      }
    }

    if (!op) return requestError(res, 400, call, [`Unknown operation named "${String(body.operationName)}".`]);
    const allowed = op.name ? ALLOWED_OPERATIONS[op.name.value] : undefined;
    if (!allowed || allowed.kind !== op.operation) {
      return requestError(res, 400, call, [`operation ${JSON.stringify(op.name?.value ?? "(anonymous)")} (${op.operation}) is not part of the launch protocol`]);
    }
    if (body.operationName !== undefined && body.operationName !== op.name!.value) {
      return requestError(res, 400, call, [`Unknown operation named "${String(body.operationName)}".`]);
    }
    const declared = (op.variableDefinitions ?? []).map((v) => v.variable.name.value);
    const required = allowed.variables.filter((v) => !v.endsWith("?"));
    const permitted = new Set(allowed.variables.map((v) => v.replace(/\?$/, "")));
    const wrong = [
      ...required.filter((v) => !declared.includes(v)).map((v) => `operation ${op.name!.value} must declare variable $${v}`),
      ...declared.filter((v) => !permitted.has(v)).map((v) => `operation ${op.name!.value} declares unexpected variable $${v}`),
      ...Object.keys(variables).filter((v) => !declared.includes(v)).map((v) => `Variable "$${v}" is not defined by operation "${op.name!.value}".`),
    ];
    if (wrong.length) return requestError(res, 400, call, wrong);
    const invalid = validate(schema, doc);
    if (invalid.length) return requestError(res, 400, call, invalid.map((e) => e.message));
    const result = await execute({ schema, document: doc, rootValue, variableValues: variables, operationName: op.name!.value });
    if (fault?.kind === "applyThenDrop") {
      call.status = 0;
      req.socket.destroy();
      return;
    }
    if (!result.data && result.errors?.length) {
      // Variable coercion failures: the request itself is wrong.
      return requestError(res, 400, call, result.errors.map((e) => e.message));
    }
    send(res, 200, { data: result.data, ...(result.errors?.length ? { errors: result.errors.map((e) => e.toJSON()) } : {}) });
  };

  const runFilePath = (run: FakeRun, file: string) =>
    `/storage/run-files/${[run.entity, run.project, run.name, file].map(encodeURIComponent).join("/")}`;
  const xml = (res: ServerResponse, status: number, body: string) =>
    res.writeHead(status, { "content-type": "application/xml" }).end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`);
  const refuseUrl = (res: ServerResponse, why: "signature" | "expired" | "header", expires: string, detail = "") => {
    const requestId = randomBytes(8).toString("hex").toUpperCase();
    if (why === "header") return xml(res, 400, `<Error><Code>MissingRequiredHeader</Code><Message>An HTTP header that's mandatory for this request is not specified.</Message><HeaderName>${detail}</HeaderName></Error>`);
    if (why === "expired" && options.expiredUrlError === "gcs") {
      return xml(res, 400, `<Error><Code>ExpiredToken</Code><Message>Invalid argument.</Message><Details>Request has expired: ${Math.floor(Number(expires) / 1000)}</Details></Error>`);
    }
    if (why === "expired") {
      return xml(
        res,
        403,
        `<Error><Code>AccessDenied</Code><Message>Request has expired</Message><Expires>${new Date(Number(expires)).toISOString()}</Expires>` +
          `<ServerTime>${new Date().toISOString()}</ServerTime><RequestId>${requestId}</RequestId><HostId>fake</HostId></Error>`,
      );
    }
    return xml(res, 403, `<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><RequestId>${requestId}</RequestId></Error>`);
  };

  /** PUT of a run file to the URL createRunFiles gave. */
  const handleUpload = async (req: IncomingMessage, res: ServerResponse, path: string, expires: string | null, sig: string | null) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (!expires || sig !== sign(path, expires)) return refuseUrl(res, "signature", expires ?? "0");
    if (Date.now() >= Number(expires)) return refuseUrl(res, "expired", expires);
    for (const h of options.uploadHeaders ?? []) {
      const [name, value] = [h.slice(0, h.indexOf(":")), h.slice(h.indexOf(":") + 1)];
      if (req.headers[name.toLowerCase()] !== value) return refuseUrl(res, "header", expires, name);
    }
    const m = /^\/storage\/run-files\/([^/]+)\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
    const run = m ? api.run(decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), decodeURIComponent(m[3]!)) : undefined;
    const file = run?.files.get(decodeURIComponent(m![4]!));
    if (!file) return send(res, 404, "not found");
    file.bytes = Buffer.concat(chunks);
    res.writeHead(200).end();
  };

  /** W&B's own artifact file handler: authenticated with the key, it redirects to a fresh signed URL. */
  const handleArtifactHandler = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? "");
    const [user, key] = auth ? Buffer.from(auth[1]!, "base64").toString().split(/:(.*)/s) : [];
    if (user !== "api" || key !== apiKey) return send(res, 401, { errors: [{ message: "user is not logged in" }] });
    const parts = path.split("/").slice(1).map(decodeURIComponent);
    let found: { a: FakeArtifact; name: string } | undefined;
    const matches = (a: FakeArtifact, hex: string, base?: string) =>
      [...a.files.entries()].find(([n, b]) => createHash("md5").update(b).digest("hex") === hex && (base === undefined || n.split("/").at(-1) === base));
    if (parts[0] === "artifactsV2" && parts.length === 8) {
      // artifactsV2/<region>/<entity>/<project>/<collection>/<birth artifact id>/<md5 hex>/<file name>
      const [, , entity, project, collection, birthId, hex, base] = parts;
      const a = state.artifacts.find((x) => x.id === birthId && x.entity === entity && x.project === project && x.collection === collection);
      const hit = a && matches(a, hex!, base);
      if (a && hit) found = { a, name: hit[0] };
    } else if (parts[0] === "artifacts" && parts.length === 3) {
      for (const a of state.artifacts.filter((x) => x.entity === parts[1])) {
        const hit = matches(a, parts[2]!);
        if (hit) found ??= { a, name: hit[0] };
      }
    }
    if (!found) return send(res, 404, "not found");
    res.writeHead(302, { location: signedUrl(`/storage/files/${encodeURIComponent(found.a.id)}/${encodeURIComponent(found.name)}`) }).end();
  };

  const handleStorage = (res: ServerResponse, path: string, expires: string | null, sig: string | null) => {
    if (!expires || sig !== sign(path, expires)) return refuseUrl(res, "signature", expires ?? "0");
    if (Date.now() >= Number(expires)) return refuseUrl(res, "expired", expires);
    const manifest = /^\/storage\/manifests\/([^/]+)$/.exec(path);
    if (manifest) {
      const a = state.artifacts.find((x) => x.id === decodeURIComponent(manifest[1]!));
      if (!a) return send(res, 404, "not found");
      const contents = Object.fromEntries(
        [...a.files.entries()].sort(([x], [y]) => x.localeCompare(y)).map(([p, b]) => [p, { digest: md5b64(b), size: b.length, birthArtifactID: a.id }]),
      );
      return send(res, 200, { version: 1, storagePolicy: "wandb-storage-policy-v1", storagePolicyConfig: { storageLayout: "V2" }, contents });
    }
    const file = /^\/storage\/files\/([^/]+)\/([^/]+)$/.exec(path);
    if (file) {
      const a = state.artifacts.find((x) => x.id === decodeURIComponent(file[1]!));
      const name = decodeURIComponent(file[2]!);
      const bytes = a?.served.get(name) ?? a?.files.get(name);
      if (!a || !bytes) return send(res, 404, "not found");
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length });
      const half = Math.floor(bytes.length / 2);
      const delay = options.storageChunkDelayMs ?? 0;
      if (a.dropOnce.delete(name)) {
        // Half the bytes, then the connection dies (after the chunk delay, like a long download failing late).
        res.write(bytes.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), delay));
        return;
      }
      if (delay <= 0) return void res.end(bytes);
      res.write(bytes.subarray(0, half));
      setTimeout(() => res.end(bytes.subarray(half)), delay);
      return;
    }
    send(res, 404, "not found");
  };

  const server = createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://fake");
    if (req.method === "POST" && u.pathname === "/graphql") {
      handleGraphql(req, res).catch((err: unknown) => send(res, 500, { errors: [{ message: `fake crashed: ${(err as Error).message}` }] }));
    } else if (u.pathname.startsWith("/storage/") || u.pathname.startsWith("/artifacts")) {
      const record: StorageRequest = { method: req.method ?? "", path: u.pathname, status: 0, at: Date.now() };
      storageRequests.push(record);
      res.on("finish", () => (record.status = res.statusCode));
      if (req.method === "PUT" && u.pathname.startsWith("/storage/run-files/")) {
        handleUpload(req, res, u.pathname, u.searchParams.get("expires"), u.searchParams.get("sig")).catch((err: unknown) => send(res, 500, `fake crashed: ${(err as Error).message}`));
      } else if (req.method === "GET" && u.pathname.startsWith("/storage/")) {
        handleStorage(res, u.pathname, u.searchParams.get("expires"), u.searchParams.get("sig"));
      } else if (req.method === "GET") {
        handleArtifactHandler(req, res, u.pathname);
      } else {
        send(res, 405, "method not allowed");
      }
    } else {
      send(res, 404, { errors: [{ message: `no route ${req.method} ${u.pathname}` }] });
    }
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://${options.publicHost ?? "127.0.0.1"}:${(server.address() as AddressInfo).port}`;

  const api: FakeWandb = {
    url,
    apiKey,
    state,
    calls,
    callsTo: (operation) => calls.filter((c) => c.operation === operation),
    addQueue(name, opts = {}) {
      const q: FakeQueue = { id: newId("RunQueue"), name, entity: opts.entity ?? viewerEntity ?? "fake-entity", project: opts.project ?? "model-registry", access: "PROJECT" };
      state.queues.push(q);
      return q;
    },
    push(queue, runSpec, opts = {}) {
      const entity = opts.entity ?? viewerEntity ?? "fake-entity";
      const q = findQueue(entity, "model-registry", queue);
      if (!q) throw new Error(`fake: no queue ${queue} for ${entity}`);
      const item: FakeItem = { id: newId("RunQueueItem"), queueId: q.id, runSpec, state: "PENDING", warnings: [] };
      state.items.push(item);
      return item;
    },
    item: (id) => state.items.find((i) => i.id === id),
    addArtifact(a) {
      const versions = versionsOf(a.entity, a.project, a.collection);
      for (const v of versions) v.aliases = v.aliases.filter((x) => x !== "latest");
      const art: FakeArtifact = {
        id: newId("Artifact"),
        entity: a.entity,
        project: a.project,
        collection: a.collection,
        type: a.type,
        versionIndex: versions.length,
        aliases: ["latest", ...(a.aliases ?? [])],
        state: a.state ?? "COMMITTED",
        files: new Map(Object.entries(a.files).map(([p, b]) => [p, Buffer.from(b)])),
        served: new Map(),
        unlisted: new Set(),
        dropOnce: new Set(),
      };
      state.artifacts.push(art);
      return art;
    },
    corruptFile(artifactId, path, bytes) {
      const a = state.artifacts.find((x) => x.id === artifactId);
      if (!a?.files.has(path)) throw new Error(`fake: artifact ${artifactId} has no file ${path}`);
      a.served.set(path, Buffer.from(bytes));
    },
    setRun(run) {
      let r = api.run(run.entity, run.project, run.name);
      if (!r) {
        r = { entity: run.entity, project: run.project, name: run.name, state: "running", stopped: false, files: new Map() };
        state.runs.push(r);
      }
      if (run.state !== undefined) r.state = run.state;
      if (run.stopped !== undefined) r.stopped = run.stopped;
      return r;
    },
    storageRequests,
    unlistFile(artifactId, path) {
      const a = state.artifacts.find((x) => x.id === artifactId);
      if (!a?.files.has(path)) throw new Error(`fake: artifact ${artifactId} has no file ${path}`);
      a.unlisted.add(path);
    },
    dropDownloadOnce(artifactId, path) {
      const a = state.artifacts.find((x) => x.id === artifactId);
      if (!a?.files.has(path)) throw new Error(`fake: artifact ${artifactId} has no file ${path}`);
      a.dropOnce.add(path);
    },
    addSweep(sw) {
      const created: FakeSweep = { id: newId("Sweep"), entity: sw.entity ?? viewerEntity ?? "fake-entity", project: sw.project, name: sw.name, state: sw.state ?? "RUNNING", stateHistory: [] };
      state.sweeps.push(created);
      return created;
    },
    jobRuns: () => state.runs.filter((r) => r.project !== "model-registry"),
    run: (entity, project, name) => state.runs.find((r) => r.entity === entity && r.project === project && r.name === name),
    failNext(fault, opts = {}) {
      pending.push({ fault, operation: opts.operation, remaining: opts.count ?? 1 });
    },
    setOutage(fault, opts = {}) {
      outage = fault ? { fault, operations: opts.operations } : null;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
