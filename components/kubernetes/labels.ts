// Stack-wide labels on every Kubernetes object a component creates, applied as a resource transformation on the
// component so that each manifest builder stays unaware of them. Our own labels win over the stack's on a clash
// (selectors and workload-identity labels must not change); the stack config rejects such keys anyway.
import * as pulumi from "@pulumi/pulumi";

type Labels = Record<string, string>;
type Meta = { labels?: pulumi.Input<Labels> } & Record<string, unknown>;

const merge = (extra: Labels, own: pulumi.Input<Labels> | undefined): pulumi.Output<Labels> =>
  pulumi.output(own ?? {}).apply((o) => ({ ...extra, ...o }));

const withLabels = (meta: pulumi.Input<Meta> | undefined, extra: Labels): pulumi.Output<Meta> =>
  pulumi.output(meta ?? {}).apply((m) => ({ ...m, labels: merge(extra, m.labels as Labels | undefined) }) as unknown as Meta);

/**
 * A transformation adding `labels` to `metadata.labels` of every `kubernetes:` resource, and to the pod template
 * of workloads (Deployments), so their pods carry them too.
 */
export function labelKubernetesObjects(labels: Labels): pulumi.ResourceTransformation {
  return ({ type, props, opts }) => {
    if (!type.startsWith("kubernetes:") || Object.keys(labels).length === 0) return undefined;
    const next: pulumi.Inputs = { ...props, metadata: withLabels(props.metadata as pulumi.Input<Meta> | undefined, labels) };
    if (type === "kubernetes:apps/v1:Deployment" && props.spec !== undefined) {
      next.spec = pulumi
        .output(props.spec as pulumi.Input<Record<string, unknown>>)
        .apply((spec) => ({ ...spec, template: { ...(spec.template as Record<string, unknown>), metadata: withLabels((spec.template as { metadata?: Meta }).metadata, labels) } }));
    }
    return { props: next, opts };
  };
}
