import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { listAndWatch, type WatchedEvent } from "../../../agent/kube/watch.js";
import { silentLogger } from "../../../agent/log.js";
import { startFakeKube, type FakeKube } from "../../fakes/kube-api.js";
import { clientsFor, eventually } from "../../integration/kube/helpers.js";

let fake: FakeKube;
beforeAll(async () => {
  fake = await startFakeKube();
});
afterAll(() => fake.close());

describe("listAndWatch", () => {
  it("lists, then delivers each change once across stream ends and a 410 resync", async () => {
    const kube = clientsFor(fake);
    const stop = new AbortController();
    const events: string[] = [];
    const syncs: number[] = [];
    const loop = listAndWatch<V1ConfigMap>({
      watch: kube.watch,
      path: "/api/v1/namespaces/default/configmaps",
      labelSelector: "app=w",
      list: () => kube.core.listNamespacedConfigMap({ namespace: "default", labelSelector: "app=w" }),
      onSync: (items) => syncs.push(items.length),
      onEvent: (e: WatchedEvent<V1ConfigMap>) => events.push(`${e.type}:${e.object.metadata?.name}:${e.object.data?.v ?? ""}`),
      signal: stop.signal,
      logger: silentLogger,
      retryDelayMs: 20,
    });
    await eventually(() => syncs.length === 1 || undefined, 3000, "first list");
    await kube.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "a", labels: { app: "w" } }, data: { v: "1" } } });
    await kube.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "other" }, data: { v: "x" } } });
    await eventually(() => events.length === 1 || undefined, 3000, "ADDED");
    fake.closeWatches(); // resumed from the last resourceVersion: nothing repeated
    const cm = await kube.core.readNamespacedConfigMap({ name: "a", namespace: "default" });
    await kube.core.replaceNamespacedConfigMap({ name: "a", namespace: "default", body: { ...cm, data: { v: "2" } } });
    await eventually(() => events.length === 2 || undefined, 3000, "MODIFIED");
    // While disconnected, a change happens and the history is compacted past the watcher's version:
    // the resume gets 410 and the loop lists again (seeing the change in the list, not as an event).
    fake.closeWatches();
    await kube.core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { name: "b", labels: { app: "w" } }, data: { v: "3" } } });
    fake.compactHistory();
    try {
      await eventually(() => syncs.length === 2 || undefined, 3000, "resync after 410");
      await kube.core.deleteNamespacedConfigMap({ name: "a", namespace: "default" });
      await eventually(() => events.length === 3 || undefined, 3000, "DELETED");
    } finally {
      stop.abort();
      await loop;
    }
    expect(events).toEqual(["ADDED:a:1", "MODIFIED:a:2", "DELETED:a:2"]);
    expect(syncs).toEqual([0, 2]);
    expect(fake.requests.filter((r) => r.query.watch && r.path.endsWith("/configmaps")).length).toBeLessThan(10);
  });

  it("does not busy-loop against a server that ends every stream at once", async () => {
    const kube = clientsFor(fake);
    const stop = new AbortController();
    const before = fake.requests.filter((r) => r.query.watch).length;
    const loop = listAndWatch<V1ConfigMap>({
      watch: kube.watch,
      path: "/api/v1/namespaces/default/configmaps",
      list: () => kube.core.listNamespacedConfigMap({ namespace: "default" }),
      onSync: () => {},
      onEvent: () => {},
      signal: stop.signal,
      logger: silentLogger,
      timeoutSeconds: 0,
      retryDelayMs: 50,
    });
    await new Promise((r) => setTimeout(r, 600));
    stop.abort();
    await loop;
    const watches = fake.requests.filter((r) => r.query.watch).length - before;
    // 50, 100, 200, 400 ms pauses: a handful of reconnects, not hundreds.
    expect(watches).toBeGreaterThanOrEqual(2);
    expect(watches).toBeLessThanOrEqual(6);
  });
});
