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
