// What the providers reject at `pulumi preview` (their Check step), for the types this program creates: required
// inputs missing, local paths that do not exist relative to the working directory the engine starts providers in,
// and names that break the service's rules. Unknown values (preview) are skipped, as the providers skip them.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { at, type Obj, UNKNOWN } from "./wire.js";

export interface CheckFailure {
  /** Dotted input path, or "" for the resource as a whole. */
  property: string;
  reason: string;
}

type NameRule = { path: string; pattern: RegExp; rule: string; autoName?: (name: string) => string };

const hex = (n: number) => "0123456789abcdef".slice(0, n);
// The providers auto-name an unnamed resource from its Pulumi name plus a random suffix; check that shape.
const suffixed = (n: number) => (name: string) => `${name}-${hex(n)}`;
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Naming rules per type token (from each service's documented limits). */
const NAME_RULES: Record<string, NameRule[]> = {
  "aws:ecr/repository:Repository": [
    { path: "name", pattern: /^(?=.{2,256}$)(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/, rule: "ECR repository names are 2-256 lowercase letters, digits and . _ - / (no leading, trailing or doubled separators)", autoName: suffixed(7) },
  ],
  "aws:s3/bucket:Bucket": [
    { path: "bucket", pattern: /^(?!xn--|sthree-|amzn-s3-demo-)(?!.*(?:-s3alias|--ol-s3|\.mrap|--x-s3)$)(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, rule: "S3 bucket names are 3-63 lowercase letters, digits, '.' and '-', starting and ending alphanumeric", autoName: suffixed(7) },
  ],
  "aws:iam/role:Role": [{ path: "name", pattern: /^(?=.{1,64}$)[\w+=,.@-]+$/, rule: "IAM role names are 1-64 characters of [A-Za-z0-9+=,.@_-]", autoName: suffixed(7) }],
  "aws:iam/rolePolicy:RolePolicy": [{ path: "name", pattern: /^(?=.{1,128}$)[\w+=,.@-]+$/, rule: "IAM policy names are 1-128 characters of [A-Za-z0-9+=,.@_-]", autoName: suffixed(7) }],
  "gcp:artifactregistry/repository:Repository": [
    { path: "repositoryId", pattern: /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/, rule: "Artifact Registry repository ids are up to 63 lowercase letters, digits and '-', starting with a letter and not ending with '-'" },
  ],
  "gcp:storage/bucket:Bucket": [
    { path: "name", pattern: /^(?!goog)(?!.*google)(?=.{3,63}$)[a-z0-9][a-z0-9_.-]*[a-z0-9]$/, rule: "Cloud Storage bucket names are 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending alphanumeric, without \"goog\"", autoName: suffixed(7) },
  ],
  "gcp:serviceaccount/account:Account": [
    { path: "accountId", pattern: /^[a-z]([-a-z0-9]{4,28}[a-z0-9])$/, rule: "service account ids are 6-30 lowercase letters, digits and '-', starting with a letter" },
  ],
  "gcp:projects/iAMCustomRole:IAMCustomRole": [{ path: "roleId", pattern: /^[a-zA-Z0-9_.]{3,64}$/, rule: "custom role ids are 3-64 letters, digits, '_' and '.'" }],
  "azure-native:containerregistry:Registry": [
    { path: "registryName", pattern: /^[a-zA-Z0-9]{5,50}$/, rule: "ACR names are 5-50 letters and digits (globally unique)", autoName: (n) => `${n.replace(/[^a-zA-Z0-9]/g, "")}${hex(8)}` },
  ],
  "azure-native:storage:StorageAccount": [
    { path: "accountName", pattern: /^[a-z0-9]{3,24}$/, rule: "storage account names are 3-24 lowercase letters and digits (globally unique)", autoName: (n) => `${n.replace(/[^a-z0-9]/g, "")}${hex(8)}` },
  ],
  "azure-native:storage:BlobContainer": [
    { path: "containerName", pattern: /^(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/, rule: "blob container names are 3-63 lowercase letters, digits and single '-'", autoName: suffixed(8) },
  ],
  "azure-native:managedidentity:UserAssignedIdentity": [
    { path: "resourceName", pattern: /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$/, rule: "managed identity names are 3-128 letters, digits, '-' and '_', starting alphanumeric", autoName: suffixed(8) },
  ],
  "azure-native:managedidentity:FederatedIdentityCredential": [
    { path: "federatedIdentityCredentialResourceName", pattern: /^[a-zA-Z0-9][a-zA-Z0-9_-]{2,119}$/, rule: "federated credential names are 3-120 letters, digits, '-' and '_', starting alphanumeric", autoName: suffixed(8) },
  ],
};

/** Kubernetes kinds whose names must be DNS-1123 labels; every other kind takes a DNS-1123 subdomain. */
const LABEL_KINDS = new Set(["core/v1:Namespace", "core/v1:Service"]);

function kubernetesRules(type: string): NameRule[] {
  const kind = type.slice("kubernetes:".length);
  const label = LABEL_KINDS.has(kind);
  return [
    {
      path: "metadata.name",
      pattern: label ? DNS_LABEL : DNS_SUBDOMAIN,
      rule: `Kubernetes ${kind.split(":")[1]} names must be DNS-1123 ${label ? "labels (up to 63 lowercase letters, digits and '-')" : "subdomains (up to 253 lowercase letters, digits, '-' and '.')"}`,
      autoName: suffixed(8),
    },
    { path: "metadata.namespace", pattern: DNS_LABEL, rule: "Kubernetes namespaces must be DNS-1123 labels" },
  ];
}

const requireHere = createRequire(import.meta.url);
const requiredCache = new Map<string, string[]>();

/**
 * The inputs the provider's generated SDK class declares required (`Missing required property 'x'`), found by the
 * class's `__pulumiType`. Fails loudly for a type it cannot find, so a new resource type cannot go unchecked.
 */
export function requiredInputs(type: string): string[] {
  const cached = requiredCache.get(type);
  if (cached) return cached;
  const [pkg, mod = "", name = ""] = type.split(":");
  let root: string;
  if (pkg === "pulumi" && mod === "providers") {
    root = dirname(requireHere.resolve(`@pulumi/${name}/package.json`));
  } else {
    root = dirname(requireHere.resolve(`@pulumi/${pkg}/package.json`));
  }
  const segments = mod === "index" || mod === "providers" ? [] : mod.split("/").map((s, i) => (i === 0 ? s.split(".")[0]! : s));
  const dirs = [segments.join("/"), segments.slice(0, -1).join("/")].map((d) => join(root, d)).filter((d) => existsSync(d) && statSync(d).isDirectory());
  const marker = pkg === "pulumi" ? `__pulumiType = '${name}'` : `__pulumiType = '${type}'`;
  for (const dir of dirs) {
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".js"))) {
      const text = readFileSync(join(dir, file), "utf8");
      if (!text.includes(marker)) continue;
      const found = [...text.matchAll(/throw new Error\("Missing required property '([^']+)'"\)/g)].map((m) => m[1]!);
      requiredCache.set(type, found);
      return found;
    }
  }
  throw new Error(`engine harness: cannot find the SDK class of ${type} under ${root} to learn its required inputs`);
}

const isLocal = (location: string) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(location) && !location.startsWith("git@");

/** docker-build's Check: the build context is a directory and the Dockerfile a file, relative to the provider's cwd. */
function dockerBuildPaths(inputs: Obj, cwd: string): CheckFailure[] {
  const failures: CheckFailure[] = [];
  const context = at(inputs, "context.location");
  if (typeof context !== "string" || context === UNKNOWN || !isLocal(context)) return failures;
  const abs = resolve(cwd, context);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    failures.push({ property: "context.location", reason: `"${context}": not a valid directory or URL (resolved against the engine's working directory ${cwd})` });
    return failures;
  }
  const inline = at(inputs, "dockerfile.inline");
  const location = at(inputs, "dockerfile.location") ?? (inline === undefined ? join(context, "Dockerfile") : undefined);
  if (typeof location === "string" && location !== UNKNOWN && isLocal(location)) {
    const file = resolve(cwd, location);
    if (!existsSync(file) || !statSync(file).isFile()) {
      failures.push({ property: "dockerfile.location", reason: `open ${file}: no such file or directory (the engine's working directory is ${cwd})` });
    } else if (!/^\s*FROM\s+\S+/im.test(readFileSync(file, "utf8"))) {
      failures.push({ property: "dockerfile.location", reason: `${file}: the Dockerfile has no FROM instruction` });
    }
  }
  return failures;
}

/** Runs every check for one registration of a custom resource. */
export function checkResource(type: string, name: string, inputs: Obj, cwd: string): CheckFailure[] {
  const failures: CheckFailure[] = [];
  for (const key of requiredInputs(type)) {
    const v = inputs[key];
    if (v === undefined || v === null || v === "") failures.push({ property: key, reason: `missing required property '${key}'` });
  }
  const rules = type.startsWith("kubernetes:") && !type.startsWith("kubernetes:helm") ? kubernetesRules(type) : (NAME_RULES[type] ?? []);
  for (const rule of rules) {
    let value = at(inputs, rule.path);
    if (value === undefined && rule.autoName && rule.path !== "metadata.namespace") value = rule.autoName(name);
    if (value === undefined || value === UNKNOWN) continue;
    if (typeof value !== "string" || !rule.pattern.test(value)) {
      failures.push({ property: rule.path, reason: `"${String(value)}" is not a valid name: ${rule.rule}` });
    }
  }
  if (type === "docker-build:index:Image") failures.push(...dockerBuildPaths(inputs, cwd));
  return failures;
}
