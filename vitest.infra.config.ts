// The infra tests alone (components/ and stacks/ under Pulumi mocks): what `npm run mutation` runs for each mutant.
// They need no services, so there is no global setup.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/infra/**/*.test.ts"],
    // One worker keeps its modules between runs: Stryker switches mutants at run time, so nothing needs
    // re-importing, and a mutant run costs the covering tests only (about 3x faster than isolated runs here).
    // This holds because the tests build everything inside each test, none at load or in beforeAll.
    isolate: false,
    setupFiles: ["test/infra/preload.ts"],
    // Well above the slowest test (a whole-stack render in a subprocess, ~7 s), and well below Stryker's own
    // timeout: a mutant that leaves an Output unresolved fails its test here instead of hanging the worker
    // until Stryker restarts it.
    testTimeout: 20_000,
    hookTimeout: 120_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
