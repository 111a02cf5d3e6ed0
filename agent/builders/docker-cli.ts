import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

/** Running the docker CLI with output streamed line by line (never buffered whole) and a bounded tail kept for errors. */

export interface StreamedRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines of stdout+stderr, oldest first. */
  tail: string[];
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed (secrets go here, never into argv). */
  input?: string;
  signal?: AbortSignal;
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  tailLines?: number;
  onSpawn?: (child: ChildProcess) => void;
}

export function runStreaming(command: string, args: readonly string[], opts: RunOptions = {}): Promise<StreamedRun> {
  const keep = opts.tailLines ?? 40;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
      signal: opts.signal,
    });
    opts.onSpawn?.(child);
    const tail: string[] = [];
    const take = (stream: "stdout" | "stderr") => (line: string) => {
      tail.push(line);
      if (tail.length > keep) tail.shift();
      opts.onLine?.(line, stream);
    };
    const outDone = new Promise<void>((r) => createInterface({ input: child.stdout! }).on("line", take("stdout")).on("close", r));
    const errDone = new Promise<void>((r) => createInterface({ input: child.stderr! }).on("line", take("stderr")).on("close", r));
    child.stdin!.on("error", () => {}); // the CLI may exit before reading stdin; its exit code tells the story
    child.stdin!.end(opts.input ?? "");
    let failed = false;
    child.on("error", (err) => {
      failed = true;
      reject(err);
    });
    child.on("close", (code, signal) => {
      if (failed) return;
      void Promise.all([outDone, errDone]).then(() => resolve({ code, signal, tail }));
    });
  });
}

/** Exit status only, output discarded. Missing binary → false. */
export async function succeeds(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    const r = await runStreaming(command, args, { env, tailLines: 0 });
    return r.code === 0;
  } catch {
    return false;
  }
}
