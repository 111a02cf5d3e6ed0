// Warnings: things the agent accepts but that are probably not what the user meant (keys that are
// silently ignored, deprecated blocks, registries the agent cannot log in to). Computed from the raw
// document so they are reported even when validation also found errors.
import { BUILDER_KEYS } from "./schema.js";
import { suggestKey } from "./issues.js";
import { checkRegistryUri } from "./uris.js";

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function environmentFieldWarning(key: string): string {
  return `Unrecognized field ${key} in environment block. Please check your config file.`;
}

export const REGISTRY_DEPRECATION_WARNING =
  "The registry block is deprecated: set builder.destination to the image repository instead (e.g. builder.destination: <account-id>.dkr.ecr.<region>.amazonaws.com/<repository>).";

// Builder keys compare with hyphens, underscores and camelCase treated alike.
const normalizeBuilderKey = (k: string) =>
  k
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .toLowerCase()
    .replace(/[_\s]+/g, "-");

function builderWarnings(b: Record<string, unknown>): string[] {
  const out: string[] = [];
  const known: readonly string[] = BUILDER_KEYS;
  for (const key of Object.keys(b)) {
    if (known.includes(key)) continue;
    if (key === "uri") {
      out.push("builder.uri is ignored: the builders read builder.destination. Rename uri to destination.");
      continue;
    }
    const s = suggestKey(key, known, normalizeBuilderKey);
    if (s === undefined) continue; // other keys are allowed, as in the official agent
    if (normalizeBuilderKey(key) === s) {
      out.push(`builder.${key} is ignored: builder keys are spelled with hyphens. Rename it to ${s}.`);
    } else {
      out.push(`builder.${key} is not a key the agent reads and is ignored. Did you mean ${s}?`);
    }
  }
  const type = b.type;
  if (typeof b.destination === "string") {
    const r = checkRegistryUri(b.destination);
    if (r.ok) out.push(...r.warnings);
  }
  if (typeof b.platform === "string" && typeof type === "string" && type !== "docker") {
    out.push(`builder.platform only applies to the docker builder; it is ignored with builder.type ${type}.`);
  }
  if (type === "kaniko") {
    if (b.destination === undefined || b.destination === null) {
      out.push("builder.type is kaniko but builder.destination is not set: kaniko pushes every image to that repository.");
    }
  }
  const kc = b["kaniko-config"];
  if (isRecord(kc) && ("containers" in kc || (isRecord(kc.spec) && "containers" in kc.spec))) {
    out.push(
      "builder.kaniko-config looks like a pod spec (it has containers): it is merged into the kaniko Job manifest, so pod fields belong under spec.template.spec.",
    );
  }
  return out;
}

/** Warnings for a parsed config document; never throws, whatever the input. */
export function collectWarnings(doc: unknown): string[] {
  if (!isRecord(doc)) return [];
  const out: string[] = [];

  if (Array.isArray(doc.queues)) {
    const seen = new Set<unknown>();
    for (const q of doc.queues) {
      if (seen.has(q)) out.push(`Queue ${String(q)} is listed more than once in queues.`);
      seen.add(q);
    }
  }
  for (const key of ["max_jobs", "max_schedulers"] as const) {
    if (doc[key] === 0 || doc[key] === "0") {
      out.push(`${key} is 0: the agent will never start ${key === "max_jobs" ? "a job" : "a sweep scheduler"}. Use -1 for unlimited.`);
    }
  }

  if (isRecord(doc.environment)) {
    for (const key of Object.keys(doc.environment)) {
      if (key !== "type" && key !== "region") out.push(environmentFieldWarning(key));
    }
  }

  if (isRecord(doc.registry) && Object.keys(doc.registry).length > 0) {
    out.push(REGISTRY_DEPRECATION_WARNING);
    const r = doc.registry;
    if (typeof r.uri === "string") {
      const c = checkRegistryUri(r.uri);
      if (c.ok) out.push(...c.warnings);
    }
    if ((r.type === undefined || r.type === null) && r.uri !== undefined) {
      out.push("registry.uri is ignored because registry.type is not set (the agent then uses no registry).");
    }
  }

  if (isRecord(doc.builder)) out.push(...builderWarnings(doc.builder));
  return out;
}
