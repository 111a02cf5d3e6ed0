// CONTRACT PLACEHOLDER: the config helper replaces this file's implementation (schema.ts, uris.ts,
// load.ts, ...) and keeps these exports and their meaning.
import { homedir } from "node:os";
import { join } from "node:path";
import { LaunchError } from "../errors.js";

export interface BuilderConfig {
  type?: "docker" | "kaniko" | "noop";
  destination?: string;
  platform?: string;
  "build-context-store"?: string | null;
  "build-job-name"?: string;
  "secret-name"?: string;
  "secret-key"?: string;
  "kaniko-image"?: string;
  "kaniko-config"?: unknown;
  [key: string]: unknown;
}

export interface EnvironmentConfig {
  type?: "aws" | "gcp" | "azure";
  region: string | null;
  [key: string]: unknown;
}

/** The resolved agent config: the raw document after defaults, env vars and flags (reference §1.3). */
export interface AgentConfig {
  entity?: string | null;
  queues: string[];
  /** -1 = unlimited. */
  max_jobs: number;
  max_schedulers: number;
  secure_mode?: boolean;
  verbosity: number;
  stopped_run_timeout?: number;
  registry?: Record<string, unknown> | null;
  environment?: EnvironmentConfig | null;
  builder?: BuilderConfig | null;
}

export interface ConfigIssue {
  /** Dotted field path, e.g. `builder.type`; empty for the document itself. */
  path: string;
  message: string;
}

export interface ValidationResult {
  valid: boolean;
  errors: ConfigIssue[];
  warnings: string[];
}

/** A config that must stop the agent before it touches anything. */
export class ConfigError extends LaunchError {
  constructor(
    message: string,
    readonly issues: ConfigIssue[] = [],
  ) {
    super(message, "agent");
    this.name = "ConfigError";
  }
}

export const DEFAULT_CONFIG_PATH = join(homedir(), ".config", "wandb", "launch-config.yaml");

export interface CliOverrides {
  entity?: string;
  maxJobs?: string | number;
  queues?: string[];
  verbose?: number;
}

export interface LoadOptions {
  /** `--config`; when given and missing, loading fails. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: CliOverrides;
}

export interface LoadedConfig {
  config: AgentConfig;
  warnings: string[];
  /** The file that was read, or null when none was. */
  path: string | null;
}

/** Validate a parsed document with the official agent's rules. Never throws. */
export function validateAgentConfig(_raw: unknown): ValidationResult {
  return { valid: true, errors: [], warnings: [] };
}

/** Read, merge and validate the agent config; throws ConfigError naming every bad field. */
export async function loadAgentConfig(opts: LoadOptions = {}): Promise<LoadedConfig> {
  const config: AgentConfig = { queues: opts.overrides?.queues ?? [], max_jobs: 1, max_schedulers: 1, verbosity: 0 };
  return { config, warnings: [], path: opts.configPath ?? null };
}
