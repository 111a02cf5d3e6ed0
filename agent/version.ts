import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The directory of the nearest package.json above this file: the project root whether the agent runs from its
 * sources (agent/) or compiled (dist/agent/), and /app in the image.
 */
export function packageRoot(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, "package.json"))) return dir;
    dir = dirname(dir);
  }
  return null;
}

/** The package version from the nearest package.json above this file. */
export function packageVersion(): string {
  const root = packageRoot();
  if (!root) return "launch-agent (version unknown)";
  const { name, version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name?: string; version?: string };
  return `${name ?? "launch-agent"} ${version ?? "unknown"}`;
}
