// Services shared by the whole run are started here (see test/support/).
import type { TestProject } from "vitest/node";
import { startAzurite, type RunningAzurite } from "./support/azurite.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A failed start is handed to the tests that need azurite, which then fail with the reason.
  let azurite: RunningAzurite | null = null;
  try {
    azurite = await startAzurite();
    project.provide("azurite", { endpoint: azurite.endpoint });
  } catch (err) {
    project.provide("azurite", { error: err instanceof Error ? err.message : String(err) });
  }
  return async () => {
    await azurite?.stop();
  };
}
