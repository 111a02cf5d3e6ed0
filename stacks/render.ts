// `npm run render -- <stack>`: runs the Pulumi program with stacks/Pulumi.<stack>.yaml through the engine-contract
// harness (test/engine/: the program started as the Pulumi CLI starts it, against a fake engine), without the
// Pulumi CLI or cloud credentials, and writes render/<stack>.json: every resource with its inputs and the state the
// provider would compute (ids, ARNs, URLs), plus the stack outputs. Secrets are masked. Review it before `pulumi up`.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parse } from "yaml";
import { z } from "zod";
import { NAMESPACE } from "./config.js";
import { DEFAULT_MOCK_CLOUD, type MockCloud } from "./mocks.js";

export const MASK = "[secret]";
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

const stackFileSchema = z.object({
  config: z.record(z.string(), z.unknown()).default({}),
});
const secureValue = z.object({ secure: z.string() });

export interface RenderedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
}
export interface Rendered {
  stack: string;
  /** Config keys that were secrets (shown masked) or filled with a placeholder because they were not set. */
  notes: string[];
  resources: RenderedResource[];
  outputs: Record<string, unknown>;
}

/** Reads Pulumi.<stack>.yaml into Pulumi's flat string config plus the list of secret keys. */
export async function readStackFile(stack: string, root = ROOT): Promise<{ config: Record<string, string>; secretKeys: string[]; notes: string[] }> {
  if (!/^[A-Za-z0-9_.-]+$/.test(stack)) throw new Error(`stack name "${stack}" is not a valid Pulumi stack name`);
  const file = join(root, "stacks", `Pulumi.${stack}.yaml`);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new Error(`No stack config ${file}: create it with \`pulumi stack init ${stack}\` and \`pulumi config set ...\` (see docs/infrastructure.md)`);
  }
  const parsed = stackFileSchema.safeParse(parse(text) ?? {});
  if (!parsed.success) throw new Error(`${file}: expected a top-level "config:" map (${parsed.error.issues[0]?.message ?? "invalid"})`);
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  const notes: string[] = [];
  for (const [key, value] of Object.entries(parsed.data.config)) {
    if (secureValue.safeParse(value).success) {
      // Encrypted values cannot be decrypted without the stack's secrets provider; render with a placeholder.
      config[key] = `placeholder-for-${key}`;
      secretKeys.push(key);
      notes.push(`${key}: encrypted in the stack file; rendered with a placeholder`);
    } else {
      config[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
  }
  const apiKey = `${NAMESPACE}:apiKey`;
  if (config[apiKey] === undefined && config[`${NAMESPACE}:apiKeySecretName`] === undefined) {
    config[apiKey] = "placeholder-api-key";
    secretKeys.push(apiKey);
    notes.push(`${apiKey}: not set in the stack file (set it with \`pulumi config set --secret ${apiKey}\`); rendered with a placeholder`);
  }
  return { config, secretKeys, notes };
}

function mockCloudFor(config: Record<string, string>): MockCloud {
  return {
    ...DEFAULT_MOCK_CLOUD,
    awsRegion: config["aws:region"] ?? DEFAULT_MOCK_CLOUD.awsRegion,
    gcpProject: config["gcp:project"] ?? DEFAULT_MOCK_CLOUD.gcpProject,
    gcpRegion: config["gcp:region"] ?? DEFAULT_MOCK_CLOUD.gcpRegion,
    azureLocation: config["azure-native:location"] ?? config[`${NAMESPACE}:location`] ?? DEFAULT_MOCK_CLOUD.azureLocation,
  };
}

/** Masks every leaf under a secret value, keeping its shape (keys, list lengths) reviewable and schema-valid. */
function maskLeaves(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(maskLeaves);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskLeaves(x)]));
  return MASK;
}

/** Masks the value at each dotted path. */
function maskPaths(value: Record<string, unknown>, paths: string[]): Record<string, unknown> {
  if (paths.includes("")) return maskLeaves(value) as Record<string, unknown>;
  const copy = structuredClone(value);
  for (const path of paths) {
    const parts = path.split(".");
    let node: unknown = copy;
    for (const p of parts.slice(0, -1)) node = node !== null && typeof node === "object" ? (node as Record<string, unknown>)[p] : undefined;
    const last = parts[parts.length - 1]!;
    if (node !== null && typeof node === "object" && last in node) {
      const parent = node as Record<string, unknown>;
      parent[last] = maskLeaves(parent[last]);
    }
  }
  return copy;
}

/** Masks every occurrence of a secret value in any string, as a last line of defence. */
function scrub<T>(value: T, secrets: string[]): T {
  const live = secrets.filter((s) => s.length >= 4);
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return live.reduce((acc, s) => acc.split(s).join(MASK), v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/**
 * Runs the program for one stack the way `pulumi up` does (a separate node process started by the language host's
 * rules, against the engine harness in test/engine/) and returns what the engine saw: every resource with its
 * inputs and the state the provider would compute, and the stack outputs.
 */
export async function renderStack(stack: string, root = ROOT): Promise<Rendered> {
  const { config, secretKeys, notes } = await readStackFile(stack, root);
  // Loaded here so the module stays cheap to import for readStackFile alone.
  const { runEngine } = await import("../test/engine/harness.js");
  // `root` only locates the stack file; the program is always this repository's (its Pulumi.yaml and package.json).
  const run = await runEngine({ stack, config, secretKeys, dryRun: false, cloud: mockCloudFor(config) });
  if (!run.ok) throw new Error(run.errors.join("\n"));
  const secretValues = secretKeys.map((k) => config[k]!).concat(["mock-ecr-password", "mock-gcp-access-token"]);
  const resources = run.registrations
    .filter((r) => r.type !== "pulumi:pulumi:Stack")
    .map((r) => ({ type: r.type, name: r.name, inputs: maskPaths(r.inputs, r.secretPaths), state: maskPaths(r.state, r.secretPaths) }));
  const outputs = maskPaths(run.stackResource?.outputs ?? {}, run.stackResource?.outputSecretPaths ?? []);
  return scrub({ stack, notes, resources, outputs }, secretValues);
}

/** The CLI: renders one stack to render/<stack>.json; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const stack = argv[0];
  if (!stack || argv.length > 1) {
    process.stderr.write("usage: npm run render -- <stack>   (aws, gcp, azure, kubernetes or any stacks/Pulumi.<stack>.yaml)\n");
    return 2;
  }
  try {
    const rendered = await renderStack(stack);
    const file = resolve(ROOT, "render", `${stack}.json`);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, `${JSON.stringify(rendered, null, 2)}\n`);
    process.stdout.write(`${file}: ${rendered.resources.length} resources, outputs: ${Object.keys(rendered.outputs).join(", ")}\n`);
    for (const n of rendered.notes) process.stdout.write(`  note: ${n}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`render ${stack} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // Exit explicitly once the file is written (nothing else should keep the process alive, but never hang a CLI).
  main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
}
