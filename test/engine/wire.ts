// Pulumi's property encoding on the wire (google.protobuf.Struct with "signature" objects), as the engine's
// plugin.UnmarshalProperties/MarshalProperties read and write it. Decoding turns a request's properties into plain
// values plus the paths that were secret or unknown; encoding builds a response the SDK deserializes.
import { createRequire } from "node:module";
import type * as structPb from "google-protobuf/google/protobuf/struct_pb.js";

// The Struct class of the google-protobuf copy the SDK's generated messages use (instances must match it).
const requireFromSdk = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi/package.json"));
export const { Struct } = requireFromSdk("google-protobuf/google/protobuf/struct_pb") as typeof structPb;
export type Struct = structPb.Struct;

export const SIG = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e";
const OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4";
const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";
const ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7";
/** The value the SDK sends (and expects back) for a property not known until `up`. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export type Obj = Record<string, unknown>;

export interface Decoded {
  /** The properties with secrets unwrapped; unknowns stay `UNKNOWN`; a resource reference becomes `{ urn, id }`. */
  value: Obj;
  /** Dotted paths whose value was secret. */
  secretPaths: string[];
  /** Dotted paths whose value was unknown (preview). */
  unknownPaths: string[];
}

const join = (path: string, key: string | number) => (path === "" ? String(key) : `${path}.${key}`);

function decodeValue(v: unknown, path: string, out: Decoded): unknown {
  if (v === UNKNOWN) {
    out.unknownPaths.push(path);
    return UNKNOWN;
  }
  if (Array.isArray(v)) return v.map((x, i) => decodeValue(x, join(path, i), out));
  if (v === null || typeof v !== "object") return v;
  const o = v as Obj;
  switch (o[SIG]) {
    case undefined:
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decodeValue(x, join(path, k), out)]));
    case SECRET_SIG:
      out.secretPaths.push(path);
      return decodeValue(o.value, path, out);
    case OUTPUT_SIG:
      if (o.secret === true) out.secretPaths.push(path);
      if (!("value" in o)) {
        out.unknownPaths.push(path);
        return UNKNOWN;
      }
      return decodeValue(o.value, path, out);
    case RESOURCE_SIG:
      return { urn: o.urn, ...(o.id !== undefined ? { id: decodeValue(o.id, join(path, "id"), out) } : {}) };
    case ASSET_SIG:
    case ARCHIVE_SIG:
      return o;
    default:
      throw new Error(`property ${path || "<root>"} has an unknown Pulumi signature ${String(o[SIG])}`);
  }
}

/** Decodes request properties (a Struct, or undefined for none). */
export function decode(struct: Struct | undefined): Decoded {
  const out: Decoded = { value: {}, secretPaths: [], unknownPaths: [] };
  out.value = decodeValue(struct?.toJavaScript() ?? {}, "", out) as Obj;
  return out;
}

/** Wraps the values at the given dotted paths as secrets (paths that do not exist are ignored). */
export function markSecrets(value: Obj, paths: string[]): Obj {
  const copy = structuredClone(value);
  for (const path of [...paths].sort((a, b) => b.length - a.length)) {
    const parts = path.split(".");
    let node: unknown = copy;
    for (const p of parts.slice(0, -1)) node = node !== null && typeof node === "object" ? (node as Obj)[p] : undefined;
    const last = parts[parts.length - 1]!;
    if (node !== null && typeof node === "object" && last in node) {
      const parent = node as Obj;
      parent[last] = { [SIG]: SECRET_SIG, value: parent[last] };
    }
  }
  return copy;
}

/** Encodes plain values (already carrying secret envelopes where wanted) as a Struct. */
export function encode(value: Obj): Struct {
  return Struct.fromJavaScript(value as Parameters<typeof Struct.fromJavaScript>[0]);
}

/** The value at a dotted path, or undefined. */
export function at(value: unknown, path: string): unknown {
  let node = value;
  for (const p of path.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Obj)[p];
  }
  return node;
}
