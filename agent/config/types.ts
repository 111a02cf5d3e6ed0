// The config contract other modules build against. The zod schema in schema.ts is the source of
// truth for what is accepted; a compile-time check there keeps its output assignable to AgentConfig.
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
  /** -1 = unlimited. */
  max_schedulers: number;
  secure_mode?: boolean;
  verbosity: number;
  /** Seconds; the official default is 60 when unset. */
  stopped_run_timeout?: number;
  registry?: Record<string, unknown> | null;
  environment?: EnvironmentConfig | null;
  builder?: BuilderConfig | null;
}

export interface ConfigIssue {
  /** Dotted field path, e.g. `builder.type` or `queues.0`; empty for the document itself. */
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

/** `~/.config/wandb/launch-config.yaml`; not affected by WANDB_CONFIG_DIR (reference §1.2). */
export function defaultConfigPath(homeDir: string = homedir()): string {
  return join(homeDir, ".config", "wandb", "launch-config.yaml");
}

export const DEFAULT_CONFIG_PATH = defaultConfigPath();

export interface CliOverrides {
  entity?: string;
  /** `-j/--max-jobs`: a string parsed as an integer, or a number; -1 = unlimited. */
  maxJobs?: string | number;
  /** `-q/--queue`: when non-empty, replaces the file's queues. */
  queues?: string[];
  /** `-v` count; sets verbosity only when > 0. */
  verbose?: number;
}

export interface LoadOptions {
  /** `--config`; when given and missing, loading fails. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  overrides?: CliOverrides;
  /** Home directory for the default config path (tests); default os.homedir(). */
  homeDir?: string;
}

export interface LoadedConfig {
  config: AgentConfig;
  warnings: string[];
  /** The file that was read, or null when none was. */
  path: string | null;
}
