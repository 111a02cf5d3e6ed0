// How the CLI reports an error that ends a command: the cause and the fix in one message; a stack
// trace only when asked for with -vv (a trace helps a bug report, not a user with a wrong path).
import { LaunchError } from "./errors.js";

/** The -v count in argv (`-vv`, `-v -v`, `--verbose --verbose`), read before commander has parsed anything. */
export function verbosityFromArgv(argv: readonly string[]): number {
  let n = 0;
  for (const arg of argv) {
    if (arg === "--") break;
    if (arg === "--verbose") n++;
    else if (/^-v+$/.test(arg)) n += arg.length - 1;
  }
  return n;
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is a file, not a directory",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "the disk is full",
  EEXIST: "it already exists",
};

/** A failed system call (fs, spawn), said as what failed on which path, and what to check. */
function systemErrorMessage(err: NodeJS.ErrnoException): string | null {
  if (typeof err.code !== "string" || !(err.code in ERRNO_WORDS)) return null;
  const what = err.syscall ? `${err.syscall} ${err.path ?? ""}`.trim() : (err.path ?? "a file operation");
  return `${what} failed: ${ERRNO_WORDS[err.code]} (${err.code}). Check the path and its permissions.`;
}

/** The text printed for an error that ends the command (without the `launch-agent: ` prefix). */
export function formatFatalError(err: unknown, verbosity: number): string {
  const stack = verbosity >= 2 && err instanceof Error && err.stack ? `\n${err.stack}` : "";
  if (err instanceof LaunchError) return `${err.message}${stack}`;
  if (typeof err === "object" && err !== null && (err as { transient?: unknown }).transient === true) {
    // The backend stayed unreachable through every retry: a plain message, not a crash.
    return `${(err as Error).message}. Check WANDB_BASE_URL and the network, then start the agent again.${stack}`;
  }
  const system = err instanceof Error ? systemErrorMessage(err as NodeJS.ErrnoException) : null;
  if (system) return `${system}${stack}`;
  const message = err instanceof Error ? err.message : String(err);
  return `unexpected error: ${message}${stack || "\n(run again with -vv for the stack trace, and please report it)"}`;
}
