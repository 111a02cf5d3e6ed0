import { z } from "zod";
import { LaunchError } from "../errors.js";
import { lazy } from "../lazy.js";
import type { RegistryCredentials } from "./types.js";
import type { Destination } from "./destination.js";
import { OciRegistry, type FetchLike, type OciRegistryOptions } from "./oci.js";

/** The fixed user name ACR expects with a refresh token as password. */
export const ACR_REFRESH_TOKEN_USER = "00000000-0000-0000-0000-000000000000";
/** Audience of Entra tokens that ACR's exchange endpoint accepts. */
export const ACR_SCOPE = "https://containerregistry.azure.net/.default";

/** What the registry needs from @azure/identity (DefaultAzureCredential satisfies it). */
export interface EntraTokenSource {
  getToken(scope: string): Promise<{ token: string } | null>;
}

const ExchangeResponse = z.object({ refresh_token: z.string().min(1) });

export interface AcrRegistryOptions extends OciRegistryOptions {
  /** Injected for tests; default DefaultAzureCredential (env, workload identity, managed identity, az CLI). */
  credential?: EntraTokenSource;
}

/**
 * Azure Container Registry: an Entra token from DefaultAzureCredential, exchanged at the registry's
 * `/oauth2/exchange` for an ACR refresh token, which `docker login` accepts with the all-zero user.
 * (The official agent cannot log docker in to ACR at all, reference §10.)
 */
export class AcrRegistry extends OciRegistry {
  readonly kind = "acr" as const;
  private readonly credential: () => Promise<EntraTokenSource>;
  private readonly fetchFn: FetchLike;

  constructor(dest: Destination, opts: AcrRegistryOptions = {}) {
    super(dest, opts);
    this.credential = lazy(async () => opts.credential ?? new (await import("@azure/identity")).DefaultAzureCredential());
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  private cached: { creds: Promise<RegistryCredentials>; until: number } | null = null;

  /** One exchange serves the existence check, the login and the push of a build (refresh tokens last hours). */
  async credentials(): Promise<RegistryCredentials> {
    if (this.cached && this.cached.until > Date.now()) return this.cached.creds;
    const creds = this.exchange();
    this.cached = { creds, until: Date.now() + 10 * 60_000 };
    creds.catch(() => (this.cached = null));
    return creds;
  }

  private async exchange(): Promise<RegistryCredentials> {
    let accessToken: string;
    try {
      const token = await (await this.credential()).getToken(ACR_SCOPE);
      if (!token?.token) throw new Error("no token returned");
      accessToken = token.token;
    } catch (err) {
      throw new LaunchError(
        `could not get an Entra token for ${this.host}: ${(err as Error).message}. The agent uses DefaultAzureCredential (AZURE_* environment, workload identity, managed identity or az login)`,
        "build",
        { cause: err },
      );
    }
    const body = new URLSearchParams({ grant_type: "access_token", service: this.host, access_token: accessToken });
    let res: Response;
    try {
      res = await this.fetchFn(`${this.baseUrl}/oauth2/exchange`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: body.toString(),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new LaunchError(`could not reach ${this.baseUrl}/oauth2/exchange: ${(err as Error).message}`, "build", { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new LaunchError(
        `registry ${this.host} refused to exchange the Entra token (HTTP ${res.status}): the identity needs the AcrPush role on the registry`,
        "build",
      );
    }
    const parsed = ExchangeResponse.safeParse(await res.json().catch(() => null));
    if (!parsed.success) throw new LaunchError(`registry ${this.host} returned no refresh_token from /oauth2/exchange`, "build");
    return { username: ACR_REFRESH_TOKEN_USER, password: parsed.data.refresh_token };
  }

  protected credentialHint(): string {
    return "the Azure identity needs the AcrPush role on the registry";
  }
}
