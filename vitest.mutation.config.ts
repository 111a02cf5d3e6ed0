// `npm run mutation` (Stryker) runs the infra tests once per mutant. Without isolation the worker keeps the
// Pulumi SDKs it has imported between runs (importing them is most of a run's time); each test file still
// installs its own mocks, and mutants are switched at run time, so no state a test depends on carries over.
import { mergeConfig } from "vitest/config";
import infra from "./vitest.infra.config.js";

export default mergeConfig(infra, { test: { isolate: false } });
