import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { LaunchError } from "../errors.js";
import type { ResolvedJob } from "../backend/types.js";
import { JOB_FILE_NAME, JobFileSchema, type JobFile } from "./job-file.js";
import { formatZodIssues } from "./zod-format.js";

export interface JobDirectory {
  /** Absolute path of the directory. */
  dir: string;
  job: JobFile;
  files: ResolvedJob["files"];
}

/**
 * Reads a local job directory: its `wandb-job.json`, validated, and the files a job artifact may
 * carry beside it. `label` says where the path came from (`--job`, `runSpec.job`) for error messages.
 */
export async function readJobDirectory(path: string, label: string): Promise<JobDirectory> {
  const dir = resolve(path);
  if (!(await stat(dir).catch(() => null))?.isDirectory()) {
    throw new LaunchError(`job directory ${dir} (${label}) does not exist or is not a directory; point ${label} at a directory holding ${JOB_FILE_NAME}`);
  }
  const jobFile = join(dir, JOB_FILE_NAME);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(jobFile, "utf8"));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === "ENOENT" ? "is missing" : `is not valid JSON (${(err as Error).message})`;
    throw new LaunchError(`${jobFile} ${why}; a job directory needs a ${JOB_FILE_NAME} with source_type, source and runtime`);
  }
  const parsed = JobFileSchema.safeParse(raw);
  if (!parsed.success) throw new LaunchError(`${jobFile} is not a valid job file: ${formatZodIssues(parsed.error)}`);
  const files: ResolvedJob["files"] = {};
  if (existsSync(join(dir, "requirements.frozen.txt"))) files.requirementsFrozen = join(dir, "requirements.frozen.txt");
  if (existsSync(join(dir, "diff.patch"))) files.diffPatch = join(dir, "diff.patch");
  return { dir, job: parsed.data, files };
}
