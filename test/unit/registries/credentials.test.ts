import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { mockClient } from "aws-sdk-client-mock";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { GoogleAuth, OAuth2Client } from "google-auth-library";
import { registryFor } from "../../../agent/registries/index.js";
import { EcrRegistry } from "../../../agent/registries/ecr.js";
import { ACR_REFRESH_TOKEN_USER, ACR_SCOPE } from "../../../agent/registries/acr.js";
import { parseChallenge } from "../../../agent/registries/oci.js";
import { LaunchError } from "../../../agent/errors.js";
import { startFakeTokenRegistry, type FakeTokenRegistry } from "../../support/fake-token-registry.js";

const ECR = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app";
const GAR = "us-central1-docker.pkg.dev/proj/repo/app";
const ACR = "myreg.azurecr.io/app";

describe("registry kind by destination", () => {
  it("recognises ECR, Artifact Registry, ACR and anything else", () => {
    expect(registryFor(ECR, { client: new ECRClient({ region: "eu-west-1" }) }).kind).toBe("ecr");
    expect(registryFor(`https://${GAR}`, { auth: { getAccessToken: async () => "t" } }).kind).toBe("gar");
    expect(registryFor(ACR, { credential: { getToken: async () => ({ token: "t" }) } }).kind).toBe("acr");
    const anon = registryFor("registry.example.com:5000/team/app");
    expect([anon.kind, anon.host, anon.repositoryUri]).toEqual(["anonymous", "registry.example.com:5000", "registry.example.com:5000/team/app"]);
  });

  it("refuses a destination with a tag, naming builder.destination", () => {
    expect(() => registryFor("registry.example.com/app:v1")).toThrow(/builder.destination: .*may not include a tag/);
  });
});

describe("ECR credentials (GetAuthorizationToken, default chain)", () => {
  const ecr = mockClient(ECRClient);
  afterEach(() => ecr.reset());

  it("decodes the authorization token into user AWS and its password, and reuses it until it expires", async () => {
    ecr.on(GetAuthorizationTokenCommand).resolves({
      authorizationData: [{ authorizationToken: Buffer.from("AWS:ecr-password").toString("base64"), expiresAt: new Date(Date.now() + 12 * 3600_000) }],
    });
    const reg = registryFor(ECR) as EcrRegistry;
    expect(reg.region).toBe("eu-west-1");
    expect(await reg.credentials()).toEqual({ username: "AWS", password: "ecr-password" });
    expect(await reg.credentials()).toEqual({ username: "AWS", password: "ecr-password" });
    expect(ecr.commandCalls(GetAuthorizationTokenCommand)).toHaveLength(1);
  });

  it("reports an AWS error with its code and what permission is needed", async () => {
    ecr.on(GetAuthorizationTokenCommand).rejects(Object.assign(new Error("User is not authorized to perform: ecr:GetAuthorizationToken"), { name: "AccessDeniedException" }));
    const err = await registryFor(ECR).credentials().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as Error).message).toMatch(/could not get ECR credentials for 123456789012.dkr.ecr.eu-west-1.amazonaws.com: AccessDeniedException: .*ecr:GetAuthorizationToken/);
  });
});

