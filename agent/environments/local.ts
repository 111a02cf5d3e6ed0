import { LaunchError } from "../errors.js";
import type { Environment, EnvironmentIdentity } from "./types.js";

export const LOCAL_VERIFY_MESSAGE = "Attempted to verify LocalEnvironment.";

/** No `environment` block: nothing to verify, and cloud features that need one say so. */
export class LocalEnvironment implements Environment {
  readonly type = "local" as const;
  readonly region = null;

  verify(): Promise<EnvironmentIdentity> {
    return Promise.reject(
      new LaunchError(`${LOCAL_VERIFY_MESSAGE} Add an environment block (type: aws, gcp or azure, and region) to the launch config.`, "agent"),
    );
  }
}
