import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { stringify } from "yaml";
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  gone,
  invalid,
  methodNotAllowed,
  notFound,
  pathNotFound,
  success,
  unauthorized,
  unsupportedMediaType,
  type ResourceName,
} from "./kube/status.js";
import { isObj, nameFromGenerateName, unknownFields, validateConfigMap, validateDeployment, validateJob, validateMeta, validatePod, validateSecret, validateService } from "./kube/validate.js";
import { checkCustomObject, type CrdSchema } from "./kube/crd-schema.js";
import { allowed, forbidden, selfSubjectAccessReview, type FakeRbacRule } from "./kube/rbac.js";

export type { FakeRbacRule } from "./kube/rbac.js";

/**
 * A strict in-process fake of the Kubernetes API server, for the subset the agent uses: namespaced
 * Jobs (batch/v1), Pods (list, get, log; created by a pretend Job controller), Secrets and
 * ConfigMaps. It checks the bearer token, validates objects like the real server (422 Invalid with
 * field causes), returns Status bodies with the real codes (404, 409, 410, 401), keeps a global
 * resourceVersion and an event history so watches can resume, and answers a watch from a
 * compacted resourceVersion with the real `ERROR` event carrying a 410 Expired Status.
 * Custom resources (`crds`) are served under `/apis/<group>/<version>/namespaces/<ns>/<plural>` and
 * checked against their CRD's openAPIV3Schema: unknown fields are pruned with a `Warning` header
 * (the server's default) or refused with fieldValidation=Strict, type errors are 422 Invalid.
 * No real API server can be installed on these machines; this is the next best thing.
 */

type Obj = Record<string, unknown>;
type BuiltinResource = "jobs" | "pods" | "secrets" | "configmaps" | "deployments" | "services" | "endpoints";
/** A built-in resource, or a custom one as `<plural>.<group>` (e.g. `jobsets.jobset.x-k8s.io`). */
export type Resource = BuiltinResource | (string & {});
type ResourceInfo = ResourceName & { apiVersion: string; listKind: string };

/** A CRD the fake serves (the fields of its `spec` the server uses), e.g. from test/fixtures/crds/. */
export interface CrdFixture {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  schema: CrdSchema;
}
type EventType = "ADDED" | "MODIFIED" | "DELETED";

const RESOURCES: Record<BuiltinResource, ResourceInfo> = {
  jobs: { group: "batch", plural: "jobs", kind: "Job", apiVersion: "batch/v1", listKind: "JobList" },
  pods: { group: "", plural: "pods", kind: "Pod", apiVersion: "v1", listKind: "PodList" },
  secrets: { group: "", plural: "secrets", kind: "Secret", apiVersion: "v1", listKind: "SecretList" },
  configmaps: { group: "", plural: "configmaps", kind: "ConfigMap", apiVersion: "v1", listKind: "ConfigMapList" },
  // For a run's additional_services: created through the generic object API, found by discovery.
  deployments: { group: "apps", plural: "deployments", kind: "Deployment", apiVersion: "apps/v1", listKind: "DeploymentList" },
  services: { group: "", plural: "services", kind: "Service", apiVersion: "v1", listKind: "ServiceList" },
  endpoints: { group: "", plural: "endpoints", kind: "Endpoints", apiVersion: "v1", listKind: "EndpointsList" },
};
/** Built-ins whose unknown fields the fake checks (pruned with a Warning, as the server's default fieldValidation=Warn). */
const SCHEMA_CHECKED = new Set<string>(["deployments", "services", "pods"]);
const namespaceResource: ResourceName = { group: "", plural: "namespaces", kind: "Namespace" };

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
}

interface StoredEvent {
  rv: number;
  resource: Resource;
  namespace: string;
  type: EventType;
  object: Obj;
}

interface Watcher {
  resource: Resource;
  namespace: string;
  matches(obj: Obj): boolean;
  send(type: string, obj: Obj): void;
  close(): void;
}

export interface KubeconfigObject {
  clusters: { name: string; server: string; skipTLSVerify: boolean }[];
  users: { name: string; token: string }[];
  contexts: { name: string; cluster: string; user: string; namespace: string }[];
  currentContext: string;
}

export interface FakeKubeOptions {
  /** Namespaces that exist; creating in any other fails with 404 like a real cluster. Default: default, wandb. */
  namespaces?: string[];
  /** The namespace the generated kubeconfig's context names. Default: default. */
  contextNamespace?: string;
  /** Custom resource definitions served besides the built-in resources. */
  crds?: CrdFixture[];
  /** What the token may do (RBAC); requests outside it get 403 Forbidden. Default: everything. */
  permissions?: FakeRbacRule[];
}

export interface InjectedFailure {
  method: string;
  path: RegExp;
  code: number;
  /** How many matching requests fail; default 1. */
  times?: number;
}

