import { createServer, request, type Server } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunSpecSchema } from "../../../agent/jobs/run-spec.js";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";
import { addArtifactJob, backendFor, type BackendFixture } from "../../fakes/wandb/helpers.js";

/**
 * A small HTTP proxy: forward requests (absolute-form URLs) and CONNECT tunnels, counted. Host names in
 * `hosts` are resolved by the proxy itself (the client cannot resolve them), so a request that reaches such a
 * host can only have come through the proxy.
 */
interface TestProxy {
  url: string;
  forwarded: { method: string; url: string; proxyAuth?: string }[];
  tunnels: string[];
  close(): Promise<void>;
}

async function startProxy(hosts: Record<string, string> = {}): Promise<TestProxy> {
  const forwarded: TestProxy["forwarded"] = [];
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? "");
    forwarded.push({ method: req.method ?? "", url: req.url ?? "", proxyAuth: req.headers["proxy-authorization"] });
    const headers = { ...req.headers };
    delete headers["proxy-authorization"];
    delete headers["proxy-connection"];
    const upstream = request(
      { host: hosts[target.hostname] ?? target.hostname, port: target.port || 80, method: req.method, path: target.pathname + target.search, headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.writeHead(502).end("bad gateway"));
    req.pipe(upstream);
  });
  server.on("connect", (req, client: Socket, head) => {
    tunnels.push(req.url ?? "");
    const [host, port] = (req.url ?? "").split(":");
    const up = connect(Number(port), hosts[host!] ?? host!, () => {
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on("error", () => client.destroy());
    client.on("error", () => up.destroy());
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    forwarded,
    tunnels,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let fake: FakeWandb;
let proxy: TestProxy;
let fx: BackendFixture | null = null;

beforeEach(async () => {
  fake = await startFakeWandb();
  fake.addQueue("q1");
  addArtifactJob(fake, { files: { "train.py": "print(1)\n" }, entrypoint: ["python", "train.py"] });
});
afterEach(async () => {
  await fake.close();
  await proxy?.close();
  await fx?.cleanup();
  fx = null;
});

const spec = { job: "fake-entity/proj/job-demo:latest", entity: "fake-entity", project: "proj" };

/** Registration, a job download (GraphQL, manifest, files) and a failure with its uploaded log. */
async function exercise(env: NodeJS.ProcessEnv): Promise<void> {
  fx = await backendFor(fake, { env });
  const b = fx.backend;
  await b.start(["q1"]);
  fake.push("q1", spec);
  const item = (await b.pop("q1"))!;
  await b.ack(item, "r1");
  const job = await b.resolveJob(item, RunSpecSchema.parse(spec));
  await job.cleanup();
  await b.fail(item, "agent", "boom");
  expect(fake.item(item.id)!.failure!.filePaths).toEqual([`${item.id}/error/error.log`]);
}

describe("WANDB__PROXIES and HTTP(S)_PROXY for the agent's W&B traffic", () => {
  it("WANDB__PROXIES {http: proxy}: every GraphQL call, artifact download and log upload goes through the proxy", async () => {
    proxy = await startProxy();
    await exercise({ WANDB__PROXIES: JSON.stringify({ http: proxy.url }), WANDB__EXTRA_HTTP_HEADERS: JSON.stringify({ "Proxy-Authorization": "Basic cHJveHk6cGFzcw==" }) });
    const graphql = proxy.forwarded.filter((f) => f.method === "POST" && new URL(f.url).pathname === "/graphql");
    expect(graphql).toHaveLength(fake.calls.length);
    const storage = proxy.forwarded.filter((f) => new URL(f.url).pathname.startsWith("/storage/"));
    expect(storage.map((f) => f.method).sort()).toEqual(fake.storageRequests.map((r) => r.method).sort());
    expect(storage.some((f) => f.method === "PUT")).toBe(true);
    expect(proxy.forwarded.length).toBe(graphql.length + storage.length);
    // Proxy-Authorization from WANDB__EXTRA_HTTP_HEADERS is for the proxy, as wandb-core sends it.
    expect(new Set(proxy.forwarded.map((f) => f.proxyAuth))).toEqual(new Set(["Basic cHJveHk6cGFzcw=="]));
  });

  it("HTTP_PROXY from the environment is used when W&B's own settings name none", async () => {
    // `wandb.test` resolves only inside the proxy: the agent reaches W&B through it or not at all.
    proxy = await startProxy({ "wandb.test": "127.0.0.1" });
    await fake.close();
    fake = await startFakeWandb({ publicHost: "wandb.test" });
    fake.addQueue("q1");
    addArtifactJob(fake, { files: { "train.py": "print(1)\n" }, entrypoint: ["python", "train.py"] });
    await exercise({ HTTP_PROXY: proxy.url, NO_PROXY: "other.test" });
    expect(proxy.forwarded.filter((f) => f.url.startsWith(`${fake.url}/graphql`))).toHaveLength(fake.calls.length);
    expect(proxy.forwarded.filter((f) => f.url.includes("/storage/")).length).toBe(fake.storageRequests.length);
  });

  it("https:// W&B goes through a CONNECT tunnel to the proxy, as Go and requests send it", async () => {
    proxy = await startProxy();
    // A TCP endpoint that is not TLS: the handshake fails, but only after the proxy opened the tunnel to it.
    let reached = 0;
    const target = createNetServer((s) => {
      reached++;
      s.destroy();
    });
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    const port = (target.address() as AddressInfo).port;
    try {
      fx = await backendFor(fake, { env: { WANDB_BASE_URL: `https://127.0.0.1:${port}`, WANDB__PROXIES: JSON.stringify({ https: proxy.url }) } });
      await expect(fx.backend.start(["q1"])).rejects.toThrow(/Viewer/);
      expect(proxy.tunnels.length).toBeGreaterThanOrEqual(1);
      expect(new Set(proxy.tunnels)).toEqual(new Set([`127.0.0.1:${port}`]));
      expect(reached).toBe(proxy.tunnels.length); // every connection to it came through a tunnel
      expect(proxy.forwarded).toHaveLength(0);
    } finally {
      await new Promise<void>((r) => target.close(() => r()));
    }
  });

  it("without any proxy setting nothing goes to the proxy", async () => {
    proxy = await startProxy();
    await exercise({});
    expect(proxy.forwarded).toHaveLength(0);
    expect(proxy.tunnels).toHaveLength(0);
  });

  it("a malformed WANDB__PROXIES stops start() with the fix, before any request", async () => {
    proxy = await startProxy();
    fx = await backendFor(fake, { env: { WANDB__PROXIES: "http://proxy:3128" } });
    await expect(fx.backend.start(["q1"])).rejects.toThrow(/WANDB__PROXIES must be a JSON object mapping a scheme to a proxy URL/);
    expect(fake.calls).toHaveLength(0);
  });
});