describe("Artifact Registry credentials (ADC access token) and the Bearer challenge", () => {
  let google: Server;
  let googleUrl: string;
  let registry: FakeTokenRegistry;
  const seenGrants: URLSearchParams[] = [];

  beforeAll(async () => {
    // Strict stand-in for Google's OAuth token endpoint: refresh-token grant with client credentials only.
    google = createServer(async (req, res) => {
      let body = "";
      for await (const c of req) body += c;
      const form = new URLSearchParams(body);
      seenGrants.push(form);
      const ok = req.method === "POST" && form.get("grant_type") === "refresh_token" && form.get("refresh_token") === "rt-1" && form.get("client_id") === "cid" && form.get("client_secret") === "csecret";
      res.writeHead(ok ? 200 : 400, { "content-type": "application/json" });
      res.end(JSON.stringify(ok ? { access_token: "ya29.fake-access", expires_in: 3599, token_type: "Bearer" } : { error: "invalid_grant" }));
    });
    await new Promise<void>((r) => google.listen(0, "127.0.0.1", r));
    googleUrl = `http://127.0.0.1:${(google.address() as AddressInfo).port}/token`;
    registry = await startFakeTokenRegistry({ username: "oauth2accesstoken", password: "ya29.fake-access", images: ["proj/repo/app:abc12345"] });
  });
  afterAll(async () => {
    await new Promise((r) => google.close(r));
    await registry.close();
  });

  function gar(refreshToken = "rt-1") {
    const client = new OAuth2Client({ clientId: "cid", clientSecret: "csecret", endpoints: { oauth2TokenUrl: googleUrl } });
    client.setCredentials({ refresh_token: refreshToken });
    return registryFor(GAR, { auth: new GoogleAuth({ authClient: client }), baseUrl: registry.baseUrl });
  }

  it("logs in as oauth2accesstoken with a token google-auth-library refreshed", async () => {
    expect(await gar().credentials()).toEqual({ username: "oauth2accesstoken", password: "ya29.fake-access" });
    expect(seenGrants.at(-1)?.get("grant_type")).toBe("refresh_token");
  });

  it("answers the Bearer challenge at the token endpoint with those credentials, then finds or misses the tag", async () => {
    const reg = gar();
    expect(await reg.exists("abc12345")).toBe(true);
    expect(await reg.exists("ffffffff")).toBe(false);
    const schemes = registry.requests.map((r) => `${r.method} ${r.path.split("?")[0]} ${r.auth}`);
    expect(schemes).toContain("GET /token Basic");
    expect(schemes).toContain("HEAD /v2/proj/repo/app/manifests/abc12345 Bearer");
  });

  it("fails with the registry name when the token endpoint rejects the credentials", async () => {
    const bad = await startFakeTokenRegistry({ username: "oauth2accesstoken", password: "another-token", images: [] });
    try {
      const client = new OAuth2Client({ clientId: "cid", clientSecret: "csecret", endpoints: { oauth2TokenUrl: googleUrl } });
      client.setCredentials({ refresh_token: "rt-1" });
      const reg = registryFor(GAR, { auth: new GoogleAuth({ authClient: client }), baseUrl: bad.baseUrl });
      await expect(reg.exists("abc12345")).rejects.toThrow(
        "registry us-central1-docker.pkg.dev rejected the credentials (authentication failed, HTTP 401 on the token request)",
      );
    } finally {
      await bad.close();
    }
  });

  it("turns an ADC failure into a message about Application Default Credentials", async () => {
    await expect(gar("revoked").credentials()).rejects.toThrow(/could not get a Google access token for us-central1-docker.pkg.dev: .*Application Default Credentials/);
  });
});

describe("ACR credentials (Entra token exchanged for a refresh token)", () => {
  let registry: FakeTokenRegistry;
  const scopes: string[] = [];
  const credential = {
    getToken: async (scope: string) => {
      scopes.push(scope);
      return { token: "entra-access-token" };
    },
  };
  beforeAll(async () => {
    registry = await startFakeTokenRegistry({
      username: ACR_REFRESH_TOKEN_USER,
      password: "acr-refresh-token",
      service: "myreg.azurecr.io",
      images: ["app:abc12345"],
      acrExchange: { accessToken: "entra-access-token", refreshToken: "acr-refresh-token" },
    });
  });
  afterAll(async () => registry.close());

  it("exchanges the Entra token at /oauth2/exchange and logs in with the all-zero user", async () => {
    const reg = registryFor(ACR, { credential, baseUrl: registry.baseUrl });
    expect(await reg.credentials()).toEqual({ username: ACR_REFRESH_TOKEN_USER, password: "acr-refresh-token" });
    expect(scopes).toEqual([ACR_SCOPE]);
    const form = registry.exchanges.at(-1)!;
    expect([form.get("grant_type"), form.get("service"), form.get("access_token")]).toEqual(["access_token", "myreg.azurecr.io", "entra-access-token"]);
    expect(await reg.exists("abc12345")).toBe(true);
    expect(await reg.exists("00000000")).toBe(false);
    // One exchange for all of that: the refresh token is reused.
    expect(registry.exchanges).toHaveLength(1);
    expect(scopes).toHaveLength(1);
  });

  it("says which role is missing when the exchange is refused", async () => {
    const reg = registryFor(ACR, { credential: { getToken: async () => ({ token: "not-accepted" }) }, baseUrl: registry.baseUrl });
    await expect(reg.credentials()).rejects.toThrow("registry myreg.azurecr.io refused to exchange the Entra token (HTTP 401): the identity needs the AcrPush role on the registry");
  });

  it("reports a DefaultAzureCredential failure", async () => {
    const reg = registryFor(ACR, { credential: { getToken: async () => Promise.reject(new Error("no managed identity endpoint")) }, baseUrl: registry.baseUrl });
    await expect(reg.credentials()).rejects.toThrow(/could not get an Entra token for myreg.azurecr.io: no managed identity endpoint/);
  });
});

describe("WWW-Authenticate parsing", () => {
  it("reads Bearer and Basic challenges", () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/x:pull" },
    });
    expect(parseChallenge('Basic realm="r"')).toEqual({ scheme: "basic", params: { realm: "r" } });
    expect(parseChallenge(null)).toBeNull();
  });
});
