// Loading: file → YAML → shallow merge over defaults → env vars → CLI flags → validation
// (reference §1.2, §1.3). The precedence step is a pure function so it can be tested on its own.
import { readFile, stat } from "node:fs/promises";
import { LineCounter, parseDocument } from "yaml";
import { describeValue } from "./issues.js";
import { configErrorFor, parseAgentConfig } from "./validate.js";
import {
  ConfigError,
  defaultConfigPath,
  type CliOverrides,
  type ConfigIssue,
  type LoadedConfig,
  type LoadOptions,
} from "./types.js";

/** Built-in defaults (reference §1.3). An empty `builder` means "none configured": auto-select. */
export function configDefaults(): Record<string, unknown> {
  return { max_jobs: 1, max_schedulers: 1, queues: [], registry: {}, builder: {}, verbosity: 0 };
}

// A launch config is a few hundred bytes; anything this large is the wrong file.
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface ParsedYaml {
  /** The document as a mapping; an empty file is {}. */
  doc: Record<string, unknown>;
  warnings: string[];
}

/**
 * Parse launch-config YAML. Syntax errors become a ConfigError naming the file, line and column.
 * Duplicate keys are a warning (PyYAML, which the official agent uses, keeps the last value silently).
 */
export function parseConfigYaml(text: string, source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  const warnings: string[] = [];
  const issues: ConfigIssue[] = [];
  for (const e of doc.errors) {
    const pos = e.linePos?.[0];
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : "";
    const what = e.message.split(/ at line \d+, column \d+/)[0]!.trim();
    if (e.code === "DUPLICATE_KEY") {
      warnings.push(`Duplicate key in ${source}${where}: the last value wins. Remove one of them.`);
    } else {
      issues.push({ path: "", message: `Invalid launch agent config: YAML syntax error in ${source}${where}: ${what}` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues.map((i) => i.message).join("\n"), issues);
  for (const w of doc.warnings) warnings.push(`YAML warning in ${source}: ${w.message.split("\n")[0]}`);
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const message = `Invalid launch agent config: ${source} could not be read as YAML: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  if (value === null || value === undefined) return { doc: {}, warnings };
  if (typeof value !== "object" || Array.isArray(value)) {
    const message = `Invalid launch agent config: ${source} must be a YAML mapping of agent config keys (entity, queues, max_jobs, builder, ...), got ${describeValue(value)}.`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  return { doc: value as Record<string, unknown>, warnings };
}

/** Read and parse a config file. Throws ConfigError naming the path when it cannot be read. */
export async function readConfigFile(path: string): Promise<ParsedYaml> {
  let size: number;
  try {
    const st = await stat(path);
    if (st.isDirectory()) throw Object.assign(new Error("is a directory"), { code: "EISDIR" });
    if (!st.isFile()) throw Object.assign(new Error("not a regular file"), { code: "ENOTFILE" });
    size = st.size;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const message =
      code === "ENOENT" || code === "ENOTDIR"
        ? `Could not find the specified launch config file: ${printable(path)} (no such file).`
        : code === "EISDIR"
          ? `The launch config path ${printable(path)} is a directory, not a file: give the path of the YAML file itself (e.g. ${printable(path.replace(/\/+$/, ""))}/launch-config.yaml).`
          : code === "ENOTFILE"
            ? `The launch config path ${printable(path)} is not a regular file (a device, socket or pipe): give the path of a YAML file.`
            : `Could not read the launch config file ${printable(path)}: ${(err as Error).message}`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  if (size > MAX_CONFIG_BYTES) {
    const message = `The launch config file ${path} is ${size} bytes; a launch config is a small YAML file (limit ${MAX_CONFIG_BYTES} bytes). Check the path.`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const message = `Could not read the launch config file ${printable(path)}: ${(err as Error).message}`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  // A binary file would be echoed into YAML errors, control characters and all: say what it is instead.
  const text = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
  const bad = text.search(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFD]/);
  if (bad !== -1) {
    const message = `The launch config file ${printable(path)} is not a text file (binary data at character ${bad + 1}): a launch config is a small YAML text file. Check the path.`;
    throw new ConfigError(message, [{ path: "", message }]);
  }
  return parseConfigYaml(text, path);
}

/** A path or message as it can be printed on a terminal: control characters (but line breaks and tabs) escaped. */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

const INT_TEXT = /^\s*[-+]?\d+\s*$/;

/**
 * Apply the precedence rules to a parsed file: defaults < file (shallow) < WANDB_ENTITY /
 * WANDB_LAUNCH_MAX_JOBS < CLI flags. Returns the merged raw document and any issues with env/flags.
 */
export function resolveConfigDocument(
  fileDoc: Record<string, unknown>,
  env: NodeJS.ProcessEnv = {},
  overrides: CliOverrides = {},
): { doc: Record<string, unknown>; issues: ConfigIssue[] } {
  const doc: Record<string, unknown> = { ...configDefaults(), ...fileDoc };
  const issues: ConfigIssue[] = [];

  if (env.WANDB_ENTITY) doc.entity = env.WANDB_ENTITY;
  const envJobs = env.WANDB_LAUNCH_MAX_JOBS;
  if (envJobs !== undefined && envJobs !== "") {
    if (INT_TEXT.test(envJobs)) doc.max_jobs = Number(envJobs);
    else {
      issues.push({
        path: "max_jobs",
        message: `WANDB_LAUNCH_MAX_JOBS=${describeValue(envJobs)} is not a whole number: set it to the number of concurrent jobs, or -1 for unlimited.`,
      });
    }
  }

  if (overrides.entity) doc.entity = overrides.entity;
  if (overrides.maxJobs !== undefined) {
    const v = overrides.maxJobs;
    if (typeof v === "number" && Number.isInteger(v)) doc.max_jobs = v;
    else if (typeof v === "string" && INT_TEXT.test(v)) doc.max_jobs = Number(v);
    else {
      issues.push({
        path: "max_jobs",
        message: `--max-jobs ${describeValue(v)} is not a whole number: give the number of concurrent jobs, or -1 for unlimited.`,
      });
    }
  }
  if (overrides.queues && overrides.queues.length > 0) doc.queues = [...overrides.queues];
  if (overrides.verbose !== undefined && overrides.verbose > 0) doc.verbosity = overrides.verbose;
  return { doc, issues };
}

/** Read, merge and validate the agent config; throws ConfigError naming every bad field. */
export async function loadAgentConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  let fileDoc: Record<string, unknown> = {};
  let warnings: string[] = [];
  let path: string | null = null;
  if (opts.configPath !== undefined) {
    ({ doc: fileDoc, warnings } = await readConfigFile(opts.configPath));
    path = opts.configPath;
  } else {
    const candidate = defaultConfigPath(opts.homeDir);
    const exists = await stat(candidate).then(
      () => true,
      (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT" || err.code === "ENOTDIR") return false;
        const message = `Could not read the launch config file ${candidate}: ${err.message}`;
        throw new ConfigError(message, [{ path: "", message }]);
      },
    );
    // A missing default file is silently ignored (reference §1.2).
    if (exists) {
      ({ doc: fileDoc, warnings } = await readConfigFile(candidate));
      path = candidate;
    }
  }

  const { doc, issues } = resolveConfigDocument(fileDoc, opts.env ?? process.env, opts.overrides);
  const parsed = parseAgentConfig(doc);
  const errors = [...issues, ...parsed.errors];
  if (errors.length > 0 || !parsed.config) throw configErrorFor(errors, path ?? "defaults, environment and flags");
  return { config: parsed.config, warnings: [...warnings, ...parsed.warnings], path };
}