export interface FakeKube {
  url: string;
  token: string;
  /** For `KubeConfig.loadFromOptions`. */
  kubeconfig: KubeconfigObject;
  /** The same as a kubeconfig YAML file (for KUBECONFIG / loadFromFile). */
  kubeconfigPath: string;
  requests: RecordedRequest[];
  /** `Warning` headers sent (e.g. `unknown field "spec.x"` for pruned custom-object fields). */
  warnings: string[];
  close(): Promise<void>;
  get(resource: Resource, namespace: string, name: string): Obj | undefined;
  list(resource: Resource, namespace?: string): Obj[];
  /** Merge into a Job's status (the Job controller's part); finishing a Job also finishes its pods. */
  setJobStatus(namespace: string, name: string, status: Obj): void;
  succeedJob(namespace: string, name: string): void;
  failJob(namespace: string, name: string, reason?: string, message?: string): void;
  podsOfJob(namespace: string, job: string): Obj[];
  updatePod(namespace: string, name: string, mutate: (pod: Obj) => void): void;
  setPodPhase(namespace: string, name: string, phase: "Pending" | "Running" | "Succeeded" | "Failed"): void;
  /** A DisruptionTarget condition as the scheduler/kubelet/eviction API set it, and the pod failed. */
  preemptPod(namespace: string, name: string, reason?: string): void;
  /** PodScheduled=False/Unschedulable with the scheduler's message. */
  markUnschedulable(namespace: string, name: string, message: string): void;
  setPodLog(namespace: string, name: string, text: string): void;
  /** Merge into a custom object's status (its operator's part). */
  setCustomStatus(resource: Resource, namespace: string, name: string, status: Obj): void;
  /** What the controllers would do once an additional service is up: all Deployment replicas ready, Endpoints with an address, Pod Running and ready. */
  markReady(resource: "deployments" | "services" | "pods", namespace: string, name: string): void;
  /** Create a pod as a controller would (name, labels, ownerReferences and spec given). */
  addPod(namespace: string, pod: Obj): Obj;
  /** Called after an object of `resource` is created (the test's stand-in for a controller). */
  onCreate(resource: Resource, handler: (obj: Obj) => void): void;
  /** Forget the event history: watches from any resourceVersion older than the current one now get 410 Expired. */
  compactHistory(): void;
  /** End every open watch stream, as an API server restart or load balancer timeout does. */
  closeWatches(): void;
  activeWatches(): number;
  resourceVersion(): number;
  /** Make the next matching request(s) fail with `code` (5xx: InternalError/ServiceUnavailable Status), before any effect. */
  injectFailure(f: InjectedFailure): void;
  /** Replace what the token may do; null allows everything. */
  setPermissions(rules: FakeRbacRule[] | null): void;
}

const clone = <T>(v: T): T => structuredClone(v);

function parseLabelSelector(sel: string): (labels: Record<string, string>) => boolean {
  const terms = sel
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => {
      let m: RegExpExecArray | null;
      if ((m = /^([^!=\s]+)\s*!=\s*(.*)$/.exec(t))) {
        const [, k, v] = m;
        return (l: Record<string, string>) => l[k!] !== v;
      }
      if ((m = /^([^!=\s]+)\s*==?\s*(.*)$/.exec(t))) {
        const [, k, v] = m;
        return (l: Record<string, string>) => l[k!] === v;
      }
      if ((m = /^!([^!=\s]+)$/.exec(t))) {
        const k = m[1]!;
        return (l: Record<string, string>) => !(k in l);
      }
      if (/^[A-Za-z0-9./_-]+$/.test(t)) return (l: Record<string, string>) => t in l;
      throw badRequest(`unable to parse requirement: ${JSON.stringify(t)}: this fake supports =, ==, != and existence selectors`);
    });
  return (labels) => terms.every((f) => f(labels));
}

