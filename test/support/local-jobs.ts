import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A temp directory for one test. */
export function tempDir(prefix = "launch-test-"): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Writes a local artifact job whose entrypoint is a shell command (fast: no interpreter start-up). */
export async function shellJob(parent: string, name: string, script: string, sourceType = "artifact"): Promise<string> {
  const dir = join(parent, name);
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, "wandb-job.json"),
    JSON.stringify({ source_type: sourceType, source: { entrypoint: ["/bin/sh", "run.sh"] }, runtime: "3.11" }),
  );
  await writeFile(join(dir, "run.sh"), script);
  return dir;
}
