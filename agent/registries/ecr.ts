import type { ECRClient } from "@aws-sdk/client-ecr";
import { lazy } from "../lazy.js";
import { LaunchError } from "../errors.js";
import type { RegistryCredentials } from "./types.js";
import { ecrRegion, type Destination } from "./destination.js";
import { OciRegistry, type OciRegistryOptions } from "./oci.js";

export interface EcrRegistryOptions extends OciRegistryOptions {
  /** Injected for tests; default: a client for the registry's region on the default credential chain. */
  client?: ECRClient;
}

/** Amazon ECR: push credentials from GetAuthorizationToken on the default AWS credential chain (§4.2). */
export class EcrRegistry extends OciRegistry {
  readonly kind = "ecr" as const;
  readonly region: string;
  private readonly client: () => Promise<ECRClient>;
  private cached: { creds: RegistryCredentials; expires: number } | null = null;

  constructor(dest: Destination, opts: EcrRegistryOptions = {}) {
    super(dest, opts);
    this.region = ecrRegion(dest.host);
    const region = this.region;
    this.client = lazy(async () => opts.client ?? new (await import("@aws-sdk/client-ecr")).ECRClient({ region }));
  }

  async credentials(): Promise<RegistryCredentials> {
    // Tokens last 12 hours; reuse one until shortly before it expires.
    if (this.cached && this.cached.expires > Date.now() + 5 * 60_000) return this.cached.creds;
    let data;
    try {
      const { GetAuthorizationTokenCommand } = await import("@aws-sdk/client-ecr");
      const out = await (await this.client()).send(new GetAuthorizationTokenCommand({}));
      data = out.authorizationData?.[0];
    } catch (err) {
      const e = err as { name?: string; message?: string };
      throw new LaunchError(
        `could not get ECR credentials for ${this.host}: ${e.name ?? "Error"}: ${e.message ?? String(err)}. The agent uses the default AWS credential chain (environment, shared config, IRSA, instance role); it needs ecr:GetAuthorizationToken`,
        "build",
        { cause: err },
      );
    }
    const decoded = data?.authorizationToken ? Buffer.from(data.authorizationToken, "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    if (colon <= 0) throw new LaunchError(`ECR returned no usable authorization token for ${this.host}`, "build");
    const creds = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    this.cached = { creds, expires: data?.expiresAt?.getTime() ?? Date.now() + 60 * 60_000 };
    return creds;
  }

  protected credentialHint(): string {
    return `the AWS identity needs ecr:GetAuthorizationToken, ecr:BatchGetImage and push rights on the repository in ${this.region}`;
  }
}
