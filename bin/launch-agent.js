#!/usr/bin/env node
// Entry point for `launch-agent` / `npx launch-agent`: runs the compiled dist/ when it is current,
// else the TypeScript sources through tsx (see entry.js).
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chooseEntry } from "./entry.js";

// The AWS SDK warns on every start that future releases need Node 22; we pin a release that supports 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const entry = chooseEntry(dirname(dirname(fileURLToPath(import.meta.url))));
if (entry.kind === "source") {
  const { register } = await import("tsx/esm/api");
  register();
}
await import(entry.url);
