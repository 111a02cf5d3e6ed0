// agent/environments: config block → Environment, and verify() on each cloud's default chain.
// No cloud is reachable: AWS runs the real SDK chain against a strict local STS stand-in, GCP and
// Azure use injected credential objects or real libraries failing before any network call.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { CredentialUnavailableError } from "@azure/identity";
import { mockClient } from "aws-sdk-client-mock";
import { GoogleAuth } from "google-auth-library";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AWS_NO_CREDENTIALS,
  AWS_NO_REGION,
  AZURE_NO_CREDENTIALS,
  AZURE_VERIFY_SCOPE,
  environmentFor,
  GCP_NO_CREDENTIALS,
  GCP_NO_REGION,
  GCP_REFRESH_FAILED,
  LOCAL_VERIFY_MESSAGE,
  NO_ENVIRONMENT_TYPE,
  type GoogleAuthLike,
} from "../../../agent/environments/index.js";
import { LaunchError } from "../../../agent/errors.js";

async function failure(p: Promise<unknown> | (() => unknown)): Promise<LaunchError> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(LaunchError);
    return err as LaunchError;
  }
  throw new Error("expected a LaunchError");
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("environmentFor", () => {
  it("no block is the local environment, whose verify() fails with the official message", async () => {
    const env = environmentFor(null);
    expect(env.type).toBe("local");
    expect(env.region).toBeNull();
    const err = await failure(env.verify());
    expect(err.message.startsWith(LOCAL_VERIFY_MESSAGE)).toBe(true);
    expect(environmentFor(undefined).type).toBe("local");
  });

  it("a block without type fails with the official message and the fix", async () => {
    const err = await failure(() => environmentFor({ region: "us-east-1" }));
    expect(err.message).toBe(`${NO_ENVIRONMENT_TYPE} Set environment.type to aws, gcp or azure in the launch config.`);
  });

  it("an unknown type names the value", async () => {
    const err = await failure(() => environmentFor({ type: "local", region: null }));
    expect(err.message).toContain("Unsupported environment.type 'local'");
  });

  it("aws and gcp need a region; azure does not", async () => {
    expect((await failure(() => environmentFor({ type: "aws", region: null }))).message.startsWith(AWS_NO_REGION)).toBe(true);
    expect((await failure(() => environmentFor({ type: "aws", region: "  " }))).message.startsWith(AWS_NO_REGION)).toBe(true);
    expect((await failure(() => environmentFor({ type: "gcp", region: null }))).message.startsWith(GCP_NO_REGION)).toBe(true);
    const az = environmentFor({ type: "azure", region: null }, { azure: { credential: { getToken: async () => null } } });
    expect([az.type, az.region]).toEqual(["azure", null]);
  });
});

