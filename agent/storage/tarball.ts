// The build context as a gzip-compressed tar stream, produced lazily as the upload reads it, so
// memory stays constant whatever the context's size.
import { stat } from "node:fs/promises";
import { Readable } from "node:stream";
import { createGzip } from "node:zlib";
import { packDirectory } from "../jobs/context-tar.js";
import { LaunchError } from "../errors.js";

/** Checks `dir` is a readable directory before anything is sent to a store. */
export async function assertContextDir(dir: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (err) {
    throw new LaunchError(`The build context directory ${dir} cannot be read: ${(err as Error).message}`, "build", { cause: err });
  }
  if (!isDir) throw new LaunchError(`The build context ${dir} is not a directory.`, "build");
}

export interface ContextTarball {
  stream: Readable;
  /** Compressed bytes produced so far. */
  bytes(): number;
}

/**
 * A gzip'd tar of `dir` with its root as `.` (what kaniko's `--context` expects), from the same
 * packer the benchmark measures (agent/jobs/context-tar.ts): owner names and ids are dropped, and an
 * unreadable file is an error rather than a context that silently lacks it. Read errors surface as
 * LaunchError (stage "build") naming the directory.
 */
export function contextTarball(dir: string): ContextTarball {
  const tar = packDirectory(dir);
  const pack = tar.pipe(createGzip());
  tar.once("error", (err) => pack.destroy(err));
  let total = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of pack) {
        const buf = chunk as Buffer;
        total += buf.length;
        yield buf;
      }
    } catch (err) {
      throw new LaunchError(`Could not read the build context ${dir}: ${(err as Error).message}`, "build", { cause: err });
    }
  }
  return { stream: Readable.from(chunks(), { objectMode: false }), bytes: () => total };
}
