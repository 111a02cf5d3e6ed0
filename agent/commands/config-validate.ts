// `launch-agent config validate [FILE] [--json]`: check a launch-config.yaml with the agent's own
// rules without starting anything. Exit 0 when valid, 1 when not.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import {
  ConfigError,
  defaultConfigPath,
  readConfigFile,
  printable,
  validateAgentConfig,
  type ValidationResult,
} from "../config/index.js";

/** Validate one file. Never throws: unreadable files and YAML errors come back as errors. */
export async function validateConfigFile(path: string): Promise<ValidationResult> {
  try {
    const { doc, warnings } = await readConfigFile(path);
    const result = validateAgentConfig(doc);
    return { valid: result.valid, errors: result.errors, warnings: [...warnings, ...result.warnings] };
  } catch (err) {
    if (err instanceof ConfigError) {
      const errors = err.issues.length > 0 ? err.issues : [{ path: "", message: err.message }];
      return { valid: false, errors, warnings: [] };
    }
    throw err;
  }
}

/** The human-readable report: verdict, one line per error and warning, totals. */
export function formatValidationReport(path: string, result: ValidationResult): string {
  const lines = [`${printable(path)}: ${result.valid ? "valid" : "invalid"}`];
  // Keys and values come from the file: never echo its control characters to the terminal.
  for (const e of result.errors) lines.push(`  error    ${e.path ? `${printable(e.path)}: ` : ""}${printable(e.message)}`);
  for (const w of result.warnings) lines.push(`  warning  ${printable(w)}`);
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  lines.push(`${n(result.errors.length, "error")}, ${n(result.warnings.length, "warning")}`);
  return `${lines.join("\n")}\n`;
}

/** The `--json` document, keys in a fixed order for scripts. */
export function validationJson(result: ValidationResult): string {
  const doc = {
    valid: result.valid,
    errors: result.errors.map((e) => ({ path: e.path, message: e.message })),
    warnings: result.warnings,
  };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** `config validate` with no FILE and no default config: say that, not "the specified file". */
function noFileResult(defaultPath: string): ValidationResult {
  const message = `No config file given and there is no default config at ${defaultPath}: pass the file to check (launch-agent config validate FILE), or create ${defaultPath}.`;
  return { valid: false, errors: [{ path: "", message }], warnings: [] };
}

interface ValidateFlags {
  json?: boolean;
}

export function registerConfigCommands(program: Command): Command {
  const config = program.command("config").description("Work with the agent config file (launch-config.yaml).");
  config
    .command("validate")
    .description("Check a launch-config.yaml with the agent's rules; exit 0 when valid, 1 when not.")
    .argument("[file]", "config file to check (default: ~/.config/wandb/launch-config.yaml)")
    .option("--json", 'print {"valid", "errors": [{"path", "message"}], "warnings"} as JSON on stdout')
    .action(async (file: string | undefined, flags: ValidateFlags) => {
      const path = file ?? defaultConfigPath();
      const result =
        file === undefined && !existsSync(path)
          ? noFileResult(path)
          : await validateConfigFile(path);
      process.stdout.write(flags.json ? validationJson(result) : formatValidationReport(path, result));
      process.exitCode = result.valid ? 0 : 1;
    });
  return config;
}
