#!/usr/bin/env node
// Entry point for `npx launch-agent`. In a source checkout it runs the TypeScript through tsx;
// the container image ships only the compiled dist/ and runs that.
import { existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

// The AWS SDK warns on every start that future releases need Node 22; we pin a release that supports 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const source = join(root, "agent", "cli.ts");
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(pathToFileURL(source).href);
} else {
  await import(pathToFileURL(join(root, "dist", "agent", "cli.js")).href);
}
