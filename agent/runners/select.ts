import { LaunchError } from "../errors.js";
import { LocalProcessRunner } from "./local-process.js";
import type { Runner } from "./types.js";

/** The resources this agent can run on, by the names run specs use. */
export const SUPPORTED_RESOURCES = ["local-process"] as const;

/** A runner for the run spec's `resource`; an unknown one fails the item (stage run), not the agent. */
export function createRunner(resource: string): Runner {
  switch (resource) {
    case "local-process":
      return new LocalProcessRunner();
    default:
      throw new LaunchError(
        `resource ${JSON.stringify(resource)} is not supported by this agent; supported: ${SUPPORTED_RESOURCES.join(", ")}. Set "resource" in the run spec (launch-agent local push --resource ...).`,
        "run",
      );
  }
}