describe("AWS environment", () => {
  it("verify() returns account, ARN and partition from GetCallerIdentity", async () => {
    const sts = new STSClient({ region: "cn-north-1" });
    const mock = mockClient(sts);
    mock.on(GetCallerIdentityCommand).resolves({ Account: "123456789012", Arn: "arn:aws-cn:sts::123456789012:assumed-role/launch-agent/pod", UserId: "AROA:pod" });
    const env = environmentFor({ type: "aws", region: "cn-north-1" }, { aws: { sts } });
    expect(await env.verify()).toEqual({
      type: "aws",
      region: "cn-north-1",
      account: "123456789012",
      arn: "arn:aws-cn:sts::123456789012:assumed-role/launch-agent/pod",
      partition: "aws-cn",
    });
    expect(mock.commandCalls(GetCallerIdentityCommand)).toHaveLength(1);
  });

  it("an STS error starts with the official message and names the cause", async () => {
    const sts = new STSClient({ region: "us-east-1" });
    mockClient(sts).on(GetCallerIdentityCommand).rejects(Object.assign(new Error("The security token included in the request is expired"), { name: "ExpiredToken" }));
    const err = await failure(environmentFor({ type: "aws", region: "us-east-1" }, { aws: { sts } }).verify());
    expect(err.message.startsWith(AWS_NO_CREDENTIALS)).toBe(true);
    expect(err.message).toContain("ExpiredToken: The security token included in the request is expired");
    expect(err.message).toContain("AWS_WEB_IDENTITY_TOKEN_FILE");
  });

  it("a chain that yields no credentials fails before any request", async () => {
    const noCreds = Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" });
    const sts = new STSClient({
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: () => Promise.reject(noCreds),
    });
    const err = await failure(environmentFor({ type: "aws", region: "us-east-1" }, { aws: { sts } }).verify());
    expect(err.message).toBe(
      `${AWS_NO_CREDENTIALS} sts:GetCallerIdentity failed (CredentialsProviderError: Could not load credentials from any providers). The agent uses the default AWS chain: IRSA / web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE), an ECS or EC2 instance role, AWS_PROFILE with ~/.aws/config, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.`,
    );
  });

  describe("the default chain, end to end against a local STS", () => {
    let server: Server;
    const seen: { authorization: string; body: string }[] = [];
    beforeAll(async () => {
      // Strict where the SDK depends on it: query protocol, SigV4 for sts in the client's region,
      // known access key; STS's XML error otherwise.
      server = createServer((req, res) => {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const authorization = String(req.headers.authorization ?? "");
          seen.push({ authorization, body });
          const params = new URLSearchParams(body);
          const signed = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([a-z0-9-]+)\/sts\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.exec(authorization);
          res.setHeader("content-type", "text/xml");
          if (req.method !== "POST" || params.get("Action") !== "GetCallerIdentity" || params.get("Version") !== "2011-06-15") {
            res.statusCode = 400;
            return res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>Could not find operation</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`);
          }
          if (!signed || signed[1] !== "AKIAAGENTTEST") {
            res.statusCode = 403;
            return res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>r-2</RequestId></ErrorResponse>`);
          }
          res.end(
            `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:iam::210987654321:user/launch-agent</Arn><UserId>AIDAAGENT</UserId><Account>210987654321</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-3</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
          );
        });
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    function stubAwsEnv(accessKeyId: string): void {
      vi.stubEnv("AWS_ENDPOINT_URL_STS", `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      vi.stubEnv("AWS_ACCESS_KEY_ID", accessKeyId);
      vi.stubEnv("AWS_SECRET_ACCESS_KEY", "agent-secret-never-shown");
      vi.stubEnv("AWS_SESSION_TOKEN", "");
      vi.stubEnv("AWS_PROFILE", "");
      vi.stubEnv("AWS_CONFIG_FILE", "/nonexistent/aws-config");
      vi.stubEnv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials");
      vi.stubEnv("AWS_EC2_METADATA_DISABLED", "true");
    }

    it("picks credentials from the environment and signs for the configured region", async () => {
      stubAwsEnv("AKIAAGENTTEST");
      const identity = await environmentFor({ type: "aws", region: "eu-west-1" }).verify();
      expect(identity).toEqual({ type: "aws", region: "eu-west-1", account: "210987654321", arn: "arn:aws:iam::210987654321:user/launch-agent", partition: "aws" });
      expect(seen.at(-1)!.authorization).toMatch(/Credential=AKIAAGENTTEST\/\d{8}\/eu-west-1\/sts\/aws4_request/);
    });

    it("rejected credentials give the official message with STS's code, and no secret", async () => {
      stubAwsEnv("AKIAUNKNOWN");
      const err = await failure(environmentFor({ type: "aws", region: "eu-west-1" }).verify());
      expect(err.message.startsWith(AWS_NO_CREDENTIALS)).toBe(true);
      expect(err.message).toContain("InvalidClientTokenId: The security token included in the request is invalid.");
      expect(err.message).not.toContain("agent-secret-never-shown");
    });
  });
});

describe("GCP environment", () => {
  const auth = (over: Partial<{ client: () => Promise<unknown>; token: () => Promise<{ token?: string | null }>; project: () => Promise<string> }>): GoogleAuthLike => ({
    getClient: async () => {
      if (over.client) await over.client();
      return { getAccessToken: over.token ?? (async () => ({ token: "ya29.secret-token" })) };
    },
    getProjectId: over.project ?? (async () => "my-project"),
  });

  it("verify() returns the ADC project and never the token", async () => {
    const identity = await environmentFor({ type: "gcp", region: "us-central1" }, { gcp: { auth: auth({}) } }).verify();
    expect(identity).toEqual({ type: "gcp", region: "us-central1", project: "my-project" });
    expect(JSON.stringify(identity)).not.toContain("ya29");
  });

  it("missing ADC starts with the official message and says how to provide credentials", async () => {
    const a = auth({ client: () => Promise.reject(new Error("Could not load the default credentials. Browse to https://cloud.google.com/docs/authentication/getting-started for more information.")) });
    const err = await failure(environmentFor({ type: "gcp", region: "us-central1" }, { gcp: { auth: a } }).verify());
    expect(err.message.startsWith(GCP_NO_CREDENTIALS)).toBe(true);
    expect(err.message).toContain("gcloud auth application-default login");
    expect(err.message).toContain("GOOGLE_APPLICATION_CREDENTIALS");
  });

  it("a token that cannot be refreshed says so", async () => {
    const a = auth({ token: () => Promise.reject(new Error("invalid_grant: Invalid JWT Signature.")) });
    const err = await failure(environmentFor({ type: "gcp", region: "us-central1" }, { gcp: { auth: a } }).verify());
    expect(err.message.startsWith(`${GCP_REFRESH_FAILED} invalid_grant: Invalid JWT Signature.`)).toBe(true);
  });

  it("real google-auth-library: a GOOGLE_APPLICATION_CREDENTIALS file that does not exist", async () => {
    vi.stubEnv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json");
    vi.stubEnv("METADATA_SERVER_DETECTION", "none");
    const err = await failure(environmentFor({ type: "gcp", region: "europe-west4" }, { gcp: { auth: new GoogleAuth() } }).verify());
    expect(err.message.startsWith(GCP_NO_CREDENTIALS)).toBe(true);
    expect(err.message).toContain("/nonexistent/key.json");
  });
});

describe("Azure environment", () => {
  const jwt = (claims: object): string =>
    ["e30", Buffer.from(JSON.stringify(claims)).toString("base64url"), "c2ln"].join(".");

  it("verify() asks for an ARM token and reports the tenant, not the token", async () => {
    const scopes: string[] = [];
    const credential = {
      getToken: async (scope: string) => {
        scopes.push(scope);
        return { token: jwt({ tid: "11111111-2222-3333-4444-555555555555", oid: "x" }), expiresOnTimestamp: Date.now() + 3600_000 };
      },
    };
    const identity = await environmentFor({ type: "azure", region: "westeurope" }, { azure: { credential } }).verify();
    expect(identity).toEqual({ type: "azure", region: "westeurope", tenant: "11111111-2222-3333-4444-555555555555" });
    expect(scopes).toEqual([AZURE_VERIFY_SCOPE]);
  });

  it("an identity DefaultAzureCredential cannot find is reported with the fix", async () => {
    const credential = { getToken: () => Promise.reject(new CredentialUnavailableError("EnvironmentCredential is unavailable. No underlying credential could be used.")) };
    const err = await failure(environmentFor({ type: "azure", region: null }, { azure: { credential } }).verify());
    expect(err.message.startsWith(`${AZURE_NO_CREDENTIALS} CredentialUnavailableError: EnvironmentCredential is unavailable`)).toBe(true);
    expect(err.message).toContain("workload identity");
  });

  it("a null token is an error, not an identity", async () => {
    const err = await failure(environmentFor({ type: "azure", region: null }, { azure: { credential: { getToken: async () => null } } }).verify());
    expect(err.message).toContain("No token was returned");
  });
});
