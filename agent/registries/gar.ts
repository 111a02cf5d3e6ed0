import { lazy } from "../lazy.js";
import { LaunchError } from "../errors.js";
import type { RegistryCredentials } from "./types.js";
import type { Destination } from "./destination.js";
import { OciRegistry, type OciRegistryOptions } from "./oci.js";

/** What the registry needs from google-auth-library: an access token. */
export interface AccessTokenSource {
  getAccessToken(): Promise<string | null | undefined>;
}

export interface GarRegistryOptions extends OciRegistryOptions {
  /** Injected for tests; default: Application Default Credentials with the cloud-platform scope. */
  auth?: AccessTokenSource;
}

export const GAR_USERNAME = "oauth2accesstoken";

/** Google Artifact Registry: user `oauth2accesstoken`, password an ADC access token (§4.2). */
export class GarRegistry extends OciRegistry {
  readonly kind = "gar" as const;
  private readonly auth: () => Promise<AccessTokenSource>;

  constructor(dest: Destination, opts: GarRegistryOptions = {}) {
    super(dest, opts);
    this.auth = lazy(async () => opts.auth ?? new (await import("google-auth-library")).GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] }));
  }

  async credentials(): Promise<RegistryCredentials> {
    let token: string | null | undefined;
    try {
      token = await (await this.auth()).getAccessToken();
    } catch (err) {
      throw new LaunchError(
        `could not get a Google access token for ${this.host}: ${(err as Error).message}. The agent uses Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, workload identity, or gcloud auth application-default login)`,
        "build",
        { cause: err },
      );
    }
    if (!token) throw new LaunchError(`Application Default Credentials gave no access token for ${this.host}`, "build");
    return { username: GAR_USERNAME, password: token };
  }

  protected credentialHint(): string {
    return "the Google identity needs roles/artifactregistry.writer on the repository";
  }
}
