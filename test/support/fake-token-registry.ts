import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A strict fake of a registry that uses token auth (Docker Hub, Artifact Registry, ACR, GHCR):
 * the distribution API answers 401 with a Bearer challenge, the token endpoint wants Basic
 * credentials plus `service` and `scope` and answers 401 for wrong ones, and tokens are scoped to the
 * repository they were issued for. Only used where the real registry (htpasswd, Basic) cannot show
 * the Bearer flow; response shapes follow the distribution spec.
 */
export interface FakeTokenRegistry {
  baseUrl: string;
  /** Requests seen, for assertions: method, path, and the auth scheme used. */
  requests: Array<{ method: string; path: string; auth: string | null }>;
  /** POST bodies seen on /oauth2/exchange (ACR). */
  exchanges: URLSearchParams[];
  close(): Promise<void>;
}

export interface FakeTokenRegistryOptions {
  username: string;
  password: string;
  service?: string;
  /** `repository:tag` pairs that exist. */
  images: string[];
  /** ACR: accept this Entra access token at /oauth2/exchange and return `refreshToken` (which becomes the password). */
  acrExchange?: { accessToken: string; refreshToken: string };
}

const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
];

export async function startFakeTokenRegistry(opts: FakeTokenRegistryOptions): Promise<FakeTokenRegistry> {
  const service = opts.service ?? "fake-registry";
  const tokens = new Map<string, string>(); // token → repository it grants
  const requests: FakeTokenRegistry["requests"] = [];
  const exchanges: URLSearchParams[] = [];
  let baseUrl = "";

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
  const basicOk = (req: IncomingMessage) => {
    const h = req.headers.authorization ?? "";
    if (!h.startsWith("Basic ")) return false;
    return Buffer.from(h.slice(6), "base64").toString() === `${opts.username}:${opts.password}`;
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const auth = req.headers.authorization ?? null;
    requests.push({ method: req.method ?? "", path: url.pathname + url.search, auth: auth ? auth.split(" ")[0]! : null });

    if (url.pathname === "/oauth2/exchange" && opts.acrExchange) {
      if (req.method !== "POST" || req.headers["content-type"] !== "application/x-www-form-urlencoded") return json(res, 400, { error: "invalid_request" });
      let body = "";
      for await (const c of req) body += c;
      const form = new URLSearchParams(body);
      exchanges.push(form);
      if (form.get("grant_type") !== "access_token" || !form.get("service")) return json(res, 400, { error: "invalid_request" });
      if (form.get("access_token") !== opts.acrExchange.accessToken) return json(res, 401, { error: "invalid_token" });
      return json(res, 200, { refresh_token: opts.acrExchange.refreshToken });
    }

    if (url.pathname === "/token") {
      if (req.method !== "GET") return json(res, 405, {});
      const scope = url.searchParams.get("scope") ?? "";
      if (url.searchParams.get("service") !== service || !/^repository:[^:]+:pull(,push)?$/.test(scope)) {
        return json(res, 400, { errors: [{ code: "UNSUPPORTED", message: "service and scope required" }] });
      }
      if (!basicOk(req)) return json(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] });
      const token = randomBytes(12).toString("hex");
      tokens.set(token, scope.split(":")[1]!);
      return json(res, 200, { token, access_token: token, expires_in: 300 });
    }

    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (!m) return json(res, 404, { errors: [{ code: "NOT_FOUND" }] });
    const [, repository, tag] = m as unknown as [string, string, string];
    const bearer = auth?.startsWith("Bearer ") ? auth.slice(7) : null;
    if (!bearer || tokens.get(bearer) !== repository) {
      res.writeHead(401, {
        "content-type": "application/json",
        "www-authenticate": `Bearer realm="${baseUrl}/token",service="${service}",scope="repository:${repository}:pull"`,
      });
      return res.end(req.method === "HEAD" ? undefined : JSON.stringify({ errors: [{ code: "UNAUTHORIZED" }] }));
    }
    const accept = String(req.headers.accept ?? "");
    if (!MANIFEST_TYPES.some((t) => accept.includes(t))) return json(res, 406, {});
    if (!opts.images.includes(`${repository}:${tag}`)) {
      res.writeHead(404, { "content-type": "application/json" });
      return res.end(req.method === "HEAD" ? undefined : JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN" }] }));
    }
    res.writeHead(200, { "content-type": MANIFEST_TYPES[1]!, "docker-content-digest": `sha256:${"0".repeat(64)}` });
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { baseUrl, requests, exchanges, close: () => new Promise((r) => server.close(() => r())) };
}
