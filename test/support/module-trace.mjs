// Preload (`node --import ./test/support/module-trace.mjs`) that records every module the process
// loads into the file named by MODULE_TRACE: ES modules through a resolve hook (it runs on the
// loader thread, hence the synchronous append), CommonJS ones from require's cache at exit.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const out = process.env.MODULE_TRACE;
if (out) {
  register(new URL("./module-trace-hooks.mjs", import.meta.url));
  const cache = createRequire(import.meta.url).cache;
  process.on("exit", () => appendFileSync(out, Object.keys(cache).join("\n") + "\n"));
}
