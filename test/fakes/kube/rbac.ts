/**
 * RBAC for the fake API server: who may do what in which namespace, the 403 Forbidden a real server
 * answers when a request is not allowed, and SelfSubjectAccessReview (authorization.k8s.io/v1), which
 * `launch-agent doctor` uses to ask before acting. Validation follows the real server: exactly one of
 * resourceAttributes / nonResourceAttributes, and (as with fieldValidation=Strict) no unknown fields.
 */
import { ApiError, badRequest } from "./status.js";
import { isObj } from "./validate.js";

type Obj = Record<string, unknown>;

/** A Role rule bound in one namespace (`*`: a ClusterRole bound cluster-wide). */
export interface FakeRbacRule {
  namespace: string;
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export const FAKE_USER = "system:serviceaccount:wandb:launch-agent";

export interface Access {
  verb: string;
  group: string;
  /** With its subresource, as RBAC rules name it: `pods/log`, `jobs/status`. */
  resource: string;
  namespace: string;
}

/** null: everything is allowed (the default, like cluster-admin). */
export function allowed(rules: readonly FakeRbacRule[] | null, a: Access): boolean {
  if (rules === null) return true;
  const any = (list: string[], v: string) => list.includes("*") || list.includes(v);
  return rules.some((r) => (r.namespace === "*" || r.namespace === a.namespace) && any(r.apiGroups, a.group) && any(r.resources, a.resource) && any(r.verbs, a.verb));
}

/** The 403 a real API server answers, word for word. */
export function forbidden(a: Access, name?: string): ApiError {
  const plural = a.resource.split("/")[0]!;
  const qualified = a.group ? `${plural}.${a.group}` : plural;
  const subject = name ? `${qualified} "${name}"` : qualified;
  return new ApiError({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `${subject} is forbidden: User "${FAKE_USER}" cannot ${a.verb} resource "${a.resource}" in API group "${a.group}" in the namespace "${a.namespace}"`,
    reason: "Forbidden",
    details: { ...(name ? { name } : {}), ...(a.group ? { group: a.group } : {}), kind: plural },
    code: 403,
  });
}

const RESOURCE_ATTRIBUTES = new Set(["namespace", "verb", "group", "version", "resource", "subresource", "name", "fieldSelector", "labelSelector"]);
const NON_RESOURCE_ATTRIBUTES = new Set(["path", "verb"]);

function rejectUnknown(obj: Obj, known: Set<string>, at: string): void {
  for (const k of Object.keys(obj)) if (!known.has(k)) throw badRequest(`strict decoding error: unknown field "${at}${k}"`);
}

function invalidSpec(field: string, value: unknown, detail: string): ApiError {
  return new ApiError({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: ${field}: Invalid value: ${JSON.stringify(value)}: ${detail}`,
    reason: "Invalid",
    details: { group: "authorization.k8s.io", kind: "SelfSubjectAccessReview", causes: [{ reason: "FieldValueInvalid", message: `Invalid value: ${JSON.stringify(value)}: ${detail}`, field }] },
    code: 422,
  });
}

/** POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: the review, answered (201). */
export function selfSubjectAccessReview(body: unknown, rules: readonly FakeRbacRule[] | null): Obj {
  if (!isObj(body)) throw badRequest("the body of the request could not be decoded as a SelfSubjectAccessReview");
  rejectUnknown(body, new Set(["apiVersion", "kind", "metadata", "spec"]), "");
  if (body.apiVersion !== undefined && body.apiVersion !== "authorization.k8s.io/v1") {
    throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (authorization.k8s.io/v1)`);
  }
  if (body.kind !== undefined && body.kind !== "SelfSubjectAccessReview") {
    throw badRequest(`the kind in the data (${String(body.kind)}) does not match the expected kind (SelfSubjectAccessReview)`);
  }
  const spec = isObj(body.spec) ? body.spec : {};
  rejectUnknown(spec, new Set(["resourceAttributes", "nonResourceAttributes"]), "spec.");
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if ((ra === undefined) === (nra === undefined)) {
    throw invalidSpec("spec.resourceAttributes", ra ?? null, "exactly one of nonResourceAttributes or resourceAttributes must be specified");
  }
  let ok: boolean;
  if (ra !== undefined) {
    if (!isObj(ra)) throw badRequest("spec.resourceAttributes must be an object");
    rejectUnknown(ra, RESOURCE_ATTRIBUTES, "spec.resourceAttributes.");
    for (const [k, v] of Object.entries(ra)) if (typeof v !== "string") throw badRequest(`json: cannot unmarshal ${typeof v} into Go struct field ResourceAttributes.spec.resourceAttributes.${k} of type string`);
    const a = ra as Record<string, string>;
    const resource = a.subresource ? `${a.resource ?? ""}/${a.subresource}` : (a.resource ?? "");
    ok = allowed(rules, { verb: a.verb ?? "", group: a.group ?? "", resource, namespace: a.namespace ?? "" });
  } else {
    if (!isObj(nra)) throw badRequest("spec.nonResourceAttributes must be an object");
    rejectUnknown(nra, NON_RESOURCE_ATTRIBUTES, "spec.nonResourceAttributes.");
    ok = rules === null;
  }
  return {
    kind: "SelfSubjectAccessReview",
    apiVersion: "authorization.k8s.io/v1",
    metadata: { creationTimestamp: null },
    spec,
    status: ok ? { allowed: true, reason: `RBAC: allowed by the fake's rules for "${FAKE_USER}"` } : { allowed: false },
  };
}
