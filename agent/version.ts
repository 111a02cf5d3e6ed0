import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package version from the nearest package.json above this file (agent/ in a checkout, dist/agent/ in the image). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const file = join(dir, "package.json");
    if (existsSync(file)) {
      const { name, version } = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      return `${name ?? "launch-agent"} ${version ?? "unknown"}`;
    }
    dir = dirname(dir);
  }
  return "launch-agent (version unknown)";
}
