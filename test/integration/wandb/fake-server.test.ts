import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeWandb, type FakeWandb } from "../../fakes/wandb-server.js";

let fake: FakeWandb;
beforeEach(async () => {
  fake = await startFakeWandb();
});
afterEach(() => fake.close());

async function gql(query: string, variables: Record<string, unknown> = {}, opts: { key?: string; operationName?: string } = {}) {
  const res = await fetch(`${fake.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Basic ${Buffer.from(`api:${opts.key ?? fake.apiKey}`).toString("base64")}` },
    body: JSON.stringify({ query, variables, operationName: opts.operationName }),
  });
  return { status: res.status, body: (await res.json()) as { data?: unknown; errors?: { message: string }[] } };
}

describe("the fake W&B server is strict", () => {
  it("answers 401 to a wrong key", async () => {
    const r = await gql("query Viewer { viewer { entity } }", {}, { key: "bad" });
    expect(r.status).toBe(401);
    expect(r.body.errors?.[0]?.message).toBe("user is not logged in");
  });

  it("rejects operations outside the launch protocol", async () => {
    const r = await gql("query Sneaky { viewer { entity } }");
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toMatch(/"Sneaky" \(query\) is not part of the launch protocol/);
  });

  it("rejects unknown fields, wrongly typed and undeclared variables", async () => {
    const unknownField = await gql("query Viewer { viewer { entity secretField } }");
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.errors?.[0]?.message).toBe('Cannot query field "secretField" on type "User".');

    const wrongType = await gql(
      "mutation ackRunQueueItem($itemId: ID!, $runId: Int!) { ackRunQueueItem(input: { runQueueItemId: $itemId, runName: $runId }) { success } }",
      { itemId: "x", runId: 1 },
    );
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.errors?.map((e) => e.message).join(" ")).toMatch(/Variable "\$runId" of type "Int!" used in position expecting type "String!"/);

    const extraVar = await gql("query Viewer { viewer { entity } }", { sneaky: 1 });
    expect(extraVar.body.errors?.[0]?.message).toBe('Variable "$sneaky" is not defined by operation "Viewer".');

    const missing = await gql("query LaunchAgent($agentId: ID!) { launchAgent(id: $agentId) { id } }", {});
    expect(missing.status).toBe(400);
    expect(missing.body.errors?.[0]?.message).toMatch(/Variable "\$agentId" of required type "ID!" was not provided/);
  });

  it("requires each operation to declare the §7.8 variables", async () => {
    fake.addQueue("q1");
    const r = await gql(
      "mutation popFromRunQueue($entity: String!, $project: String!, $queueName: String!) { popFromRunQueue(input: { entityName: $entity, projectName: $project, queueName: $queueName }) { runQueueItemId } }",
      { entity: "fake-entity", project: "model-registry", queueName: "q1" },
    );
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0]?.message).toBe("operation popFromRunQueue must declare variable $launchAgentId");
  });

  it("reports resolver failures as GraphQL errors with HTTP 200 and the field null", async () => {
    const r = await gql(
      "mutation failRunQueueItem($runQueueItemId: ID!, $message: String!, $stage: String!, $filePaths: [String!]) { failRunQueueItem(input: { runQueueItemId: $runQueueItemId, message: $message, stage: $stage, filePaths: $filePaths }) { success } }",
      { runQueueItemId: "nope", message: "m", stage: "run", filePaths: null },
    );
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ data: { failRunQueueItem: null }, errors: [{ message: "run queue item nope not found" }] });
  });

  it("serves artifact files only through signed URLs", async () => {
    const a = fake.addArtifact({ entity: "fake-entity", project: "p", collection: "c", type: "code", files: { "x.py": "1" } });
    const r = await gql("query FetchArtifactManifest($id: ID!) { artifact(id: $id) { currentManifest { file { directUrl } } } }", { id: a.id });
    const url = (r.body.data as { artifact: { currentManifest: { file: { directUrl: string } } } }).artifact.currentManifest.file.directUrl;
    const manifest = (await (await fetch(url)).json()) as { contents: Record<string, { digest: string; size: number }> };
    expect(manifest.contents["x.py"]).toMatchObject({ digest: "xMpCOKC5I4INzFCab3WEmw==", size: 1 });
    expect((await fetch(url.replace(/sig=.*/, "sig=forged"))).status).toBe(403);
  });

  it("takes upsertBucket's project as modelName, as wandb-core sends it; `project` is an unknown field", async () => {
    const bad = await gql("mutation UpsertBucket($name: String, $project: String, $entity: String) { upsertBucket(input: { name: $name, project: $project, entityName: $entity }) { inserted } }", { name: "r", project: "p", entity: "fake-entity" });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.message).toMatch(/Field "project" is not defined by type "UpsertBucketInput"/);
    const ok = await gql("mutation UpsertBucket($name: String, $project: String, $entity: String) { upsertBucket(input: { name: $name, modelName: $project, entityName: $entity }) { inserted } }", { name: "r", project: "p", entity: "fake-entity" });
    expect(ok.body).toEqual({ data: { upsertBucket: { inserted: true } } });
  });

  it("run files need an existing run; uploads need their signature and the upload headers", async () => {
    await fake.close();
    fake = await startFakeWandb({ uploadHeaders: ["x-ms-blob-type:BlockBlob"] });
    const create = (run: string) =>
      gql("mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) { createRunFiles(input: { entityName: $entity, projectName: $project, runName: $run, files: $files }) { runID uploadHeaders files { name uploadUrl } } }", { entity: "fake-entity", project: "p", run, files: ["a/error.log"] });
    expect((await create("nope")).body.errors?.[0]?.message).toBe("run fake-entity/p/nope not found");
    fake.setRun({ entity: "fake-entity", project: "p", name: "r" });
    const created = (await create("r")).body.data as { createRunFiles: { uploadHeaders: string[]; files: { uploadUrl: string }[] } };
    expect(created.createRunFiles.uploadHeaders).toEqual(["x-ms-blob-type:BlockBlob"]);
    const url = created.createRunFiles.files[0]!.uploadUrl;
    const missing = await fetch(url, { method: "PUT", body: "x" });
    expect(missing.status).toBe(400);
    expect(await missing.text()).toMatch(/<Code>MissingRequiredHeader<\/Code>.*<HeaderName>x-ms-blob-type<\/HeaderName>/s);
    expect((await fetch(url.replace(/sig=.*/, "sig=forged"), { method: "PUT", body: "x", headers: { "x-ms-blob-type": "BlockBlob" } })).status).toBe(403);
    expect((await fetch(url, { method: "PUT", body: "log", headers: { "x-ms-blob-type": "BlockBlob" } })).status).toBe(200);
    expect(fake.run("fake-entity", "p", "r")!.files.get("a/error.log")).toEqual({ bytes: Buffer.from("log"), uploaded: false });
  });

  for (const [style, status, code] of [["s3", 403, "AccessDenied"], ["gcs", 400, "ExpiredToken"]] as const) {
    it(`an expired signed URL is refused as ${style} refuses it (${status} ${code})`, async () => {
      await fake.close();
      fake = await startFakeWandb({ signedUrlTtlMs: 0, expiredUrlError: style });
      const a = fake.addArtifact({ entity: "fake-entity", project: "p", collection: "c", type: "code", files: { "x.py": "1" } });
      const r = await gql("query FetchArtifactManifest($id: ID!) { artifact(id: $id) { currentManifest { file { directUrl } } } }", { id: a.id });
      const res = await fetch((r.body.data as { artifact: { currentManifest: { file: { directUrl: string } } } }).artifact.currentManifest.file.directUrl);
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/xml");
      expect(await res.text()).toMatch(new RegExp(`<Error><Code>${code}</Code>.*(Request has expired)`, "s"));
    });
  }
});
