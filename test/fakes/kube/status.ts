/**
 * Kubernetes `Status` error bodies, shaped as a real API server returns them, so client code sees
 * the same `.code`, `reason` and message text it would against a cluster.
 */
export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface StatusBody {
  kind: "Status";
  apiVersion: "v1";
  metadata: Record<string, never>;
  status: "Failure" | "Success";
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; causes?: StatusCause[]; uid?: string };
  code: number;
}

export class ApiError extends Error {
  constructor(readonly body: StatusBody) {
    super(body.message);
  }
  get code(): number {
    return this.body.code;
  }
}

/** What a resource is called in messages: `jobs.batch`, `secrets`. */
export interface ResourceName {
  group: string;
  plural: string;
  kind: string;
}

function qualified(r: ResourceName): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

function failure(code: number, reason: string, message: string, details?: StatusBody["details"]): ApiError {
  return new ApiError({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code });
}

export const notFound = (r: ResourceName, name: string) =>
  failure(404, "NotFound", `${qualified(r)} "${name}" not found`, { name, ...(r.group ? { group: r.group } : {}), kind: r.plural });

export const alreadyExists = (r: ResourceName, name: string) =>
  failure(409, "AlreadyExists", `${qualified(r)} "${name}" already exists`, { name, ...(r.group ? { group: r.group } : {}), kind: r.plural });

export const conflict = (r: ResourceName, name: string) =>
  failure(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, ...(r.group ? { group: r.group } : {}), kind: r.plural },
  );

export function invalid(r: ResourceName, name: string, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => `${c.field}: ${c.message}`);
  const joined = list.length === 1 ? list[0]! : `[${list.join(", ")}]`;
  return failure(422, "Invalid", `${r.kind}.${r.group || ""}`.replace(/\.$/, "") + ` "${name}" is invalid: ${joined}`, {
    name,
    ...(r.group ? { group: r.group } : {}),
    kind: r.kind,
    causes,
  });
}

export const badRequest = (message: string) => failure(400, "BadRequest", message);
export const unauthorized = () => failure(401, "Unauthorized", "Unauthorized");
export const methodNotAllowed = () => failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
export const pathNotFound = () => failure(404, "NotFound", "the server could not find the requested resource");
export const unsupportedMediaType = (type: string) => failure(415, "UnsupportedMediaType", `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got ${type})`);
export const gone = (rv: string) => failure(410, "Expired", `too old resource version: ${rv}`);

export function success(r: ResourceName, name: string, uid: string): StatusBody {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, ...(r.group ? { group: r.group } : {}), kind: r.plural, uid }, code: 200 };
}
