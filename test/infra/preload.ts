// Loads every module under mutation before any test runs. The infra tests share one vitest worker and its module
// cache (vitest.infra.config.ts, isolate: false), so a module's top-level code runs once: here, outside any test,
// where Stryker counts it as static (ignored: a mutant there would need a fresh module to take effect) instead of
// crediting it to whichever test happened to import the module first.
import "../../components/index.js";
import "../../stacks/program.js";
import "../../stacks/config.js";
