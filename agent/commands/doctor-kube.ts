// `doctor`'s Kubernetes check: one SelfSubjectAccessReview per permission the agent uses, in each
// namespace it will act in. Asking is read-only and needs no permission of its own.
import type { KubeClients } from "../kube/client.js";
import { describePermission, permissionsOf, type Permission, type PolicyRule } from "../kube/permissions.js";

export interface NamespaceVerdict {
  namespace: string;
  checked: number;
  missing: Permission[];
}

/** Ask the API server, for each namespace, whether the agent's credentials allow each permission. */
export async function reviewPermissions(kube: KubeClients, targets: { namespace: string; rules: readonly PolicyRule[] }[]): Promise<NamespaceVerdict[]> {
  const k8s = await import("@kubernetes/client-node");
  const authz = kube.config.makeApiClient(k8s.AuthorizationV1Api);
  return Promise.all(
    targets.map(async ({ namespace, rules }) => {
      const wanted = permissionsOf(rules);
      const answers = await Promise.all(
        wanted.map(async (p) => {
          const review = await authz.createSelfSubjectAccessReview({
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectAccessReview",
              spec: { resourceAttributes: { namespace, verb: p.verb, group: p.group, resource: p.resource, ...(p.subresource ? { subresource: p.subresource } : {}) } },
            },
          });
          return review.status?.allowed === true;
        }),
      );
      return { namespace, checked: wanted.length, missing: wanted.filter((_, i) => !answers[i]) };
    }),
  );
}

/** `create jobs.batch, get pods/log in namespace ml-runs` */
export function describeMissing(v: NamespaceVerdict): string {
  return `missing in namespace ${v.namespace}: ${v.missing.map(describePermission).join(", ")}`;
}
