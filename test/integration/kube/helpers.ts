import * as k8s from "@kubernetes/client-node";
import type { ResolvedJob } from "../../../agent/backend/types.js";
import type { JobFile } from "../../../agent/jobs/job-file.js";
import { kubeClientsFrom, type KubeClients } from "../../../agent/kube/client.js";
import type { FakeKube } from "../../fakes/kube-api.js";

export function clientsFor(fake: FakeKube): KubeClients {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions(fake.kubeconfig);
  return kubeClientsFrom(kc);
}

export function resolvedJob(job: JobFile, codeDir = "/nonexistent", name = "ent/proj/job:v0"): ResolvedJob {
  return { name, job, codeDir, sourceString: `${name}:v0`, files: {}, cleanup: async () => {} };
}

/** Poll until `fn` returns a value (not undefined), or fail after `ms`. */
export async function eventually<T>(fn: () => T | undefined, ms = 5000, what = "condition"): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
