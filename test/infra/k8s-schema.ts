// Validates rendered Kubernetes objects against the Kubernetes OpenAPI schema (kubernetes-models). Unknown
// apiVersion/kind pairs fail: every object the infra renders must be checked.
import { Deployment } from "kubernetes-models/apps/v1";
import { ConfigMap, Namespace, Secret, ServiceAccount } from "kubernetes-models/v1";
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
  "apps/v1/Deployment": Deployment,
  "rbac.authorization.k8s.io/v1/Role": Role,
  "rbac.authorization.k8s.io/v1/RoleBinding": RoleBinding,
};

/** Throws (naming the object) when `obj` does not validate. */
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
}

/** The Pulumi type token of a Kubernetes resource → its apiVersion/kind. */
export function isKubernetesType(type: string): boolean {
  return type.startsWith("kubernetes:");
}
