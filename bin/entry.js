// Which code `launch-agent` runs. In the image only dist/ exists. In a checkout, dist/ (built by
// `npm run build`, which `npm install` runs as `prepare`) is used while it is newer than every
// source file: loading the TypeScript through tsx costs ~0.5 s and ~40 MB on every start. Once a
// source is edited, the sources run through tsx, so a checkout never runs stale code.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/** Newest modification time of the .ts files under dir (0 when none). */
function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    const mtime = statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs;
    if (mtime > newest) newest = mtime;
  }
  return newest;
}

/**
 * @param {string} root the package root (holding agent/ and/or dist/)
 * @returns {{ kind: "dist" | "source", url: string, reason: string }}
 */
export function chooseEntry(root) {
  const source = join(root, "agent", "cli.ts");
  const compiled = join(root, "dist", "agent", "cli.js");
  const dist = { kind: "dist", url: pathToFileURL(compiled).href };
  const src = { kind: "source", url: pathToFileURL(source).href };
  if (!existsSync(source)) return { ...dist, reason: "no sources (installed package or image)" };
  if (!existsSync(compiled)) return { ...src, reason: "dist/ not built (npm run build)" };
  const built = statSync(compiled).mtimeMs;
  if (newestSource(join(root, "agent")) > built) return { ...src, reason: "a source is newer than dist/ (npm run build)" };
  return { ...dist, reason: "dist/ is current" };
}
