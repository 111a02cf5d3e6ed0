// The Kubernetes API calls the agent makes, read from its sources: every @kubernetes/client-node call
// (`createNamespacedJob`, ...), every raw watch path and every log stream, as RBAC triples `group|resource|verb`.
// Split by who makes them, because they happen in different namespaces: the runner in every namespace it runs
// jobs in, the kaniko builder in the agent's own. agent/kube helpers count for whichever side imports them.
// A call anywhere else in agent/ fails: it would escape the RBAC drift check.
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";

export type RbacTriple = string;

const KINDS: Record<string, [string, string]> = {
  Secret: ["", "secrets"],
  ConfigMap: ["", "configmaps"],
  Pod: ["", "pods"],
  PodLog: ["", "pods/log"],
  Job: ["batch", "jobs"],
  JobStatus: ["batch", "jobs/status"],
};
const VERBS: Record<string, string> = { create: "create", read: "get", list: "list", delete: "delete", replace: "update", patch: "patch" };

export const triple = (group: string, resource: string, verb: string): RbacTriple => `${group}|${resource}|${verb}`;

/** The calls one source file makes itself (not through imports). */
export function callsIn(file: string, src: string): Set<RbacTriple> {
  const found = new Set<RbacTriple>();
  for (const m of src.matchAll(/\b(create|read|list|delete|replace|patch)Namespaced([A-Z][A-Za-z]*)\(/g)) {
    // Custom resources (Volcano, JobSet, Kubeflow, ...) are granted per API group by the operator: extraTargetRules.
    if (m[2] === "CustomObject") continue;
    const kind = KINDS[m[2]!];
    if (!kind) throw new Error(`${file}: ${m[0]} touches ${m[2]}, which no rule covers; add it to KINDS (test/infra/agent-kube-calls.ts) and to the RBAC rules`);
    found.add(triple(kind[0], kind[1], VERBS[m[1]!]!));
  }
  // List-then-watch on a collection path (agent/kube/watch.ts).
  for (const m of src.matchAll(/path: `\/apis?\/(?:(batch)\/)?v1\/namespaces\/\$\{[^}]+\}\/([a-z]+)`/g)) {
    found.add(triple(m[1] ?? "", m[2]!, "watch"));
    found.add(triple(m[1] ?? "", m[2]!, "list"));
  }
  // client-node's Log streams GET .../pods/<pod>/log.
  if (/new k8s\.Log\(/.test(src)) found.add(triple("", "pods/log", "get"));
  return found;
}

async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await tsFiles(p)));
    else if (e.name.endsWith(".ts")) out.push(p);
  }
  return out;
}

export interface AgentKubeCalls {
  /** Calls of agent/runners: made in every namespace the agent runs jobs in. */
  runner: Set<RbacTriple>;
  /** Calls of agent/builders (kaniko): made in the agent's own namespace. */
  builder: Set<RbacTriple>;
}

export async function agentKubeCalls(root = "."): Promise<AgentKubeCalls> {
  const files = await tsFiles(join(root, "agent"));
  const src = new Map<string, string>();
  for (const f of files) src.set(relative(root, f).split("\\").join("/"), await readFile(f, "utf8"));
  const own = new Map([...src].map(([f, s]) => [f, callsIn(f, s)]));
  const side = (prefix: string): Set<RbacTriple> => {
    const calls = new Set<RbacTriple>();
    for (const [f, s] of src) {
      if (!f.startsWith(prefix)) continue;
      for (const c of own.get(f)!) calls.add(c);
      for (const m of s.matchAll(/from "\.\.\/kube\/([a-z-]+)\.js"/g)) for (const c of own.get(`agent/kube/${m[1]}.ts`) ?? []) calls.add(c);
    }
    return calls;
  };
  for (const [f, calls] of own) {
    if (calls.size > 0 && !/^agent\/(runners|builders|kube)\//.test(f)) {
      throw new Error(`${f} calls the Kubernetes API (${[...calls].join(", ")}) outside agent/runners, agent/builders and agent/kube: attribute it in test/infra/agent-kube-calls.ts`);
    }
  }
  return { runner: side("agent/runners/"), builder: side("agent/builders/") };
}

/** Every triple a list of Role rules grants. */
export function granted(rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>): Set<RbacTriple> {
  return new Set(rules.flatMap((r) => r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => triple(g, res, v))))));
}

export const sorted = (s: Iterable<string>): string[] => [...s].sort();
