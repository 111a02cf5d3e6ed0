import { createHash } from "node:crypto";
import { mkdtemp, readFile, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ArtifactStore, parseArtifactPath, parseArtifactUri } from "../../../agent/backend/wandb/artifacts.js";
import { WandbTransport } from "../../../agent/backend/wandb/transport.js";
import { silentLogger } from "../../../agent/log.js";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";

let fake: FakeWandb;
let dir: string;
let store: ArtifactStore;
beforeEach(async () => {
  fake = await startFakeWandb();
  dir = await mkdtemp(join(tmpdir(), "artifacts-"));
  const transport = new WandbTransport({ baseUrl: fake.url, apiKey: fake.apiKey, userAgent: "test", timings: { maxAttempts: 2, backoffInitialMs: 5, backoffMaxMs: 10 } });
  store = new ArtifactStore({ transport, cacheDir: join(dir, "cache"), logger: silentLogger, filesPerPage: 2 });
});
afterEach(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe("ArtifactStore", () => {
  it("pages through file URLs and downloads every file of a version", async () => {
    const files = Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`src/f${i}.py`, `print(${i})\n`]));
    fake.addArtifact({ entity: "e", project: "p", collection: "code", type: "code", files });
    const art = await store.byPath({ entity: "e", project: "p", name: "code:latest" }, "code");
    const paths = await store.download(art, join(dir, "out"));
    expect(paths.sort()).toEqual(Object.keys(files).sort());
    expect((await readdir(join(dir, "out", "src"))).sort()).toEqual(["f0.py", "f1.py", "f2.py", "f3.py", "f4.py"]);
    expect(await readFile(join(dir, "out", "src", "f3.py"), "utf8")).toBe("print(3)\n");
    expect(fake.callsTo("GetArtifactMembershipFileUrls").map((c) => c.variables.cursor ?? null)).toHaveLength(3);
    expect(fake.callsTo("GetArtifactMembershipFileUrls")[0]!.variables).toMatchObject({ entity: "e", project: "p", collection: "code", alias: "v0", perPage: 2 });
  });

  it("refuses a manifest path that escapes the destination", async () => {
    fake.addArtifact({ entity: "e", project: "p", collection: "code", type: "code", files: { "../escape.sh": "rm -rf /\n" } });
    const art = await store.byPath({ entity: "e", project: "p", name: "code" }, "code");
    await expect(store.download(art, join(dir, "out"))).rejects.toThrow(/lists a file outside its root \("\.\.\/escape\.sh"\)/);
  });

  it("checks the artifact type", async () => {
    fake.addArtifact({ entity: "e", project: "p", collection: "data", type: "dataset", files: { "x": "1" } });
    await expect(store.byPath({ entity: "e", project: "p", name: "data:latest" }, "job")).rejects.toThrow('Artifact e/p/data:latest is of type "dataset", expected "job"');
  });

  it("resolves code by id and by name as job files reference it", async () => {
    const a = fake.addArtifact({ entity: "e", project: "p", collection: "code", type: "code", files: { "x": "1" } });
    expect(parseArtifactUri(`wandb-artifact://_id/${a.id}`)).toEqual({ id: a.id });
    expect(parseArtifactUri("wandb-artifact://e/p/code:v0")).toEqual({ path: "e/p/code:v0" });
    expect(parseArtifactUri("wandb-artifact://https://api.wandb.ai/e/p/code:v0")).toEqual({ path: "e/p/code:v0" });
    expect(() => parseArtifactUri("s3://bucket/x")).toThrow(/must start with wandb-artifact:\/\//);
    const byId = await store.byId(a.id, "code");
    expect(byId).toMatchObject({ entity: "e", project: "p", collection: "code", version: "v0", name: "code:v0" });
    expect(await store.byId("bm90aGVyZQ==", "code")).toBeNull();
  });

  it("parses artifact paths with the SDK's defaults", () => {
    expect(parseArtifactPath("e/p/job:latest", { entity: null, project: "x" })).toEqual({ entity: "e", project: "p", name: "job:latest" });
    expect(parseArtifactPath("p/job", { entity: "d", project: "x" })).toEqual({ entity: "d", project: "p", name: "job" });
    expect(parseArtifactPath("job:alias/with/slash", { entity: "d", project: "x" })).toEqual({ entity: "d", project: "x", name: "job:alias/with/slash" });
    expect(() => parseArtifactPath("a/b/c/d", { entity: "d", project: "x" })).toThrow(/Invalid artifact path "a\/b\/c\/d"/);
  });
});

