import { PassThrough } from "node:stream";
import { createInterface } from "node:readline";
import * as k8s from "@kubernetes/client-node";
import type { KubeClients } from "./client.js";

/**
 * Stream a container's log line by line (constant memory whatever its size: build logs can run to
 * megabytes). Resolves when the server ends the log; rejects with the API error when it refuses.
 */
export async function forEachLogLine(kube: KubeClients, namespace: string, pod: string, container: string, onLine: (line: string) => void): Promise<void> {
  const pass = new PassThrough();
  const lines = createInterface({ input: pass, crlfDelay: Infinity });
  const done = (async () => {
    for await (const line of lines) onLine(line);
  })();
  try {
    await new k8s.Log(kube.config).log(namespace, pod, container, pass, { follow: false });
  } catch (err) {
    pass.destroy();
    lines.close();
    await done.catch(() => undefined);
    throw err;
  }
  await done;
}