function parseFieldSelector(sel: string): (obj: Obj) => boolean {
  const terms = sel
    .split(",")
    .filter(Boolean)
    .map((t) => {
      const m = /^(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*)$/.exec(t.trim());
      if (!m) throw badRequest(`"${t.split(/[=!]/)[0]}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
      const [, field, op, value] = m;
      const key = field === "metadata.name" ? "name" : "namespace";
      return (o: Obj) => (((o.metadata as Obj)[key] === value) === (op !== "!="));
    });
  return (o) => terms.every((f) => f(o));
}

export async function startFakeKube(opts: FakeKubeOptions = {}): Promise<FakeKube> {
  const token = `fake-${randomUUID()}`;
  const namespaces = new Set(opts.namespaces ?? ["default", "wandb"]);
  const store = new Map<string, Obj>();
  const logs = new Map<string, string>();
  const history: StoredEvent[] = [];
  const watchers = new Set<Watcher>();
  const createHooks = new Map<Resource, ((obj: Obj) => void)[]>();
  const requests: RecordedRequest[] = [];
  const failures: (InjectedFailure & { left: number })[] = [];
  const warnings: string[] = [];
  const crds = new Map<string, CrdFixture>((opts.crds ?? []).map((c) => [`${c.plural}.${c.group}`, c]));
  const info = (r: Resource): ResourceInfo => {
    const builtin = (RESOURCES as Record<string, ResourceInfo>)[r];
    if (builtin) return builtin;
    const c = crds.get(r);
    if (!c) throw new Error(`fake kube: unknown resource ${r}`);
    return { group: c.group, plural: c.plural, kind: c.kind, apiVersion: `${c.group}/${c.version}`, listKind: c.listKind };
  };
  let rv = 1000;
  let oldestRetained = rv;
  let permissions: FakeRbacRule[] | null = opts.permissions ?? null;

  const key = (r: Resource, ns: string, name: string) => `${r}/${ns}/${name}`;
  const meta = (o: Obj) => o.metadata as Obj;

  function emit(resource: Resource, type: EventType, obj: Obj) {
    const ns = meta(obj).namespace as string;
    history.push({ rv, resource, namespace: ns, type, object: clone(obj) });
    for (const w of watchers) if (w.resource === resource && w.namespace === ns && w.matches(obj)) w.send(type, obj);
  }

  function put(resource: Resource, obj: Obj, type: EventType) {
    rv += 1;
    const m = meta(obj);
    m.resourceVersion = String(rv);
    if (type === "MODIFIED" && resource === "jobs") m.generation = Number(m.generation ?? 1);
    store.set(key(resource, m.namespace as string, m.name as string), obj);
    emit(resource, type, obj);
  }

  function remove(resource: Resource, ns: string, name: string): Obj {
    const k = key(resource, ns, name);
    const obj = store.get(k);
    if (!obj) throw notFound(info(resource), name);
    store.delete(k);
    rv += 1;
    meta(obj).resourceVersion = String(rv);
    emit(resource, "DELETED", obj);
    return obj;
  }

  function mustGet(resource: Resource, ns: string, name: string): Obj {
    const o = store.get(key(resource, ns, name));
    if (!o) throw notFound(info(resource), name);
    return o;
  }

  /** The pretend Job controller: one pod per Job, labelled as the real controller labels them. */
  function createPodFor(job: Obj) {
    const jm = meta(job);
    const template = (job.spec as Obj).template as Obj;
    const tmeta = isObj(template.metadata) ? template.metadata : {};
    const uid = jm.uid as string;
    const name = nameFromGenerateName(`${jm.name as string}-`);
    const pod: Obj = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: jm.namespace,
        uid: randomUUID(),
        creationTimestamp: new Date().toISOString(),
        labels: {
          ...((tmeta.labels as Record<string, string>) ?? {}),
          "batch.kubernetes.io/controller-uid": uid,
          "batch.kubernetes.io/job-name": jm.name,
          "controller-uid": uid,
          "job-name": jm.name,
        },
        ...(isObj(tmeta.annotations) ? { annotations: clone(tmeta.annotations) } : {}),
        ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: jm.name, uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: clone(template.spec),
      status: { phase: "Pending", conditions: [] },
    };
    put("pods", pod, "ADDED");
    const st = (job.status ?? {}) as Obj;
    job.status = { ...st, active: 1, startTime: new Date().toISOString() };
    put("jobs", job, "MODIFIED");
  }

  function checkNamespace(ns: string) {
    if (!namespaces.has(ns)) throw notFound(namespaceResource, ns);
  }

  function create(resource: Resource, ns: string, body: unknown, fieldValidation?: string): Obj {
    // Endpoints belong to the endpoints controller here (created with their Service).
    if (resource === "endpoints") throw methodNotAllowed();
    if (!isObj(body)) throw badRequest("the body of the request must be a JSON object");
    const ri = info(resource);
    if (body.apiVersion !== undefined && body.apiVersion !== ri.apiVersion) {
      throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${ri.apiVersion})`);
    }
    if (body.kind !== undefined && body.kind !== ri.kind) throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (${ri.kind})`);
    // Custom objects must say what they are (the built-in types default it from the URL).
    if (crds.has(resource) && (body.apiVersion === undefined || body.kind === undefined)) throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
    const obj = clone(body);
    obj.apiVersion = ri.apiVersion;
    obj.kind = ri.kind;
    const m: Obj = isObj(obj.metadata) ? obj.metadata : {};
    obj.metadata = m;
    if (m.namespace !== undefined && m.namespace !== ns) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    m.namespace = ns;
    if ((m.name === undefined || m.name === "") && typeof m.generateName === "string" && m.generateName) m.name = nameFromGenerateName(m.generateName);
    if (resource === "secrets" && isObj(obj.stringData)) {
      obj.data = { ...((obj.data as Obj) ?? {}), ...Object.fromEntries(Object.entries(obj.stringData).map(([k, v]) => [k, Buffer.from(String(v)).toString("base64")])) };
    }
    const crd = crds.get(resource);
    let causes;
    if (crd) {
      const checked = checkCustomObject(obj, crd.schema);
      if (checked.unknown.length > 0) {
        const list = checked.unknown.map((f) => `unknown field "${f.replace(/^\./, "")}"`);
        if (fieldValidation === "Strict") throw badRequest(`${crd.kind} in version "${crd.version}" cannot be handled as a ${crd.kind}: strict decoding error: ${list.join(", ")}`);
        warnings.push(...list);
      }
      Object.assign(obj, checked.pruned);
      for (const k of Object.keys(obj)) if (!(k in (checked.pruned as Obj))) delete obj[k];
      causes = [...validateMeta(m, 253), ...checked.causes];
    } else {
      if (SCHEMA_CHECKED.has(resource)) {
        const unknown = unknownFields(obj, ri.kind).map((f) => `unknown field "${f.replace(/^\./, "")}"`);
        if (unknown.length && fieldValidation === "Strict") throw badRequest(`${ri.kind} in version "v1" cannot be handled as a ${ri.kind}: strict decoding error: ${unknown.join(", ")}`);
        warnings.push(...unknown);
        for (const f of unknownFields(obj, ri.kind)) {
          const [, a, b] = f.split(".") as [string, string, string | undefined];
          if (b === undefined) delete obj[a];
          else delete (obj[a] as Obj)[b];
        }
      }
      const validators: Record<string, (o: Obj) => ReturnType<typeof validateJob>> = {
        jobs: validateJob,
        secrets: validateSecret,
        configmaps: validateConfigMap,
        deployments: validateDeployment,
        services: validateService,
        pods: validatePod,
      };
      causes = validators[resource]!(obj);
    }
    if (causes.length) throw invalid(ri, String(m.name ?? m.generateName ?? ""), causes);
    delete obj.stringData;
    if (resource === "secrets" && obj.type === undefined) obj.type = "Opaque";
    checkNamespace(ns);
    if (store.has(key(resource, ns, m.name as string))) throw alreadyExists(ri, m.name as string);
    m.uid = randomUUID();
    m.creationTimestamp = new Date().toISOString();
    if (resource === "jobs") {
      m.generation = 1;
      obj.status = {};
      const spec = obj.spec as Obj;
      // Defaults the API server fills in, so reads look like a cluster's.
      spec.backoffLimit ??= 6;
      spec.completions ??= 1;
      spec.parallelism ??= 1;
      spec.completionMode ??= "NonIndexed";
      const tm = ((spec.template as Obj).metadata ??= {}) as Obj;
      const labels = (tm.labels ??= {}) as Record<string, string>;
      labels["batch.kubernetes.io/controller-uid"] = m.uid as string;
      labels["batch.kubernetes.io/job-name"] = m.name as string;
      labels["controller-uid"] = m.uid as string;
      labels["job-name"] = m.name as string;
    }
    if (resource === "deployments") {
      m.generation = 1;
      const spec = obj.spec as Obj;
      spec.replicas ??= 1;
      obj.status = {};
    }
    if (resource === "pods") obj.status = { phase: "Pending", conditions: [] };
    put(resource, obj, "ADDED");
    if (resource === "jobs") createPodFor(obj);
    // The endpoints controller: an Endpoints object of the same name, without addresses until a pod is ready.
    if (resource === "services") {
      put("endpoints", { apiVersion: "v1", kind: "Endpoints", metadata: { name: m.name, namespace: ns, uid: randomUUID(), creationTimestamp: new Date().toISOString(), labels: { ...((m.labels as Obj) ?? {}) } } }, "ADDED");
    }
    for (const h of createHooks.get(resource) ?? []) h(clone(obj));
    return store.get(key(resource, ns, m.name as string))!;
  }

  function replace(resource: Resource, ns: string, name: string, body: unknown): Obj {
    if (resource === "pods" || resource === "jobs") throw methodNotAllowed();
    if (!isObj(body)) throw badRequest("the body of the request must be a JSON object");
    const ri = info(resource);
    const current = mustGet(resource, ns, name);
    const obj = clone(body);
    const m: Obj = isObj(obj.metadata) ? obj.metadata : {};
    obj.metadata = m;
    if (m.name !== name) throw badRequest(`the name of the object (${String(m.name)}) does not match the name on the URL (${name})`);
    if (m.namespace !== undefined && m.namespace !== ns) throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
    m.namespace = ns;
    const cm = meta(current);
    if (m.resourceVersion !== undefined && m.resourceVersion !== cm.resourceVersion) throw conflict(ri, name);
    if (resource === "secrets" && isObj(obj.stringData)) {
      obj.data = { ...((obj.data as Obj) ?? {}), ...Object.fromEntries(Object.entries(obj.stringData).map(([k, v]) => [k, Buffer.from(String(v)).toString("base64")])) };
      delete obj.stringData;
    }
    const causes = resource === "secrets" ? validateSecret(obj) : validateConfigMap(obj);
    if (current.immutable === true && JSON.stringify(current.data ?? {}) !== JSON.stringify(obj.data ?? {})) {
      causes.push({ reason: "FieldValueForbidden", message: "Forbidden: field is immutable when `immutable` is set", field: "data" });
    }
    if (resource === "secrets" && (current.type ?? "Opaque") !== (obj.type ?? "Opaque")) {
      causes.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(obj.type)}: field is immutable`, field: "type" });
    }
    if (causes.length) throw invalid(ri, name, causes);
    obj.apiVersion = ri.apiVersion;
    obj.kind = ri.kind;
    m.uid = cm.uid;
    m.creationTimestamp = cm.creationTimestamp;
    if (resource === "secrets") obj.type ??= "Opaque";
    put(resource, obj, "MODIFIED");
    return obj;
  }

  function deleteObject(resource: Resource, ns: string, name: string, propagation: string | undefined): Obj {
    const ri = info(resource);
    if (propagation !== undefined && !["Background", "Foreground", "Orphan"].includes(propagation)) {
      throw invalid(ri, name, [{ reason: "FieldValueNotSupported", message: `Unsupported value: ${JSON.stringify(propagation)}: supported values: "Foreground", "Background", "Orphan"`, field: "propagationPolicy" }]);
    }
    const obj = remove(resource, ns, name);
    if (resource === "services" && store.has(key("endpoints", ns, name))) remove("endpoints", ns, name);
    if (resource === "jobs" || crds.has(resource)) {
      const uid = meta(obj).uid;
      // batch/v1 Jobs default to orphaning their pods when deleted through the API; custom objects to Background.
      const cascade = propagation === undefined ? resource !== "jobs" : propagation === "Background" || propagation === "Foreground";
      // The garbage collector: dependents (pods, and anything else naming the owner) go or are orphaned.
      for (const [k, dep] of [...store.entries()].filter(([, o]) => meta(o).namespace === ns)) {
        const owners = (meta(dep).ownerReferences as Obj[] | undefined) ?? [];
        if (!owners.some((r) => r.uid === uid)) continue;
        const r = k.slice(0, k.indexOf("/"));
        const rest = owners.filter((o) => o.uid !== uid);
        // A dependent goes only when its last owner goes.
        if (cascade && rest.length === 0) remove(r, ns, meta(dep).name as string);
        else {
          if (rest.length) meta(dep).ownerReferences = rest;
          else delete meta(dep).ownerReferences;
          put(r, dep, "MODIFIED");
        }
      }
    }
    return obj;
  }

  function listMatching(resource: Resource, ns: string, query: Record<string, string>): Obj[] {
    const byLabel = query.labelSelector ? parseLabelSelector(query.labelSelector) : () => true;
    const byField = query.fieldSelector ? parseFieldSelector(query.fieldSelector) : () => true;
    return [...store.entries()]
      .filter(([k]) => k.startsWith(`${resource}/`))
      .map(([, o]) => o)
      .filter((o) => meta(o).namespace === ns && byLabel((meta(o).labels as Record<string, string>) ?? {}) && byField(o));
  }

  function startWatch(resource: Resource, ns: string, query: Record<string, string>, res: ServerResponse) {
    const byLabel = query.labelSelector ? parseLabelSelector(query.labelSelector) : () => true;
    const byField = query.fieldSelector ? parseFieldSelector(query.fieldSelector) : () => true;
    const matches = (o: Obj) => byLabel((meta(o).labels as Record<string, string>) ?? {}) && byField(o);
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    const send = (type: string, obj: Obj) => res.write(JSON.stringify({ type, object: obj }) + "\n");
    const from = query.resourceVersion;
    if (from !== undefined && from !== "" && from !== "0") {
      const n = Number(from);
      if (!Number.isInteger(n)) {
        res.end(JSON.stringify({ type: "ERROR", object: badRequest(`invalid resource version: ${from}`).body }) + "\n");
        return;
      }
      if (n < oldestRetained) {
        // What a real API server does when the watch cache no longer has that version.
        res.end(JSON.stringify({ type: "ERROR", object: gone(from).body }) + "\n");
        return;
      }
      for (const e of history) if (e.rv > n && e.resource === resource && e.namespace === ns && matches(e.object)) send(e.type, e.object);
    } else {
      for (const o of listMatching(resource, ns, query)) send("ADDED", o);
    }
    let timer: NodeJS.Timeout | undefined;
    const watcher: Watcher = {
      resource,
      namespace: ns,
      matches,
      send,
      close: () => {
        clearTimeout(timer);
        watchers.delete(watcher);
        res.end();
      },
    };
    watchers.add(watcher);
    const timeout = Number(query.timeoutSeconds ?? 1800);
    timer = setTimeout(() => watcher.close(), timeout * 1000);
    res.on("close", () => {
      clearTimeout(timer);
      watchers.delete(watcher);
    });
  }

  async function readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    if (!text) return undefined;
    const type = req.headers["content-type"] ?? "";
    if (!/json/.test(type)) throw unsupportedMediaType(type || "none");
    try {
      return JSON.parse(text);
    } catch {
      throw badRequest("the body of the request could not be decoded as JSON");
    }
  }

  const ROUTE = /^\/(api\/v1|apis\/batch\/v1|apis\/apps\/v1)\/namespaces\/([^/]+)\/(jobs|pods|secrets|configmaps|deployments|services|endpoints)(?:\/([^/]+))?(?:\/(status|log))?$/;
  /** API discovery (an APIResourceList per group version), which the generic object client reads to map kinds to paths. */
  const DISCOVERY: Record<string, string> = { "/api/v1": "v1", "/apis/batch/v1": "batch/v1", "/apis/apps/v1": "apps/v1" };

  const CUSTOM_ROUTE = /^\/apis\/([^/]+)\/([^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/;

  function handleCustom(_req: IncomingMessage, res: ServerResponse, method: string, query: Record<string, string>, body: unknown, m: RegExpExecArray) {
    const [, group, version, ns, plural, name, sub] = m as unknown as [string, string, string, string, string, string | undefined, string | undefined];
    const resource = `${plural}.${group}`;
    const crd = crds.get(resource);
    if (!crd || crd.version !== version) throw pathNotFound();
    const json = (code: number, obj: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(code, { "content-type": "application/json", ...headers });
      res.end(JSON.stringify(obj));
    };
    if (!name) {
      if (method === "GET") {
        if (query.watch === "true" || query.watch === "1") return startWatch(resource, ns, query, res);
        return json(200, { kind: crd.listKind, apiVersion: `${group}/${version}`, metadata: { resourceVersion: String(rv) }, items: listMatching(resource, ns, query) });
      }
      if (method === "POST") {
        const before = warnings.length;
        const created = create(resource, ns, body, query.fieldValidation);
        const added = warnings.slice(before);
        return json(201, created, added.length ? { warning: added.map((w) => `299 - ${JSON.stringify(w)}`).join(", ") } : {});
      }
      throw methodNotAllowed();
    }
    if (method === "GET") return json(200, mustGet(resource, ns, name));
    if (method === "DELETE" && !sub) {
      const opts = isObj(body) ? body : {};
      const propagation = query.propagationPolicy ?? (typeof opts.propagationPolicy === "string" ? opts.propagationPolicy : undefined);
      const obj = deleteObject(resource, ns, name, propagation);
      return json(200, success(info(resource), name, meta(obj).uid as string));
    }
    throw methodNotAllowed();
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams.entries());
    const method = req.method ?? "GET";
    const record: RecordedRequest = { method, path: url.pathname, query };
    requests.push(record);
    if (req.headers.authorization !== `Bearer ${token}`) throw unauthorized();
    const injected = failures.find((f) => f.left > 0 && f.method === method && f.path.test(url.pathname));
    if (injected) {
      injected.left -= 1;
      throw new ApiError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: "injected failure", reason: injected.code === 503 ? "ServiceUnavailable" : "InternalError", code: injected.code });
    }
    const body = method === "POST" || method === "PUT" || method === "DELETE" ? await readBody(req) : undefined;
    if (body !== undefined) record.body = body;
    if (url.pathname === "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") {
      if (method !== "POST") throw methodNotAllowed();
      const answered = selfSubjectAccessReview(body, permissions);
      res.writeHead(201, { "content-type": "application/json" });
      return res.end(JSON.stringify(answered));
    }
    const discovered = DISCOVERY[url.pathname];
    if (discovered !== undefined) {
      if (method !== "GET") throw methodNotAllowed();
      const resources = Object.values(RESOURCES)
        .filter((r) => r.apiVersion === discovered)
        .map((r) => ({ name: r.plural, singularName: r.kind.toLowerCase(), namespaced: true, kind: r.kind, verbs: ["create", "delete", "get", "list", "watch"] }));
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ kind: "APIResourceList", apiVersion: "v1", groupVersion: discovered, resources }));
    }
    const custom = CUSTOM_ROUTE.exec(url.pathname);
    if (custom && custom[1] !== "batch" && custom[1] !== "apps") {
      const [, group, , ns, plural, name, sub] = custom as unknown as [string, string, string, string, string, string | undefined, string | undefined];
      const watchingCustom = query.watch === "true" || query.watch === "1";
      const verb = { GET: name ? "get" : watchingCustom ? "watch" : "list", POST: "create", PUT: "update", DELETE: "delete", PATCH: "patch" }[method] ?? method.toLowerCase();
      const access = { verb, group, resource: sub ? `${plural}/${sub}` : plural, namespace: ns };
      if (!allowed(permissions, access)) throw forbidden(access, name);
      return handleCustom(req, res, method, query, body, custom);
    }
    const m = ROUTE.exec(url.pathname);
    if (!m) throw pathNotFound();
    const [, prefix, ns, resName, name, sub] = m as unknown as [string, string, string, Resource, string | undefined, string | undefined];
    const watching = query.watch === "true" || query.watch === "1";
    const verb = { GET: name ? "get" : watching ? "watch" : "list", POST: "create", PUT: "update", DELETE: "delete", PATCH: "patch" }[method] ?? method.toLowerCase();
    const access = { verb, group: info(resName).group, resource: sub ? `${resName}/${sub}` : resName, namespace: ns };
    if (!allowed(permissions, access)) throw forbidden(access, name);
    if (prefix !== (info(resName).group ? `apis/${info(resName).apiVersion}` : "api/v1")) throw pathNotFound();
    if (sub === "status" && resName !== "jobs") throw pathNotFound();
    if (sub === "log" && resName !== "pods") throw pathNotFound();
    const json = (code: number, obj: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(obj));
    };
    if (!name) {
      if (method === "GET") {
        if (query.watch === "true" || query.watch === "1") return startWatch(resName, ns, query, res);
        const items = listMatching(resName, ns, query);
        return json(200, { kind: info(resName).listKind, apiVersion: info(resName).apiVersion, metadata: { resourceVersion: String(rv) }, items });
      }
      if (method === "POST") {
        const before = warnings.length;
        const created = create(resName, ns, body, query.fieldValidation);
        const added = warnings.slice(before);
        res.writeHead(201, { "content-type": "application/json", ...(added.length ? { warning: added.map((w) => `299 - ${JSON.stringify(w)}`).join(", ") } : {}) });
        return res.end(JSON.stringify(created));
      }
      throw methodNotAllowed();
    }
    if (sub === "log") {
      if (method !== "GET") throw methodNotAllowed();
      const pod = mustGet("pods", ns, name);
      const containers = ((pod.spec as Obj).containers as Obj[]).map((c) => c.name as string);
      const container = query.container ?? (containers.length === 1 ? containers[0] : undefined);
      if (container === undefined) throw badRequest(`a container name must be specified for pod ${name}, choose one of: [${containers.join(" ")}]`);
      if (!containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
      if ((pod.status as Obj).phase === "Pending") throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ContainerCreating`);
      res.writeHead(200, { "content-type": "text/plain" });
      return res.end(logs.get(key("pods", ns, name)) ?? "");
    }
    switch (method) {
      case "GET":
        return json(200, mustGet(resName, ns, name));
      case "PUT":
        if (sub) throw methodNotAllowed();
        return json(200, replace(resName, ns, name, body));
      case "DELETE": {
        if (sub) throw methodNotAllowed();
        const opts = isObj(body) ? body : {};
        const propagation = query.propagationPolicy ?? (typeof opts.propagationPolicy === "string" ? opts.propagationPolicy : undefined);
        const obj = deleteObject(resName, ns, name, propagation);
        return json(200, resName === "jobs" ? obj : success(info(resName), name, meta(obj).uid as string));
      }
      default:
        throw methodNotAllowed();
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      const body = err instanceof ApiError ? err.body : { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: String(err), reason: "InternalError", code: 500 };
      res.writeHead(body.code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const contextNamespace = opts.contextNamespace ?? "default";
  const kubeconfig: KubeconfigObject = {
    clusters: [{ name: "fake", server: url, skipTLSVerify: true }],
    users: [{ name: "fake-user", token }],
    contexts: [{ name: "fake", cluster: "fake", user: "fake-user", namespace: contextNamespace }],
    currentContext: "fake",
  };
  const dir = await mkdtemp(join(tmpdir(), "fake-kube-"));
  const kubeconfigPath = join(dir, "kubeconfig");
  await writeFile(
    kubeconfigPath,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "fake", cluster: { server: url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "fake-user", user: { token } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "fake-user", namespace: contextNamespace } }],
      "current-context": "fake",
    }),
    { mode: 0o600 },
  );

  const setPod = (ns: string, name: string, mutate: (pod: Obj) => void) => {
    const pod = mustGet("pods", ns, name);
    mutate(pod);
    put("pods", pod, "MODIFIED");
  };
  const fake: FakeKube = {
    url,
    token,
    kubeconfig,
    kubeconfigPath,
    requests,
    warnings,
    async close() {
      for (const w of [...watchers]) w.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
    get: (r, ns, name) => {
      const o = store.get(key(r, ns, name));
      return o ? clone(o) : undefined;
    },
    list: (r, ns) => [...store.entries()].filter(([k, o]) => k.startsWith(`${r}/`) && (ns === undefined || meta(o).namespace === ns)).map(([, o]) => clone(o)),
    setJobStatus(ns, name, status) {
      const job = mustGet("jobs", ns, name);
      job.status = { ...((job.status as Obj) ?? {}), ...status };
      put("jobs", job, "MODIFIED");
    },
    succeedJob(ns, name) {
      for (const pod of fake.podsOfJob(ns, name)) setPod(ns, meta(pod).name as string, (p) => ((p.status as Obj).phase = "Succeeded"));
      const now = new Date().toISOString();
      fake.setJobStatus(ns, name, { active: 0, succeeded: 1, completionTime: now, conditions: [{ type: "Complete", status: "True", lastTransitionTime: now }] });
    },
    failJob(ns, name, reason = "BackoffLimitExceeded", message = "Job has reached the specified backoff limit") {
      for (const pod of fake.podsOfJob(ns, name)) setPod(ns, meta(pod).name as string, (p) => ((p.status as Obj).phase = "Failed"));
      fake.setJobStatus(ns, name, { active: 0, failed: 1, conditions: [{ type: "Failed", status: "True", reason, message, lastTransitionTime: new Date().toISOString() }] });
    },
    podsOfJob: (ns, job) => listMatching("pods", ns, { labelSelector: `job-name=${job}` }).map(clone),
    updatePod: setPod,
    setPodPhase: (ns, name, phase) => setPod(ns, name, (p) => ((p.status as Obj).phase = phase)),
    preemptPod(ns, name, reason = "PreemptionByScheduler") {
      setPod(ns, name, (p) => {
        const st = p.status as Obj;
        st.phase = "Failed";
        st.conditions = [
          ...((st.conditions as Obj[]) ?? []),
          { type: "DisruptionTarget", status: "True", reason, message: "the pod was disrupted", lastTransitionTime: new Date().toISOString() },
        ];
      });
    },
    markUnschedulable(ns, name, message) {
      setPod(ns, name, (p) => {
        const st = p.status as Obj;
        st.phase = "Pending";
        st.conditions = [
          ...((st.conditions as Obj[]) ?? []).filter((c) => c.type !== "PodScheduled"),
          { type: "PodScheduled", status: "False", reason: "Unschedulable", message, lastTransitionTime: new Date().toISOString() },
        ];
      });
    },
    setPodLog: (ns, name, text) => void logs.set(key("pods", ns, name), text),
    markReady(r, ns, name) {
      const obj = mustGet(r, ns, name);
      if (r === "services") {
        const ep = mustGet("endpoints", ns, name);
        ep.subsets = [{ addresses: [{ ip: "10.0.0.7" }], ports: ((obj.spec as Obj).ports as Obj[] | undefined)?.map((p) => ({ port: p.targetPort ?? p.port, protocol: "TCP" })) ?? [] }];
        return put("endpoints", ep, "MODIFIED");
      }
      if (r === "deployments") {
        const replicas = Number((obj.spec as Obj).replicas ?? 1);
        obj.status = { observedGeneration: 1, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas };
      } else {
        const containers = ((obj.spec as Obj).containers as Obj[]).map((c) => ({ name: c.name, ready: true, started: true, image: c.image, state: { running: { startedAt: new Date().toISOString() } } }));
        obj.status = { phase: "Running", conditions: [{ type: "Ready", status: "True" }], containerStatuses: containers };
      }
      put(r, obj, "MODIFIED");
    },
    setCustomStatus(r, ns, name, status) {
      const obj = mustGet(r, ns, name);
      obj.status = { ...((obj.status as Obj) ?? {}), ...status };
      put(r, obj, "MODIFIED");
    },
    addPod(ns, pod) {
      const obj = clone(pod);
      const m = obj.metadata as Obj;
      m.namespace = ns;
      m.uid = randomUUID();
      m.creationTimestamp = new Date().toISOString();
      obj.apiVersion = "v1";
      obj.kind = "Pod";
      obj.status ??= { phase: "Pending", conditions: [] };
      put("pods", obj, "ADDED");
      return clone(obj);
    },
    onCreate(resource, handler) {
      createHooks.set(resource, [...(createHooks.get(resource) ?? []), handler]);
    },
    compactHistory() {
      // Like etcd compaction: only the current resourceVersion (what a fresh list returns) can be watched from.
      history.length = 0;
      oldestRetained = rv;
    },
    closeWatches() {
      for (const w of [...watchers]) w.close();
    },
    activeWatches: () => watchers.size,
    resourceVersion: () => rv,
    injectFailure: (f) => void failures.push({ ...f, left: f.times ?? 1 }),
    setPermissions(rules) {
      permissions = rules;
    },
  };
  return fake;
}
