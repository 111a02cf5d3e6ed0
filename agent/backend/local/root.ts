import { randomBytes } from "node:crypto";
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { LaunchError } from "../../errors.js";

const FIX = "choose a writable directory with --local DIR (or LAUNCH_AGENT_LOCAL_DIR)";

/** Why a file-system call failed, in words, from its errno code. */
function reason(err: unknown, what = "directories"): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  switch (code) {
    case "EROFS":
      return "the file system is read-only";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOTDIR":
      return "a part of the path is a file, not a directory";
    case "ENOENT":
      // mkdir under an existing directory only fails with ENOENT on special file systems (/proc).
      return `this file system does not allow creating ${what} here (a virtual file system such as /proc or /sys?)`;
    case "ENOSPC":
    case "EDQUOT":
      return "the disk is full";
    default:
      return (err as Error)?.message ?? String(err);
  }
}

function unusable(path: string, why: string): LaunchError {
  return new LaunchError(`the local queue root ${path} cannot hold a queue: ${why}; ${FIX}`);
}

/**
 * Make sure `root` is a directory this process can write to, creating it if needed, or throw a
 * LaunchError naming the path and the reason. Directories are created one level at a time:
 * `mkdir -p` under /proc loops forever in Node, and one level at a time fails at once instead.
 */
export async function prepareQueueRoot(root: string): Promise<void> {
  const missing: string[] = [];
  let existing = root;
  for (;;) {
    const st = await stat(existing).catch((err: NodeJS.ErrnoException) => err);
    if (!(st instanceof Error)) {
      if (!st.isDirectory()) throw unusable(root, `${existing} is a file, not a directory`);
      break;
    }
    if (st.code !== "ENOENT") throw unusable(root, `${existing}: ${reason(st)}`);
    const parent = dirname(existing);
    if (parent === existing) break;
    missing.unshift(existing);
    existing = parent;
  }
  for (const dir of missing) {
    try {
      await mkdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") continue; // created by another agent meanwhile
      throw unusable(root, `cannot create ${dir}: ${reason(err)}`);
    }
  }
  // The root may exist and still refuse writes (read-only mount, another user's directory, /proc).
  const probe = join(root, `.write-test-${process.pid}-${randomBytes(3).toString("hex")}`);
  try {
    await writeFile(probe, "");
  } catch (err) {
    throw unusable(root, `cannot write in it: ${reason(err, "files")}`);
  }
  await rm(probe, { force: true });
}
