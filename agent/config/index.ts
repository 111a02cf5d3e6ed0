// The agent config: types (types.ts), the zod schema (schema.ts), URI rules (uris.ts), validation
// (validate.ts, issues.ts, warnings.ts) and loading with precedence (load.ts).
import { ConfigError, type AgentConfig } from "./types.js";

export {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  defaultConfigPath,
  type AgentConfig,
  type BuilderConfig,
  type CliOverrides,
  type ConfigIssue,
  type EnvironmentConfig,
  type LoadedConfig,
  type LoadOptions,
  type ValidationResult,
} from "./types.js";
export {
  agentConfigSchema,
  builderSchema,
  environmentSchema,
  registrySchema,
  BUILDER_KEYS,
  BUILDER_TYPES,
  ENVIRONMENT_TYPES,
  PLATFORMS,
  REGISTRY_TYPES,
  TOP_LEVEL_KEYS,
  type AgentConfigDocument,
} from "./schema.js";
export { validateAgentConfig, parseAgentConfig, assertValidAgentConfig, type ParsedConfig } from "./validate.js";
export { formatIssueLine } from "./issues.js";
export { collectWarnings, environmentFieldWarning, REGISTRY_DEPRECATION_WARNING } from "./warnings.js";
export {
  loadAgentConfig,
  readConfigFile,
  parseConfigYaml,
  resolveConfigDocument,
  configDefaults,
  printable,
  type ParsedYaml,
} from "./load.js";
export {
  checkRegistryUri,
  classifyRegistryUri,
  checkStorageUri,
  classifyStorageUri,
  storageObjectKey,
  unrecognizedRegistryWarning,
  INVALID_STORE_MESSAGE,
  type RegistryUri,
  type RegistryUriCheck,
  type EcrRegistryUri,
  type GarRegistryUri,
  type AcrRegistryUri,
  type AnonymousRegistryUri,
  type StorageUri,
  type StorageUriCheck,
  type S3StorageUri,
  type GcsStorageUri,
  type AzureStorageUri,
} from "./uris.js";

/** max_jobs / max_schedulers as a number to compare against: -1 means no limit. */
export function concurrencyLimit(value: number): number {
  return value === -1 ? Number.POSITIVE_INFINITY : value;
}

export const NO_QUEUES_MESSAGE =
  "To launch an agent please specify a queue or a list of queues in the configuration file or cli.";

/** The CLI-level check that runs before anything else (reference §1.1). */
export function assertQueuesConfigured(config: AgentConfig): void {
  if (config.queues.length === 0) {
    throw new ConfigError(`${NO_QUEUES_MESSAGE} Use -q/--queue <name> or queues: [<name>] in the config file.`, [
      { path: "queues", message: NO_QUEUES_MESSAGE },
    ]);
  }
}

/**
 * max_jobs 0 would poll for ever without taking anything (and never be idle for --exit-when-idle).
 * The config file may say 0 (the official agent accepts it; `config validate` warns), but the agent
 * does not start with it.
 */
export function assertJobsCanRun(config: AgentConfig): void {
  if (config.max_jobs === 0) {
    const message = "max_jobs is 0 (from -j/--max-jobs, WANDB_LAUNCH_MAX_JOBS or the config file): the agent would never start a job. Use a positive number, or -1 for unlimited.";
    throw new ConfigError(message, [{ path: "max_jobs", message }]);
  }
}
