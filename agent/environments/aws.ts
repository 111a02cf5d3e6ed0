// AWS: the SDK's default credential chain (env, shared config/profile, web identity/IRSA, ECS/EC2
// role), checked with STS GetCallerIdentity. Unlike the official agent nothing is snapshotted at
// construction, so short-lived credentials keep refreshing for long jobs (reference §5 quirk).
import type { STSClient } from "@aws-sdk/client-sts";
import { lazy } from "../lazy.js";
import { LaunchError } from "../errors.js";
import type { Environment, EnvironmentIdentity } from "./types.js";

export const AWS_NO_REGION = "Could not create AWS environment from config. Region not specified.";
export const AWS_NO_CREDENTIALS =
  "Could not create AWS environment from default environment. Please verify that your AWS credentials are configured correctly.";

const CHAIN_HINT =
  "The agent uses the default AWS chain: IRSA / web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), an ECS or EC2 instance role, AWS_PROFILE with ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.";

export interface AwsEnvironmentOptions {
  /** Injected for tests; default: an STS client for the region on the default chain. */
  sts?: STSClient;
}

interface AwsErrorLike {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export class AwsEnvironment implements Environment {
  readonly type = "aws" as const;
  private readonly sts: () => Promise<STSClient>;

  constructor(
    readonly region: string,
    opts: AwsEnvironmentOptions = {},
  ) {
    if (!region) throw new LaunchError(`${AWS_NO_REGION} Set environment.region (e.g. us-east-1) in the launch config.`, "agent");
    this.sts = lazy(async () => opts.sts ?? new (await import("@aws-sdk/client-sts")).STSClient({ region }));
  }

  async verify(): Promise<EnvironmentIdentity> {
    let out;
    try {
      const { GetCallerIdentityCommand } = await import("@aws-sdk/client-sts");
      out = await (await this.sts()).send(new GetCallerIdentityCommand({}));
    } catch (err) {
      const e = (err ?? {}) as AwsErrorLike;
      const detail = `${e.name ?? "Error"}: ${String(e.message ?? err).split("\n")[0]}`;
      throw new LaunchError(`${AWS_NO_CREDENTIALS} sts:GetCallerIdentity failed (${detail}). ${CHAIN_HINT}`, "agent", { cause: err });
    }
    const arn = out.Arn ?? undefined;
    const partition = arn?.split(":")[1];
    return {
      type: "aws",
      region: this.region,
      ...(out.Account ? { account: out.Account } : {}),
      ...(arn ? { arn } : {}),
      ...(partition ? { partition } : {}),
    };
  }
}
