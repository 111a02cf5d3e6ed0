// Validates rendered Kubernetes objects against the Kubernetes OpenAPI schema, strictly. Two checks, each from a
// well-kept library: kubernetes-models' validators (types, required fields, enums; they ignore unknown fields, as
// the OpenAPI document does), and a walk over @kubernetes/client-node's generated models (the same OpenAPI
// document, field by field) that rejects every field the schema does not declare, the way `kubectl apply
// --validate=strict` and server-side field validation do. Unknown apiVersion/kind pairs fail: every object the
// infra renders must be checked.
import * as client from "@kubernetes/client-node";
import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from "kubernetes-models/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { Role, RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";

interface Validatable {
  validate(): void;
}
type ModelCtor = new (data: never) => Validatable;

const MODELS: Record<string, ModelCtor> = {
  "v1/Namespace": Namespace,
  "v1/ServiceAccount": ServiceAccount,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
  "apps/v1/Deployment": Deployment,
  "batch/v1/Job": Job,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
};

interface Attribute {
  name: string;
  baseName: string;
  type: string;
}
interface GeneratedModel {
  getAttributeTypeMap(): Attribute[];
}
const GENERATED = client as unknown as Record<string, GeneratedModel | undefined>;

/** client-node's model class name for an apiVersion/kind: `apps/v1` + `Deployment` → `V1Deployment`. */
function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split("/").pop()!;
  return `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every schema violation of `value` as `path: problem`, walking the generated model named `type`. */
export function strictProblems(value: unknown, type: string, path = ""): string[] {
  const at = path || "(object)";
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return [`${at}: expected a list (${type})`];
    return value.flatMap((v, i) => strictProblems(v, array[1]!, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (!isPlainObject(value)) return [`${at}: expected a map (${type})`];
    return Object.entries(value).flatMap(([k, v]) => strictProblems(v, map[1]!, `${path}.${k}`));
  }
  switch (type) {
    case "string":
    case "Date":
      return typeof value === "string" ? [] : [`${at}: expected a string, got ${JSON.stringify(value)}`];
    case "number":
      return typeof value === "number" ? [] : [`${at}: expected a number, got ${JSON.stringify(value)}`];
    case "boolean":
      return typeof value === "boolean" ? [] : [`${at}: expected a boolean, got ${JSON.stringify(value)}`];
    case "IntOrString":
      return typeof value === "string" || typeof value === "number" ? [] : [`${at}: expected an int or a string`];
    case "any":
      return [];
  }
  const model = GENERATED[type];
  if (!model?.getAttributeTypeMap) throw new Error(`${at}: no generated model ${type} in @kubernetes/client-node`);
  if (!isPlainObject(value)) return [`${at}: expected an object (${type}), got ${JSON.stringify(value)}`];
  const fields = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value).flatMap(([k, v]) => {
    const fieldType = fields.get(k);
    if (fieldType === undefined) return [`${path ? `${path}.` : ""}${k}: unknown field (${type} has ${[...fields.keys()].join(", ")})`];
    return strictProblems(v, fieldType, path ? `${path}.${k}` : k);
  });
}

/** Throws (naming the object and every problem) when `obj` is not a valid Kubernetes object; unknown fields included. */
export function validateKubernetesObject(obj: Record<string, unknown>): void {
  const key = `${String(obj.apiVersion)}/${String(obj.kind)}`;
  const Model = MODELS[key];
  if (!Model) throw new Error(`no schema registered for ${key}; add it to test/infra/k8s-schema.ts`);
  const name = (obj.metadata as { name?: string } | undefined)?.name ?? "?";
  try {
    new Model(obj as never).validate();
  } catch (err) {
    throw new Error(`${key} ${name} is not a valid Kubernetes object: ${(err as Error).message}`);
  }
  const problems = strictProblems(obj, modelName(String(obj.apiVersion), String(obj.kind)));
  if (problems.length > 0) throw new Error(`${key} ${name} is not a valid Kubernetes object:\n  ${problems.join("\n  ")}`);
}

/** The Pulumi type token of a Kubernetes resource → its apiVersion/kind. */
export function isKubernetesType(type: string): boolean {
  return type.startsWith("kubernetes:");
}
