// The agent's cloud environment from the config's `environment` block (reference §5).
import { LaunchError } from "../errors.js";
import { AwsEnvironment, type AwsEnvironmentOptions } from "./aws.js";
import { AzureEnvironment, type AzureEnvironmentOptions } from "./azure.js";
import { GcpEnvironment, type GcpEnvironmentOptions } from "./gcp.js";
import { LocalEnvironment } from "./local.js";
import type { Environment, EnvironmentBlock } from "./types.js";

export type { Environment, EnvironmentBlock, EnvironmentIdentity, EnvironmentType } from "./types.js";
export { AwsEnvironment, AWS_NO_CREDENTIALS, AWS_NO_REGION } from "./aws.js";
export { GcpEnvironment, GCP_NO_CREDENTIALS, GCP_NO_REGION, GCP_REFRESH_FAILED, type GoogleAuthLike } from "./gcp.js";
export { AzureEnvironment, AZURE_NO_CREDENTIALS, AZURE_VERIFY_SCOPE, type TokenSource } from "./azure.js";
export { LocalEnvironment, LOCAL_VERIFY_MESSAGE } from "./local.js";

export const NO_ENVIRONMENT_TYPE = "Could not create environment from config. Environment type not specified!";

export interface EnvironmentOptions {
  aws?: AwsEnvironmentOptions;
  gcp?: GcpEnvironmentOptions;
  azure?: AzureEnvironmentOptions;
}

/**
 * The Environment for a config's `environment` block: none → local; aws and gcp need `region`.
 * Throws LaunchError (stage "agent") with the official message first and the fix after it.
 * Constructing one makes no network call; verify() does.
 */
export function environmentFor(block: EnvironmentBlock | null | undefined, opts: EnvironmentOptions = {}): Environment {
  if (block === null || block === undefined) return new LocalEnvironment();
  const region = typeof block.region === "string" && block.region.trim() !== "" ? block.region.trim() : null;
  switch (block.type) {
    case "aws":
      return new AwsEnvironment(region ?? "", opts.aws);
    case "gcp":
      return new GcpEnvironment(region ?? "", opts.gcp);
    case "azure":
      return new AzureEnvironment(region, opts.azure);
    case undefined:
      throw new LaunchError(`${NO_ENVIRONMENT_TYPE} Set environment.type to aws, gcp or azure in the launch config.`, "agent");
    default:
      throw new LaunchError(
        `Unsupported environment.type '${block.type}' in the launch config. Use aws, gcp or azure (or remove the environment block).`,
        "agent",
      );
  }
}
