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
});
