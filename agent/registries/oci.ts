import { LaunchError } from "../errors.js";
import type { Registry, RegistryCredentials, RegistryKind } from "./types.js";
import { isLoopbackHost, type Destination } from "./destination.js";

/**
 * The one existence check for every registry kind: `HEAD /v2/<name>/manifests/<tag>` through the OCI
 * distribution API, answering the auth challenge the registry sends (Basic, or Bearer via its token
 * endpoint with Basic credentials). One precise request per check, where the official agent calls
 * each cloud's own API (and lists a whole Artifact Registry repository).
 */

/** Manifest media types we accept, so a registry never answers 404 just because of content negotiation. */
export const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

const TIMEOUT_MS = 30_000;

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface OciRegistryOptions {
  /** Where to send API requests; default `https://<host>`, `http://` for loopback hosts. */
  baseUrl?: string;
  fetch?: FetchLike;
}

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string | null): Challenge | null {
  if (!header) return null;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** fetch() says only "fetch failed"; the reason (ECONNREFUSED, a TLS error, a timeout) is in its cause. */
function networkReason(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string; code?: string } };
  if (e.cause?.code || e.cause?.message) return [e.cause.code, e.cause.message].filter(Boolean).join(" ");
  return e.message ?? String(err);
}

export abstract class OciRegistry implements Registry {
  abstract readonly kind: RegistryKind;
  readonly host: string;
  readonly repository: string;
  readonly repositoryUri: string;
  protected readonly baseUrl: string;
  protected readonly fetchImpl: FetchLike;

  constructor(dest: Destination, opts: OciRegistryOptions = {}) {
    this.host = dest.host;
    this.repository = dest.repository;
    this.repositoryUri = dest.repositoryUri;
    const apiHost = dest.host === "docker.io" ? "registry-1.docker.io" : dest.host;
    this.baseUrl = opts.baseUrl ?? `${isLoopbackHost(apiHost) ? "http" : "https"}://${apiHost}`;
    this.fetchImpl = opts.fetch ?? ((input, init) => fetch(input, init));
  }

  abstract credentials(): Promise<RegistryCredentials | null>;

  async exists(tag: string): Promise<boolean> {
    const url = `${this.baseUrl}/v2/${this.repository}/manifests/${encodeURIComponent(tag)}`;
    let res = await this.request(url, {});
    if (res.status === 401) {
      const challenge = parseChallenge(res.headers.get("www-authenticate"));
      const authorization = await this.answer(challenge, res);
      res = await this.request(url, { authorization });
      if (res.status === 401 || res.status === 403) throw this.authError(res.status, "the manifest request");
    }
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    if (res.status === 403) throw this.authError(403, "the manifest request");
    throw new LaunchError(
      `registry ${this.host} answered HTTP ${res.status} when checking whether ${this.repositoryUri}:${tag} exists`,
      "build",
    );
  }

  private async request(url: string, headers: Record<string, string>): Promise<Response> {
    try {
      const res = await this.fetchImpl(url, {
        method: "HEAD",
        headers: { accept: MANIFEST_ACCEPT, ...headers },
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body?.cancel();
      return res;
    } catch (err) {
      throw new LaunchError(`could not reach registry ${this.host} at ${this.baseUrl}: ${networkReason(err)}`, "build", { cause: err });
    }
  }

  /** The Authorization header that answers a challenge. */
  private async answer(challenge: Challenge | null, res: Response): Promise<string> {
    const creds = await this.credentials();
    const basic = creds ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString("base64")}` : null;
    if (!challenge || challenge.scheme === "basic") {
      if (!basic) {
        throw new LaunchError(
          `registry ${this.host} requires authentication (HTTP ${res.status}) and no credentials were found: run docker login ${this.host}, or add it to the docker config's auths`,
          "build",
        );
      }
      return basic;
    }
    if (challenge.scheme !== "bearer" || !challenge.params.realm) {
      throw new LaunchError(`registry ${this.host} asked for unsupported authentication ${JSON.stringify(challenge.scheme)}`, "build");
    }
    const tokenUrl = new URL(challenge.params.realm);
    if (challenge.params.service) tokenUrl.searchParams.set("service", challenge.params.service);
    tokenUrl.searchParams.set("scope", challenge.params.scope ?? `repository:${this.repository}:pull`);
    let tokenRes: Response;
    try {
      tokenRes = await this.fetchImpl(tokenUrl.toString(), {
        headers: basic ? { authorization: basic } : {},
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      throw new LaunchError(`could not reach the token endpoint of registry ${this.host} (${tokenUrl.origin}): ${networkReason(err)}`, "build", { cause: err });
    }
    if (tokenRes.status === 401 || tokenRes.status === 403) {
      await tokenRes.body?.cancel();
      throw this.authError(tokenRes.status, "the token request");
    }
    if (!tokenRes.ok) {
      await tokenRes.body?.cancel();
      throw new LaunchError(`the token endpoint of registry ${this.host} answered HTTP ${tokenRes.status}`, "build");
    }
    const body = (await tokenRes.json().catch(() => null)) as { token?: unknown; access_token?: unknown } | null;
    const token = typeof body?.token === "string" ? body.token : typeof body?.access_token === "string" ? body.access_token : null;
    if (!token) throw new LaunchError(`the token endpoint of registry ${this.host} returned no token`, "build");
    return `Bearer ${token}`;
  }

  protected authError(status: number, what: string): LaunchError {
    return new LaunchError(
      `registry ${this.host} rejected the credentials (authentication failed, HTTP ${status} on ${what}) for ${this.repositoryUri}: ${this.credentialHint()}`,
      "build",
    );
  }

  /** How to fix credentials for this kind of registry. */
  protected abstract credentialHint(): string;
}
