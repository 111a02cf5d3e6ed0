// GCP: Application Default Credentials via google-auth-library (Workload Identity, a key file in
// GOOGLE_APPLICATION_CREDENTIALS, gcloud ADC), checked by fetching an access token.
import { lazy } from "../lazy.js";
import { LaunchError } from "../errors.js";
import type { Environment, EnvironmentIdentity } from "./types.js";

export const GCP_NO_REGION = "Missing 'region' field.";
export const GCP_NO_CREDENTIALS = "No Google Cloud Platform credentials found.";
export const GCP_REFRESH_FAILED = "Could not refresh Google Cloud Platform credentials.";

const ADC_HINT =
  "Please run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file; on GKE, bind the agent's Kubernetes service account to a Google service account with Workload Identity.";

/** What the environment needs from google-auth-library's GoogleAuth (which satisfies it). */
export interface GoogleAuthLike {
  getClient(): Promise<{ getAccessToken(): Promise<{ token?: string | null }> }>;
  getProjectId(): Promise<string>;
}

export interface GcpEnvironmentOptions {
  auth?: GoogleAuthLike;
}

function isMissingAdc(message: string): boolean {
  return /Could not load the default credentials|does not exist, or it is not a file|Unable to detect a Project Id/i.test(message);
}

export class GcpEnvironment implements Environment {
  readonly type = "gcp" as const;
  private readonly auth: () => Promise<GoogleAuthLike>;

  constructor(
    readonly region: string,
    opts: GcpEnvironmentOptions = {},
  ) {
    if (!region) throw new LaunchError(`${GCP_NO_REGION} Set environment.region (e.g. us-central1) in the launch config.`, "agent");
    this.auth = lazy(async () => opts.auth ?? new (await import("google-auth-library")).GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] }));
  }

  async verify(): Promise<EnvironmentIdentity> {
    let client;
    try {
      client = await (await this.auth()).getClient();
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      const lead = isMissingAdc(message) ? GCP_NO_CREDENTIALS : "Invalid Google Cloud Platform credentials.";
      throw new LaunchError(`${lead} ${firstLine(message)}. ${ADC_HINT}`, "agent", { cause: err });
    }
    let token: string | null | undefined;
    try {
      token = (await client.getAccessToken()).token;
    } catch (err) {
      throw new LaunchError(`${GCP_REFRESH_FAILED} ${firstLine((err as Error).message)}. ${ADC_HINT}`, "agent", { cause: err });
    }
    if (!token) throw new LaunchError(`${GCP_REFRESH_FAILED} No access token was returned. ${ADC_HINT}`, "agent");
    let project: string;
    try {
      project = await (await this.auth()).getProjectId();
    } catch (err) {
      throw new LaunchError(
        `${GCP_NO_CREDENTIALS} The credentials name no project (${firstLine((err as Error).message)}). Set GOOGLE_CLOUD_PROJECT or use credentials that carry a project.`,
        "agent",
        { cause: err },
      );
    }
    return { type: "gcp", region: this.region, project };
  }
}

function firstLine(message: unknown): string {
  return String(message ?? "").split(/\r?\n/)[0]!.replace(/[.\s]+$/, "");
}