describe("long downloads: expired signed URLs and missing direct URLs (the SDK's refresh and fallback)", () => {
  async function storeFor(opts: Parameters<typeof startFakeWandb>[0]) {
    await fake.close();
    fake = await startFakeWandb(opts);
    const transport = new WandbTransport({ baseUrl: fake.url, apiKey: fake.apiKey, userAgent: "test", timings: { maxAttempts: 3, backoffInitialMs: 5, backoffMaxMs: 10 } });
    return new ArtifactStore({ transport, cacheDir: join(dir, "cache2"), logger: silentLogger });
  }
  const files = Object.fromEntries(["a.py", "b.py", "c.py"].map((n, i) => [n, `${n}:${"x".repeat(20_000 + i)}\n`]));
  const fileGets = () => fake.storageRequests.filter((r) => r.method === "GET" && r.path.startsWith("/storage/files/"));

  for (const style of ["s3", "gcs"] as const) {
    it(`URLs listed at the start expire while earlier files download (${style}: ${style === "s3" ? "403 AccessDenied" : "400 ExpiredToken"}): each is re-queried and the download completes`, async () => {
      // Every listed URL lives 400 ms; each file takes ~300 ms to send, so the third one's URL is stale when its turn comes.
      const s = await storeFor({ signedUrlTtlMs: 400, storageChunkDelayMs: 300, expiredUrlError: style });
      fake.addArtifact({ entity: "e", project: "p", collection: "code", type: "code", files });
      const art = await s.byPath({ entity: "e", project: "p", name: "code:latest" }, "code");
      await s.download(art, join(dir, "out"));
      for (const [n, body] of Object.entries(files)) expect(await readFile(join(dir, "out", n), "utf8")).toBe(body);
      const expired = fileGets().filter((r) => r.status === (style === "s3" ? 403 : 400));
      expect(expired.length).toBeGreaterThanOrEqual(1);
      const refreshes = fake.callsTo("ArtifactMembershipFiles");
      expect(refreshes.length).toBeGreaterThanOrEqual(1);
      expect(refreshes[0]!.variables).toMatchObject({ entity: "e", project: "p", collection: "code", alias: "v0", perPage: 1 });
      expect(refreshes.map((c) => (c.variables.fileNames as string[])[0])).toContain("c.py");
    });
  }

  it("a download cut off mid-body is retried, and its URL having expired meanwhile, refreshed", async () => {
    const s = await storeFor({ signedUrlTtlMs: 150, storageChunkDelayMs: 250 });
    const a = fake.addArtifact({ entity: "e", project: "p", collection: "code", type: "code", files: { "big.bin": "y".repeat(100_000) } });
    fake.dropDownloadOnce(a.id, "big.bin");
    const art = await s.byPath({ entity: "e", project: "p", name: "code:latest" }, "code");
    await s.download(art, join(dir, "out"));
    expect(await readFile(join(dir, "out", "big.bin"), "utf8")).toBe("y".repeat(100_000));
    // The cut-off attempt (no complete answer: 0), the retry refused as expired, then the refreshed URL:
    // [0, 403, 200] unless a stalled machine let the first URL expire before it was used.
    const statuses = fileGets().map((r) => r.status);
    expect(statuses.at(-1)).toBe(200);
    expect(statuses.indexOf(403, statuses.indexOf(0))).toBeGreaterThan(statuses.indexOf(0));
    expect(statuses.indexOf(0)).toBeGreaterThanOrEqual(0);
    expect(fake.callsTo("ArtifactMembershipFiles").map((c) => c.variables.fileNames)).toContainEqual(["big.bin"]);
  });

  it("a file the listing leaves out (no direct URL) comes through W&B's file handler, which redirects to storage", async () => {
    const s = await storeFor({});
    const a = fake.addArtifact({ entity: "e", project: "p", collection: "code", type: "code", files: { "src/main.py": "print('m')\n", "x.py": "1" } });
    fake.unlistFile(a.id, "src/main.py");
    const art = await s.byPath({ entity: "e", project: "p", name: "code:latest" }, "code");
    await s.download(art, join(dir, "out"));
    expect(await readFile(join(dir, "out", "src", "main.py"), "utf8")).toBe("print('m')\n");
    const hex = Buffer.from(createHash("md5").update("print('m')\n").digest()).toString("hex");
    const handler = fake.storageRequests.find((r) => r.path.startsWith("/artifactsV2/"))!;
    expect(handler).toMatchObject({ path: `/artifactsV2/default/e/p/code/${encodeURIComponent(a.id)}/${hex}/main.py`, status: 302 });
    expect(fake.callsTo("ArtifactMembershipFiles")).toHaveLength(0); // nothing to refresh: there was no URL
  });
});
