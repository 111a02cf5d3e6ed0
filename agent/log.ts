import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

/** Keys whose values never reach a log line, wherever they appear in a logged object. */
export const REDACTED_PATHS = [
  "apiKey",
  "api_key",
  "password",
  "token",
  "authorization",
  "WANDB_API_KEY",
  "_wandb_api_key",
  "*.apiKey",
  "*.api_key",
  "*.password",
  "*.token",
  "*.authorization",
  "*.WANDB_API_KEY",
  "*._wandb_api_key",
  "*.*._wandb_api_key",
  "*.*.WANDB_API_KEY",
];

export interface LoggerOptions {
  /** 0 = info, 1 = debug, 2+ = trace (the agent's `verbosity`). */
  verbosity?: number;
  /** A file to write logs to; `-` or undefined means stderr. */
  file?: string;
  /** Force pretty (true) or JSON (false) output; default: pretty on a TTY. */
  pretty?: boolean;
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const verbosity = opts.verbosity ?? 0;
  const level = verbosity >= 2 ? "trace" : verbosity >= 1 ? "debug" : "info";
  const base = { level, redact: { paths: REDACTED_PATHS, censor: "[redacted]" }, base: undefined };
  if (opts.destination) return pino(base, opts.destination);
  const toFile = opts.file !== undefined && opts.file !== "-";
  const pretty = opts.pretty ?? (!toFile && process.stderr.isTTY === true);
  if (pretty) {
    return pino({
      ...base,
      transport: { target: "pino-pretty", options: { destination: 2, colorize: true, ignore: "pid,hostname" } },
    });
  }
  return pino(base, pino.destination({ dest: toFile ? opts.file! : 2, sync: true, mkdir: toFile }));
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
