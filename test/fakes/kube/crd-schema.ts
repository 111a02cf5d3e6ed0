import type { StatusCause } from "./status.js";

/**
 * What the API server does with a custom object's body against its CRD's structural openAPIV3Schema:
 * unknown fields are collected (pruned by default, an error with fieldValidation=Strict), nulls of
 * non-nullable fields are dropped, and types, required fields, enums, bounds and formats are checked
 * with the server's message shapes. CEL rules (x-kubernetes-validations) are not evaluated.
 */

export interface CrdSchema {
  type?: string;
  properties?: Record<string, CrdSchema>;
  additionalProperties?: CrdSchema | boolean;
  items?: CrdSchema;
  required?: string[];
  enum?: unknown[];
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-embedded-resource"?: boolean;
}

export interface SchemaCheck {
  /** The object with unknown fields and non-nullable nulls removed. */
  pruned: unknown;
  /** Paths of unknown fields, like `.spec.foo`. */
  unknown: string[];
  causes: StatusCause[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  return typeof v;
}

/** Check `value` (a whole object; `metadata` is the server's business, not the schema's) against `schema`. */
export function checkCustomObject(value: Obj, schema: CrdSchema): SchemaCheck {
  const unknown: string[] = [];
  const causes: StatusCause[] = [];
  const invalid = (field: string, v: unknown, detail: string) =>
    causes.push({ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(v)}: ${detail}`, field });

  const walk = (v: unknown, s: CrdSchema, path: string): unknown => {
    const field = path.replace(/^\./, "");
    if (v === null) {
      if (s.nullable) return v;
      return undefined; // dropped, as the server prunes nulls of non-nullable fields
    }
    if (s["x-kubernetes-int-or-string"]) {
      if (typeof v !== "string" && typeOf(v) !== "integer") invalid(field, v, `${field} in body must be of type integer,string: "${typeOf(v)}"`);
      return v;
    }
    const t = typeOf(v);
    if (s.type && !(s.type === t || (s.type === "number" && t === "integer"))) {
      invalid(field, typeof v === "object" ? t : v, `${field} in body must be of type ${s.type}: "${t}"`);
      return v;
    }
    if (s.enum && !s.enum.some((e) => e === v)) {
      causes.push({ reason: "FieldValueNotSupported", message: `Unsupported value: ${JSON.stringify(v)}: supported values: ${s.enum.map((e) => JSON.stringify(e)).join(", ")}`, field });
    }
    if (typeof v === "number") {
      if (s.minimum !== undefined && v < s.minimum) invalid(field, v, `${field} in body should be greater than or equal to ${s.minimum}`);
      if (s.maximum !== undefined && v > s.maximum) invalid(field, v, `${field} in body should be less than or equal to ${s.maximum}`);
      if (s.format === "int32" && (v > 2147483647 || v < -2147483648)) invalid(field, v, `${field} in body must be of type int32`);
    }
    if (typeof v === "string") {
      if (s.minLength !== undefined && v.length < s.minLength) invalid(field, v, `${field} in body should be at least ${s.minLength} chars long`);
      if (s.maxLength !== undefined && v.length > s.maxLength) causes.push({ reason: "FieldValueTooLong", message: `Too long: may not be longer than ${s.maxLength}`, field });
      if (s.pattern !== undefined && !new RegExp(s.pattern).test(v)) invalid(field, v, `${field} in body should match '${s.pattern}'`);
    }
    if (Array.isArray(v)) {
      if (s.minItems !== undefined && v.length < s.minItems) invalid(field, v, `${field} in body should have at least ${s.minItems} items`);
      if (s.maxItems !== undefined && v.length > s.maxItems) causes.push({ reason: "FieldValueTooMany", message: `Too many: ${v.length}: must have at most ${s.maxItems} items`, field });
      return s.items ? v.map((x, i) => walk(x, s.items!, `${path}[${i}]`)).filter((x) => x !== undefined) : v;
    }
    if (isObj(v)) {
      for (const r of s.required ?? []) if (!(r in v) || v[r] === null) causes.push({ reason: "FieldValueRequired", message: "Required value", field: `${field ? `${field}.` : ""}${r}` });
      const out: Obj = {};
      for (const [k, x] of Object.entries(v)) {
        const sub = s.properties?.[k] ?? (isObj(s.additionalProperties) ? s.additionalProperties : undefined);
        if (path === "" && k === "metadata") {
          out[k] = x; // the server's ObjectMeta, validated apart from the schema
        } else if (sub) {
          const w = walk(x, sub, `${path}.${k}`);
          if (w !== undefined) out[k] = w;
        } else if (s["x-kubernetes-preserve-unknown-fields"] || s.additionalProperties === true) {
          out[k] = x;
        } else {
          unknown.push(`${path}.${k}`);
        }
      }
      return out;
    }
    return v;
  };
  const pruned = walk(value, schema, "");
  return { pruned, unknown, causes };
}
