// The Kubernetes permissions the agent uses: the LaunchAgent component grants exactly these
// (components/kubernetes/manifests.ts) and `launch-agent doctor` asks the API server about each
// one (SelfSubjectAccessReview), so the Role and the check cannot drift apart.

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * Rules in the agent's own namespace, on top of the run rules (the agent namespace is always a run target): what
 * the kaniko builder does there beyond what the runner does. Kaniko auth ConfigMaps (`docker-config-<job>`) are
 * created and deleted per build; they are immutable and never read back, so create/delete only. The build wait
 * loop reads jobs/status. test/infra/launch-agent.test.ts keeps these exactly equal to the calls in
 * agent/builders and agent/runners.
 */
export const AGENT_NAMESPACE_RULES: PolicyRule[] = [
  { apiGroups: [""], resources: ["configmaps"], verbs: ["create", "delete"] },
  { apiGroups: ["batch"], resources: ["jobs/status"], verbs: ["get"] },
];

/**
 * Rules in every namespace the agent runs jobs in (its own included): exactly the runner's calls. Compared with
 * the chart's 7 verbs on everything:
 * - Secrets: create/get/update/delete only. The runner creates the per-run API-key and pull Secrets (kaniko its
 *   registry-auth Secret), reads one back on a 409 to compare it, updates it once to make the run's Job its owner
 *   (so garbage collection removes it with the Job), and deletes it when the run ends. No list/watch: that would
 *   hand the agent every Secret in the namespace; no patch.
 * - Pods: list/watch to monitor runs and find a Job's pod; pods/log get for logs. The agent never reads a single
 *   pod, and never creates or edits pods (Jobs do).
 * - Jobs: create, delete (cancel), list/watch (monitor, by name through a field selector).
 * - No Volcano rules by default: pass `extraTargetRules` when a queue launches custom resources.
 * - No rules for `additional_services` (Deployments, Services, Pods, … created through the generic object API in
 *   agent/runners/kubernetes-services-apply.ts): they let a run spec start arbitrary workloads, so the operator
 *   grants the kinds a queue uses with `extraTargetRules` (create, get, list, delete).
 */
export const TARGET_NAMESPACE_RULES: PolicyRule[] = [
  { apiGroups: [""], resources: ["secrets"], verbs: ["create", "get", "update", "delete"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["list", "watch"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "delete", "list", "watch"] },
];

/** One question for a SelfSubjectAccessReview: may I `verb` `resource` (of `group`) in a namespace? */
export interface Permission {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
}

/** Every (verb, group, resource) the rules grant, subresources split off (`pods/log` → pods + log). */
export function permissionsOf(rules: readonly PolicyRule[]): Permission[] {
  return rules.flatMap((rule) =>
    rule.apiGroups.flatMap((group) =>
      rule.resources.flatMap((full) => {
        const [resource, subresource] = full.split("/") as [string, string | undefined];
        return rule.verbs.map((verb) => ({ verb, group, resource, ...(subresource ? { subresource } : {}) }));
      }),
    ),
  );
}

/** How a permission reads in messages and in `kubectl auth can-i`: `create jobs.batch`, `get pods/log`. */
export function describePermission(p: Permission): string {
  return `${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ""}${p.group ? `.${p.group}` : ""}`;
}
