// Azure: DefaultAzureCredential (AZURE_* environment, AKS workload identity, managed identity, az
// login), checked by requesting a token. The official agent only constructs the credential; asking
// for a token finds a broken identity before the first job does. `region` is carried but unused.
import { LaunchError } from "../errors.js";
import { lazy } from "../lazy.js";
import type { Environment, EnvironmentIdentity } from "./types.js";

/** Azure Resource Manager: every identity the agent runs as can get a token for it. */
export const AZURE_VERIFY_SCOPE = "https://management.azure.com/.default";

export const AZURE_NO_CREDENTIALS = "Could not get Azure credentials from DefaultAzureCredential.";
const HINT =
  "Give the agent an identity: AKS workload identity (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE), a managed identity, AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or `az login`.";

/** What the environment needs from a TokenCredential (DefaultAzureCredential satisfies it). */
export interface TokenSource {
  getToken(scope: string): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export interface AzureEnvironmentOptions {
  credential?: TokenSource;
}

/** The `tid` claim of a JWT access token, without verifying it (it is only reported, never trusted). */
function tenantOf(token: string): string | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { tid?: unknown };
    return typeof claims.tid === "string" ? claims.tid : undefined;
  } catch {
    return undefined;
  }
}

export class AzureEnvironment implements Environment {
  readonly type = "azure" as const;
  private readonly credential: () => Promise<TokenSource>;

  constructor(
    readonly region: string | null,
    opts: AzureEnvironmentOptions = {},
  ) {
    this.credential = lazy(async () => opts.credential ?? new (await import("@azure/identity")).DefaultAzureCredential());
  }

  async verify(): Promise<EnvironmentIdentity> {
    let token;
    try {
      token = await (await this.credential()).getToken(AZURE_VERIFY_SCOPE);
    } catch (err) {
      const first = String((err as Error).message ?? err).split(/\r?\n/)[0]!.replace(/[.\s]+$/, "");
      throw new LaunchError(`${AZURE_NO_CREDENTIALS} ${(err as Error).name ?? "Error"}: ${first}. ${HINT}`, "agent", { cause: err });
    }
    if (!token?.token) throw new LaunchError(`${AZURE_NO_CREDENTIALS} No token was returned. ${HINT}`, "agent");
    const tenant = tenantOf(token.token);
    return { type: "azure", region: this.region, ...(tenant ? { tenant } : {}) };
  }
}
