// The infra tests alone (components/ and stacks/ under Pulumi mocks): what `npm run mutation` runs for each mutant.
// They need no services, so there is no global setup.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "node",
    include: ["test/infra/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  },
});
