import { X509Certificate, createSign, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { REGISTRY_PASSWORD, REGISTRY_USER } from "./docker.js";

/**
 * The token endpoint of the token-auth registry that `.ci/services.sh` starts (Debian
 * docker-registry with `auth: token`). The registry itself is real and checks everything: the JWT's
 * signature chain against its rootcertbundle, issuer, audience, expiry and the granted actions.
 * This endpoint only authenticates the user (htpasswd-like, Basic) and signs what was asked for,
 * as Docker Hub's or Artifact Registry's token services do.
 */
export const TOKEN_REGISTRY = process.env.LAUNCH_TEST_TOKEN_REGISTRY ?? "127.0.0.1:5001";
export const TOKEN_REALM = process.env.LAUNCH_TEST_TOKEN_REALM ?? "127.0.0.1:5002";
const SERVICES_DIR = process.env.LAUNCH_SERVICES_DIR ?? "/tmp/launch-ci-services";
const SERVICE = "launch-ci-token-registry";
const ISSUER = "launch-ci-token-issuer";

export interface TokenServer {
  /** Token requests seen: the scopes asked for and whether the credentials were accepted. */
  requests: Array<{ scopes: string[]; accepted: boolean }>;
  close(): Promise<void>;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export async function requireTokenRegistry(): Promise<void> {
  let header: string | null = null;
  try {
    const res = await fetch(`http://${TOKEN_REGISTRY}/v2/`, { signal: AbortSignal.timeout(5_000) });
    header = res.headers.get("www-authenticate");
  } catch (err) {
    throw new Error(`no token-auth registry answers on http://${TOKEN_REGISTRY}/v2/ (${(err as Error).message}); start the test services with: sudo bash .ci/services.sh`);
  }
  if (!header?.startsWith(`Bearer realm="http://${TOKEN_REALM}/token"`)) {
    throw new Error(`the registry on ${TOKEN_REGISTRY} does not send the expected Bearer challenge (got ${header}); start it with: sudo bash .ci/services.sh`);
  }
}

export async function startTokenServer(): Promise<TokenServer> {
  const key = await readFile(join(SERVICES_DIR, "token-key.pem"), "utf8");
  const cert = new X509Certificate(await readFile(join(SERVICES_DIR, "token-cert.pem")));
  const requests: TokenServer["requests"] = [];
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const scopes = url.searchParams.getAll("scope");
    const auth = req.headers.authorization ?? "";
    const accepted =
      auth.startsWith("Basic ") && Buffer.from(auth.slice(6), "base64").toString() === `${REGISTRY_USER}:${REGISTRY_PASSWORD}`;
    requests.push({ scopes, accepted });
    if (url.pathname !== "/token" || url.searchParams.get("service") !== SERVICE) {
      res.writeHead(400, { "content-type": "application/json" });
      return res.end(JSON.stringify({ errors: [{ code: "UNSUPPORTED", message: "unknown service" }] }));
    }
    if (!accepted) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": `Basic realm="${SERVICE}"` });
      return res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
    }
    const access = scopes.map((s) => {
      const [type, name, actions] = [s.slice(0, s.indexOf(":")), s.slice(s.indexOf(":") + 1, s.lastIndexOf(":")), s.slice(s.lastIndexOf(":") + 1)];
      return { type, name, actions: actions.split(",").filter((a) => a === "pull" || a === "push") };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [cert.raw.toString("base64")] };
    const claims = { iss: ISSUER, sub: REGISTRY_USER, aud: SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString("hex"), access };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign("RSA-SHA256").update(signingInput).sign(key);
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const [host, port] = TOKEN_REALM.split(":");
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(new Error(`cannot serve the token endpoint on ${TOKEN_REALM}: ${err.message}`)));
    server.listen(Number(port), host, resolve);
  });
  return { requests, close: () => new Promise((r) => server.close(() => r())) };
}
