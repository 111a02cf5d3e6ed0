import { createHash } from "node:crypto";

/** Length of the source-hash tag (reference §3.1). */
export const TAG_LENGTH = 8;

/**
 * The image tag both agents compute: the first 8 hex characters of SHA-256 over the source string
 * followed directly by the Dockerfile text (no separator). Pure.
 */
export function imageTag(sourceString: string, dockerfileText: string): string {
  return createHash("sha256").update(sourceString + dockerfileText, "utf8").digest("hex").slice(0, TAG_LENGTH);
}

/**
 * The repository name used when no destination is configured (§2.7): the job name before its first
 * `:`, lower-cased, every run of characters outside `[a-z0-9._-]` replaced by `__`, and separators
 * collapsed and trimmed so Docker accepts it (`entity/project/job:latest` → `entity__project__job`).
 */
export function sanitizedImageName(jobName: string): string {
  const base = jobName.split(":")[0]!.toLowerCase();
  const name = base
    .replace(/[^a-z0-9._-]+/g, "__")
    .replace(/[._-]{3,}/g, "__")
    .replace(/^[._-]+|[._-]+$/g, "");
  return name || "launch-job";
}
