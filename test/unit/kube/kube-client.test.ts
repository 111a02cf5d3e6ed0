import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { agentNamespace, loadKubeClients } from "../../../agent/kube/client.js";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";

let fake: FakeKube;
let dir: string;
beforeAll(async () => {
  fake = await startFakeKube({ contextNamespace: "team-a" });
  dir = await mkdtemp(join(tmpdir(), "kube-client-"));
});
afterAll(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

describe("kube client construction", () => {
  it("loads a kubeconfig file, talks to its server and reports the context namespace", async () => {
    const kube = loadKubeClients({ kubeconfigPath: fake.kubeconfigPath });
    expect(kube.contextNamespace).toBe("team-a");
    const list = await kube.batch.listNamespacedJob({ namespace: "default" });
    expect(list.items).toEqual([]);
  });

  it("selects a named context, and names the known ones when it is missing", async () => {
    const path = join(dir, "two-contexts");
    await writeFile(
      path,
      stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "fake", cluster: { server: fake.url, "insecure-skip-tls-verify": true } }],
        users: [{ name: "u", user: { token: fake.token } }],
        contexts: [
          { name: "one", context: { cluster: "fake", user: "u", namespace: "ns-one" } },
          { name: "two", context: { cluster: "fake", user: "u", namespace: "ns-two" } },
        ],
        "current-context": "one",
      }),
    );
    expect(loadKubeClients({ kubeconfigPath: path, context: "two" }).contextNamespace).toBe("ns-two");
    expect(() => loadKubeClients({ kubeconfigPath: path, context: "three" })).toThrow(/kube context "three" was not found in the kubeconfig; known contexts: one, two/);
  });

  it("explains an unreadable kubeconfig", () => {
    expect(() => loadKubeClients({ kubeconfigPath: join(dir, "missing") })).toThrow(/could not load Kubernetes credentials from .*missing/);
  });

  it("finds the agent's namespace: service-account file, then kube context, then wandb", async () => {
    const file = join(dir, "namespace");
    await writeFile(file, "launch-agents\n");
    expect(agentNamespace({ contextNamespace: "ctx" }, file)).toBe("launch-agents");
    expect(agentNamespace({ contextNamespace: "ctx" }, join(dir, "absent"))).toBe("ctx");
    expect(agentNamespace({ contextNamespace: null }, join(dir, "absent"))).toBe("wandb");
  });
});
