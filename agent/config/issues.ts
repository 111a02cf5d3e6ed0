// Turn zod issues into ConfigIssues a user can act on: the dotted field path, the bad value and what
// the field accepts. Values of unknown keys are never echoed (they may be API keys or passwords).
import type { z } from "zod";
import { TOP_LEVEL_KEYS } from "./schema.js";
import type { ConfigIssue } from "./types.js";

/** What each field accepts, appended to type errors. Keys are paths with list indices as `*`. */
const FIELD_HELP: Record<string, string> = {
  "": "The config must be a mapping of agent config keys (entity, queues, max_jobs, builder, ...).",
  entity: "entity accepts a W&B entity (user or team) name, or null for the API key's default entity.",
  queues: "queues accepts a list of queue names, e.g. queues: [my-queue].",
  "queues.*": "Each entry of queues must be a queue name.",
  max_jobs: "max_jobs accepts a whole number; -1 means unlimited.",
  max_schedulers: "max_schedulers accepts a whole number; -1 means unlimited.",
  secure_mode: "secure_mode accepts true or false.",
  verbosity: "verbosity accepts a whole number: 0 (default), 1 or 2.",
  stopped_run_timeout: "stopped_run_timeout accepts a whole number of seconds (default 60).",
  registry: "registry accepts a mapping (deprecated: prefer builder.destination).",
  environment: "environment accepts a mapping with type (aws, gcp or azure) and region.",
  "environment.type": "environment.type accepts aws, gcp or azure.",
  "environment.region": "environment.region is required: a region name, or null (Azure ignores it).",
  builder: "builder accepts a mapping such as {type: docker, destination: <registry>/<repository>}; leave it empty for automatic selection.",
  "builder.type": "builder.type accepts docker, kaniko or noop.",
  "builder.platform": "builder.platform accepts linux/amd64 or linux/arm64.",
  "builder.kaniko-config": "builder.kaniko-config accepts a Kubernetes Job manifest fragment (a mapping such as {spec: {template: {spec: ...}}}).",
  "registry.type": "registry.type accepts ecr, acr or gcr.",
};

const UNKNOWN_KEY_HINTS: Record<string, string> = {
  base_url: "The W&B host is not set in the agent config: set the WANDB_BASE_URL environment variable (or run `wandb login --host <url>`).",
  api_key: "The API key never goes in the agent config: set the WANDB_API_KEY environment variable (or run `wandb login`).",
  project: "The agent has no project setting: each run's project comes from its run spec. Remove project.",
  queue: "Use the list key queues instead, e.g. queues: [<queue-name>].",
  runner: "Runners are chosen per queue (the queue's resource, configured in W&B), not in the agent config. Remove runner.",
  runners: "Runners are chosen per queue (the queue's resource, configured in W&B), not in the agent config. Remove runners.",
};

function pathKey(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === "number" ? "*" : String(p))).join(".");
}

export function dottedPath(path: readonly PropertyKey[]): string {
  return path.map(String).join(".");
}

/** A short, safe rendering of a bad value: strings quoted and truncated, containers by kind. */
export function describeValue(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") return `'${v.length > 100 ? `${v.slice(0, 100)}…` : v}'`;
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return typeof v;
}

const TYPE_WORDS: Record<string, string> = {
  int: "Input should be a valid integer",
  number: "Input should be a valid integer",
  string: "Input should be a valid string",
  boolean: "Input should be a valid boolean",
  array: "Input should be a valid list",
  object: "Input should be a mapping (a block of key: value lines)",
  record: "Input should be a mapping (a block of key: value lines)",
};

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function normalizeKey(k: string): string {
  return k
    .replace(/([a-z0-9])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .replace(/[-\s]+/g, "_");
}

/** The known key a misspelt key most likely meant, if any. */
export function suggestKey(key: string, known: readonly string[], normalize: (k: string) => string = normalizeKey): string | undefined {
  const n = normalize(key);
  const exact = known.find((k) => normalize(k) === n);
  if (exact !== undefined) return exact;
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = levenshtein(n, normalize(k));
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function unknownTopLevelKey(key: string): ConfigIssue {
  const hint =
    UNKNOWN_KEY_HINTS[key] ??
    (() => {
      const s = suggestKey(key, TOP_LEVEL_KEYS);
      const accepted = `Accepted keys: ${TOP_LEVEL_KEYS.join(", ")}.`;
      return s ? `Did you mean ${s}? ${accepted}` : accepted;
    })();
  return { path: key, message: `Extra inputs are not permitted: '${key}' is not an agent config key. ${hint}` };
}

/** One or more ConfigIssues for a zod issue (unrecognized keys expand to one issue per key). */
export function toConfigIssues(issue: z.core.$ZodIssue): ConfigIssue[] {
  const path = dottedPath(issue.path);
  if (issue.code === "unrecognized_keys") {
    if (issue.path.length === 0) return issue.keys.map(unknownTopLevelKey);
    return issue.keys.map((k) => ({ path: path ? `${path}.${k}` : k, message: `Extra inputs are not permitted: '${k}'.` }));
  }
  const help = FIELD_HELP[pathKey(issue.path)];
  const input = (issue as { input?: unknown }).input;
  if (issue.code === "invalid_type") {
    if (input === undefined) {
      return [{ path, message: `Field required${help ? `. ${help}` : "."}` }];
    }
    const words = TYPE_WORDS[issue.expected] ?? `Input should be of type ${issue.expected}`;
    return [{ path, message: `${words}, got ${describeValue(input)}.${help ? ` ${help}` : ""}` }];
  }
  if (issue.code === "invalid_value") {
    return [{ path, message: `${issue.message}, got ${describeValue(input)}.` }];
  }
  if (issue.code === "custom") return [{ path, message: issue.message }];
  const got = input === undefined ? "" : `, got ${describeValue(input)}`;
  return [{ path, message: `${issue.message}${got}.${help ? ` ${help}` : ""}` }];
}

/** The official start-up line for one issue (reference §1.4), for logs and ConfigError messages. */
export function formatIssueLine(issue: ConfigIssue): string {
  return issue.path ? `Agent config error in field ${issue.path}: ${issue.message}` : issue.message;
}
