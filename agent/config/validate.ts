import { agentConfigSchema } from "./schema.js";
import { formatIssueLine, toConfigIssues } from "./issues.js";
import { collectWarnings } from "./warnings.js";
import { ConfigError, type AgentConfig, type ConfigIssue, type ValidationResult } from "./types.js";

export interface ParsedConfig extends ValidationResult {
  /** The validated config with schema defaults applied; null when invalid. */
  config: AgentConfig | null;
}

/** Validate a parsed document and return the typed config. Never throws. */
export function parseAgentConfig(raw: unknown): ParsedConfig {
  const warnings = collectWarnings(raw);
  const r = agentConfigSchema.safeParse(raw ?? {}, { reportInput: true });
  if (r.success) return { valid: true, errors: [], warnings, config: r.data };
  const errors: ConfigIssue[] = r.error.issues.flatMap(toConfigIssues);
  return { valid: false, errors, warnings, config: null };
}

/** Validate a parsed document with the official agent's rules. Never throws. */
export function validateAgentConfig(raw: unknown): ValidationResult {
  const { valid, errors, warnings } = parseAgentConfig(raw);
  return { valid, errors, warnings };
}

/** Throwing variant for code that needs a config or nothing (e.g. generated configs). */
export function assertValidAgentConfig(raw: unknown, source = "launch agent config"): AgentConfig {
  const r = parseAgentConfig(raw);
  if (!r.config) throw configErrorFor(r.errors, source);
  return r.config;
}

export function configErrorFor(errors: ConfigIssue[], source: string): ConfigError {
  const lines = errors.map((e) => `  ${formatIssueLine(e)}`).join("\n");
  return new ConfigError(`Invalid launch agent config (${source}):\n${lines}`, errors);
}
