import { describe, expect, it } from "vitest";
import { auxiliaryLabelValue, buildAuxiliaryObject, isReady, labelSafe, serviceManifests, serviceWait, AUXILIARY_LABEL } from "../../../agent/runners/kubernetes-services.js";

const deployment = () => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "Model_Server", labels: { app: "model" } },
  spec: {
    selector: { matchLabels: { app: "model" } },
    template: {
      metadata: { labels: { app: "model" } },
      spec: { containers: [{ name: "Serve_1", image: "vllm:1", env: [{ name: "PORT", value: "8000" }, { name: "WANDB_CONFIG", value: "stale" }] }], initContainers: [{ name: "warm", image: "busybox" }] },
    },
  },
});
const input = { runId: "r1", auxLabel: "aux-e-p-r1", wandbConfig: '{"lr":1}', apiKeySecret: "wandb-api-key-r1" };

describe("additional_services manifests", () => {
  it("label values and names are made safe the official way", () => {
    expect(auxiliaryLabelValue("My_Team", "Proj.X", "abc123")).toBe("aux-my-team-projx-abc123");
    expect(auxiliaryLabelValue("e", "p".repeat(80), "r")).toHaveLength(63);
    expect(labelSafe("--A__b--")).toBe("a-b");
    expect(() => labelSafe("___")).toThrow(/"___" has no character/);
  });

  it("completes an object: labels, pod-template label, WANDB_CONFIG and the key by Secret reference, forced securityContext", () => {
    const src = deployment();
    const out = buildAuxiliaryObject(src, input) as any;
    expect(src.metadata.name).toBe("Model_Server"); // the input is not mutated
    expect(out.metadata.name).toBe("model-server");
    expect(out.metadata.labels).toEqual({ app: "model", "wandb.ai/run-id": "r1", "wandb.ai/created-by": "launch-agent", [AUXILIARY_LABEL]: "aux-e-p-r1" });
    expect(out.spec.template.metadata.labels).toEqual({ app: "model", [AUXILIARY_LABEL]: "aux-e-p-r1" });
    expect(out.spec.selector).toEqual({ matchLabels: { app: "model" } });
    const c = out.spec.template.spec.containers[0];
    expect(c.name).toBe("serve-1");
    expect(c.env).toEqual([
      { name: "PORT", value: "8000" },
      { name: "WANDB_CONFIG", value: '{"lr":1}' },
      { name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-r1", key: "password" } } },
    ]);
    for (const k of [c, out.spec.template.spec.initContainers[0]]) expect(k.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
    expect(out.spec.template.spec.initContainers[0].env).toBeUndefined();
    const noKey = buildAuxiliaryObject(src, { ...input, apiKeySecret: null }) as any;
    expect(noKey.spec.template.spec.containers[0].env.map((e: any) => e.name)).toEqual(["PORT", "WANDB_CONFIG"]);
    const svc = buildAuxiliaryObject({ apiVersion: "v1", kind: "Service", metadata: { name: "model" }, spec: { selector: { app: "model" }, ports: [{ port: 80 }] } }, input) as any;
    expect(svc.metadata.labels[AUXILIARY_LABEL]).toBe("aux-e-p-r1");
    expect(svc.spec).toEqual({ selector: { app: "model" }, ports: [{ port: 80 }] });
  });

  it("takes each entry's config, skips empty ones, and refuses bad or unsafe ones naming the entry", () => {
    expect(serviceManifests([{ config: deployment() }, { config: {} }, {}]).map((m) => m.kind)).toEqual(["Deployment"]);
    expect(() => serviceManifests(["x"])).toThrow(/additional_services\[0\] must be an object/);
    expect(() => serviceManifests([{}, { config: { kind: "Pod", metadata: { name: "p" } } }])).toThrow(/additional_services\[1\]\.config\.apiVersion must be set/);
    expect(() => serviceManifests([{ config: { apiVersion: "v1", kind: "Pod", metadata: {} } }])).toThrow(/additional_services\[0\]\.config\.metadata\.name must be set/);
    const unsafe = deployment() as any;
    unsafe.spec.template.spec.hostNetwork = true;
    expect(() => serviceManifests([{ config: unsafe }])).toThrow("Unsafe additional_services[0].config option 'hostNetwork' is not allowed: using the host's network namespace (at additional_services[0].config.spec.template.spec.hostNetwork)");
  });

  it("reads wait_for_ready / wait_timeout with the official defaults", () => {
    expect(serviceWait({})).toEqual({ waitForReady: true, timeoutSeconds: 300 });
    expect(serviceWait({ wait_for_ready: false, wait_timeout: 5 })).toEqual({ waitForReady: false, timeoutSeconds: 5 });
    expect(() => serviceWait({ wait_timeout: "5m" })).toThrow(/wait_timeout must be a positive number of seconds, got "5m"/);
    expect(() => serviceWait({ wait_for_ready: "yes" })).toThrow(/wait_for_ready must be true or false/);
  });

  it("readiness per kind follows the official checks", () => {
    expect(isReady("Deployment", { status: { replicas: 2, readyReplicas: 1 } })).toBe(false);
    expect(isReady("Deployment", { status: { replicas: 2, readyReplicas: 2 } })).toBe(true);
    expect(isReady("Deployment", { status: {} })).toBe(false);
    expect(isReady("Endpoints", { subsets: [{ notReadyAddresses: [{ ip: "10.0.0.1" }] }] })).toBe(false);
    expect(isReady("Endpoints", { subsets: [{ addresses: [{ ip: "10.0.0.1" }] }] })).toBe(true);
    expect(isReady("Pod", { status: { phase: "Pending" } })).toBe(false);
    expect(isReady("Pod", { status: { phase: "Running", containerStatuses: [{ ready: true }, { ready: false }] } })).toBe(false);
    expect(isReady("Pod", { status: { phase: "Running", containerStatuses: [{ ready: true }] } })).toBe(true);
    expect(isReady("ConfigMap", {})).toBe(true);
  });
});
