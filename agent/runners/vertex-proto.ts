import { createRequire } from "node:module";
import { LaunchError } from "../errors.js";

/**
 * The Vertex AI messages as the client library describes them (its protobuf JSON descriptor), so a
 * queue's `resource_args.vertex` is checked field by field the way the official agent's proto-plus
 * classes check it: an unknown field is an error naming it, not silently dropped as protobufjs would.
 */

export interface ProtoField {
  type: string;
  rule?: "repeated";
  keyType?: string;
  options?: Record<string, unknown>;
}
export interface ProtoNode {
  fields?: Record<string, ProtoField>;
  values?: Record<string, number>;
  nested?: Record<string, ProtoNode>;
  oneofs?: Record<string, { oneof: string[] }>;
}

export const AIPLATFORM_V1 = "google.cloud.aiplatform.v1";

let cached: ProtoNode | null = null;
/** The descriptor shipped with @google-cloud/aiplatform (4 MB; loaded once, when a Vertex run starts). */
export function aiplatformDescriptor(): ProtoNode {
  cached ??= createRequire(import.meta.url)("@google-cloud/aiplatform/build/protos/protos.json") as ProtoNode;
  return cached;
}

function at(root: ProtoNode, path: readonly string[]): ProtoNode | undefined {
  let node: ProtoNode | undefined = root;
  for (const part of path) node = node?.nested?.[part];
  return node;
}

/** protobufjs' lookup: a type name is resolved from the referring type's scope outwards. Returns the full path. */
export function resolveType(root: ProtoNode, scope: readonly string[], name: string): string[] {
  const parts = name.replace(/^\./, "").split(".");
  for (let i = scope.length; i >= 0; i--) {
    const candidate = [...scope.slice(0, i), ...parts];
    if (at(root, candidate)) return candidate;
  }
  throw new Error(`type ${name} not found from ${scope.join(".")}`);
}

export function node(root: ProtoNode, path: readonly string[]): ProtoNode {
  const n = at(root, path);
  if (!n) throw new Error(`no type ${path.join(".")}`);
  return n;
}

export const snakeToCamel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
export const camelToSnake = (s: string): string => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

const SCALARS = new Set(["string", "bytes", "bool", "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32", "sfixed64"]);

/**
 * `value` (proto field names in snake_case, as the Python SDK takes them; lowerCamel JSON names are
 * accepted too) as the client library's message object for `type`. Throws a LaunchError naming the
 * path of the first field that is unknown or of the wrong kind, with the fields that exist there.
 */
export function toMessage(value: unknown, typePath: readonly string[], where: string, root = aiplatformDescriptor()): Record<string, unknown> {
  const type = node(root, typePath);
  const typeName = typePath.join(".");
  if (typeName === "google.protobuf.Duration") return duration(value, where);
  if (typeName === "google.protobuf.Struct" || typeName === "google.protobuf.Value" || typeName === "google.protobuf.Timestamp") return value as Record<string, unknown>;
  if (!isObj(value)) throw bad(where, `must be a mapping (a ${typePath.at(-1)}), got ${describe(value)}`);
  const fields = type.fields ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(value)) {
    const name = snakeToCamel(key);
    const field = fields[name];
    const path = `${where}.${key}`;
    if (!field) {
      throw bad(path, `is not a field of ${typePath.at(-1)}; its fields are: ${Object.keys(fields).map(camelToSnake).join(", ")}`);
    }
    if (raw === null || raw === undefined) continue;
    if (field.keyType) {
      if (!isObj(raw)) throw bad(path, `must be a mapping, got ${describe(raw)}`);
      out[name] = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, single(v, field, typePath, `${path}.${k}`, root)]));
    } else if (field.rule === "repeated") {
      if (!Array.isArray(raw)) throw bad(path, `must be a list, got ${describe(raw)}`);
      out[name] = raw.map((v, i) => single(v, field, typePath, `${path}[${i}]`, root));
    } else {
      out[name] = single(raw, field, typePath, path, root);
    }
  }
  return out;
}

function single(value: unknown, field: ProtoField, scope: readonly string[], where: string, root: ProtoNode): unknown {
  if (SCALARS.has(field.type)) return scalar(value, field.type, where);
  const path = resolveType(root, scope, field.type);
  const target = node(root, path);
  if (target.values) {
    if (typeof value === "string" && value in target.values) return value;
    if (typeof value === "number" && Object.values(target.values).includes(value)) return value;
    throw bad(where, `${JSON.stringify(value)} is not one of ${Object.keys(target.values).join(", ")}`);
  }
  return toMessage(value, path, where, root);
}

function scalar(value: unknown, type: string, where: string): unknown {
  if (type === "string" || type === "bytes") {
    if (typeof value !== "string") throw bad(where, `must be a string, got ${describe(value)}`);
    return value;
  }
  if (type === "bool") {
    if (typeof value !== "boolean") throw bad(where, `must be true or false, got ${describe(value)}`);
    return value;
  }
  // Integers may come as strings (JSON's int64 form); floats as numbers.
  if (typeof value === "number" && Number.isFinite(value)) {
    if (type !== "double" && type !== "float" && !Number.isInteger(value)) throw bad(where, `must be a whole number, got ${value}`);
    return value;
  }
  if (typeof value === "string" && /^-?\d+$/.test(value) && type !== "double" && type !== "float") return value;
  throw bad(where, `must be a number, got ${describe(value)}`);
}

/** A Duration as `{seconds, nanos}` (proto-plus dicts), a number of seconds, or the JSON form "3600s". */
function duration(value: unknown, where: string): Record<string, unknown> {
  if (typeof value === "number" && Number.isFinite(value) && value >= 0) return { seconds: Math.trunc(value) };
  if (typeof value === "string") {
    const m = /^(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
    if (m) return { seconds: Number(m[1]), ...(m[2] ? { nanos: Number(m[2].padEnd(9, "0")) } : {}) };
  }
  if (isObj(value) && Object.keys(value).every((k) => k === "seconds" || k === "nanos")) return value;
  throw bad(where, `must be a duration: seconds as a number, "3600s", or {seconds: 3600}; got ${describe(value)}`);
}

function bad(where: string, problem: string): LaunchError {
  return new LaunchError(`resource_args.${where} ${problem}`, "agent");
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}
