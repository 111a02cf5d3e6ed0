/** Where the agent's cloud credentials come from (`environment` in launch-config.yaml, reference §5). */
export type EnvironmentType = "aws" | "gcp" | "azure" | "local";

/** Who the credentials belong to, as far as the cloud tells us. Never holds a token or key. */
export interface EnvironmentIdentity {
  type: EnvironmentType;
  region: string | null;
  /** AWS account id. */
  account?: string;
  /** AWS caller ARN (user, assumed role). */
  arn?: string;
  /** AWS partition from the ARN (`aws`, `aws-cn`, `aws-us-gov`): SageMaker role ARNs need it. */
  partition?: string;
  /** GCP project of the Application Default Credentials. */
  project?: string;
  /** Azure tenant id from the token's `tid` claim, when the token is a JWT. */
  tenant?: string;
}

export interface Environment {
  readonly type: EnvironmentType;
  readonly region: string | null;
  /**
   * Resolves the cloud's default credential chain and asks the cloud who we are. Throws a
   * LaunchError whose message starts with the official agent's wording and then says what to do.
   */
  verify(): Promise<EnvironmentIdentity>;
}

/** The part of the config's `environment` block this module reads (extra keys are ignored). */
export interface EnvironmentBlock {
  type?: string;
  region?: string | null;
}
