import { describe, expect, it } from "vitest";
import { Job } from "kubernetes-models/batch/v1/Job";
import { buildRunJob, labelValue, runGenerateName, runNamespace, type RunJobInput } from "../../../agent/runners/kubernetes-manifest.js";
import { checkKubernetesResourceArgs, checkSecureMode } from "../../../agent/runners/kubernetes-safety.js";
import { apiKeySecretManifest, apiKeySecretName } from "../../../agent/runners/kubernetes-secret.js";
import { Secret } from "kubernetes-models/v1/Secret";
import { LaunchError } from "../../../agent/errors.js";
import { buildCustomObject, customObjectState, customResourceRef } from "../../../agent/runners/kubernetes-custom.js";

const base = (over: Partial<RunJobInput> = {}): RunJobInput => ({
  resourceArgs: {},
  runId: "abc123xy",
  agentName: "agent-1",
  entity: "My_Team",
  project: "Proj.Name",
  image: "reg.example.com/repo:1234abcd",
  imageJob: false,
  entrypoint: ["python", "train.py"],
  args: ["--lr", "0.1"],
  overrideEntrypoint: false,
  env: { WANDB_PROJECT: "proj", WANDB_API_KEY: "secret-key-value-1234567890", WANDB_RUN_ID: "abc123xy" },
  apiKeySecret: "wandb-api-key-abc123xy",
  namespace: "runs",
  ...over,
});

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const asObj = (v: unknown) => v as AnyObj;

describe("buildRunJob", () => {
  it("builds a schema-valid Job with the §8.3 defaults, labels, env and forced securityContext", () => {
    const job = asObj(buildRunJob(base()));
    new Job(job as never).validate();
    expect(job).toMatchObject({
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: {
        generateName: "launch-my-team-proj.name-",
        namespace: "runs",
        labels: { "wandb.ai/run-id": "abc123xy", "wandb.ai/monitor": "true", "wandb.ai/agent": "agent-1" },
      },
      spec: { backoffLimit: 0, ttlSecondsAfterFinished: 60, template: { metadata: { labels: { "wandb.ai/monitor": "true", "wandb.ai/agent": "agent-1" } }, spec: { restartPolicy: "Never" } } },
    });
    const [c] = job.spec.template.spec.containers;
    expect(c.name).toBe("launch0");
    expect(c.image).toBe("reg.example.com/repo:1234abcd");
    expect(c.command).toEqual(["python", "train.py"]);
    expect(c.args).toEqual(["--lr", "0.1"]);
    expect(c.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } });
    expect(c.env).toContainEqual({ name: "WANDB_PROJECT", value: "proj" });
    expect(c.env).toContainEqual({ name: "WANDB_API_KEY", valueFrom: { secretKeyRef: { name: "wandb-api-key-abc123xy", key: "password" } } });
    // The key never appears as a value anywhere in the manifest.
    expect(JSON.stringify(job)).not.toContain("secret-key-value-1234567890");
    expect(c.env.filter((e: AnyObj) => e.name === "WANDB_API_KEY")).toHaveLength(1);
  });

  it("keeps user values, appends env, names unnamed containers and forces security on all of them", () => {
    const job = asObj(
      buildRunJob(
        base({
          resourceArgs: {
            metadata: { name: "fixed-name", labels: { team: "ml" } },
            namespace: "ignored-here",
            spec: {
              backoffLimit: 2,
              template: {
                spec: {
                  containers: [
                    { name: "main", image: "user/image:1", command: ["bash"], env: [{ name: "A", value: "1" }], resources: { limits: { cpu: "1" } } },
                    { image: "sidecar:1" },
                  ],
                  initContainers: [{ name: "init", image: "busybox" }],
                },
              },
            },
          },
        }),
      ),
    );
    new Job(job as never).validate();
    expect(job.metadata.name).toBe("fixed-name");
    expect(job.metadata.generateName).toBeUndefined();
    expect(job.metadata.labels.team).toBe("ml");
    expect(job.namespace).toBeUndefined();
    expect(job.spec.backoffLimit).toBe(2);
    const [main, side] = job.spec.template.spec.containers;
    // A container image in resource_args wins for built jobs (official rule); its command too without an override.
    expect(main.image).toBe("user/image:1");
    expect(main.command).toEqual(["bash"]);
    expect(main.env[0]).toEqual({ name: "A", value: "1" });
    expect(main.resources).toEqual({ limits: { cpu: "1" } });
    expect(side.name).toBe("launch1");
    for (const c of [main, side, ...job.spec.template.spec.initContainers]) expect(c.securityContext.capabilities.drop).toEqual(["ALL"]);
  });

  it("puts an image job's image on container 0 and applies entrypoint/args overrides", () => {
    const job = asObj(
      buildRunJob(
        base({
          imageJob: true,
          image: "job/image:2",
          overrideEntrypoint: true,
          entrypoint: ["/bin/run"],
          args: [],
          resourceArgs: { spec: { template: { spec: { containers: [{ image: "other:1", command: ["x"], args: ["y"] }] } } } },
        }),
      ),
    );
    const [c] = job.spec.template.spec.containers;
    expect(c.image).toBe("job/image:2");
    expect(c.command).toEqual(["/bin/run"]);
    // An empty args override is no override (the official agent's rule): the manifest's args stay.
    expect(c.args).toEqual(["y"]);
  });

  it("keeps a user's generateName", () => {
    expect(asObj(buildRunJob(base({ resourceArgs: { metadata: { generateName: "team-run-" } } }))).metadata.generateName).toBe("team-run-");
  });

  it("does not mutate its input", () => {
    const resourceArgs = { spec: { template: { spec: { containers: [{ name: "c" }] } } } };
    const copy = structuredClone(resourceArgs);
    buildRunJob(base({ resourceArgs }));
    expect(resourceArgs).toEqual(copy);
  });

  it("leaves custom resources to buildCustomObject, and refuses a run without any image, naming the key", () => {
    expect(() => buildRunJob(base({ resourceArgs: { apiVersion: "batch.volcano.sh/v1alpha1", kind: "Job" } }))).toThrow(/apiVersion "batch.volcano.sh\/v1alpha1" is not a batch\/v1 Job/);
    expect(() => buildRunJob(base({ image: null }))).toThrow(/no image/);
  });

  it("omits the key entirely when there is no Secret", () => {
    const job = asObj(buildRunJob(base({ apiKeySecret: null })));
    expect(job.spec.template.spec.containers[0].env.some((e: AnyObj) => e.name === "WANDB_API_KEY")).toBe(false);
  });
});

describe("names, labels and namespaces", () => {
  it("makes DNS-safe generateNames that leave room for the server's suffix", () => {
    // The official agent's form: `_` → `-`, lower case, digits dropped, dots kept.
    expect(runGenerateName("Ent", "my_project")).toBe("launch-ent-my-project-");
    expect(runGenerateName("team42", "Proj.V2")).toBe("launch-team-proj.v-");
    expect(runGenerateName(null, undefined)).toBe("launch-none-none-");
    const long = runGenerateName("e".repeat(40), "p".repeat(40));
    expect(long).toHaveLength(58);
    expect(long).toMatch(/^[a-z0-9][-a-z0-9]*-$/);
    // Where the official form would be refused (a dot next to a dash), the parts are made DNS-safe.
    expect(runGenerateName("ent", "proj.")).toBe("launch-ent-proj-");
  });

  it("makes label values valid", () => {
    expect(labelValue("my agent@host!")).toBe("my-agent-host");
    expect(labelValue("x".repeat(80))).toHaveLength(63);
  });

  it("resolves the namespace: metadata.namespace, namespace, context, default", () => {
    expect(runNamespace({ metadata: { namespace: "a" }, namespace: "b" }, "c")).toBe("a");
    expect(runNamespace({ namespace: "b" }, "c")).toBe("b");
    expect(runNamespace({}, "c")).toBe("c");
    expect(runNamespace({}, null)).toBe("default");
    expect(() => runNamespace({ namespace: 3 }, null)).toThrow(/resource_args.kubernetes.namespace must be a string/);
  });
});

describe("resource_args safety (§7.6)", () => {
  const rejects = (args: unknown, key: string) => {
    expect(() => checkKubernetesResourceArgs(args)).toThrow(new RegExp(`Unsafe resource_args.kubernetes option '${key}' is not allowed`));
  };
  it("rejects sandbox escapes and identity borrowing anywhere in the manifest", () => {
    rejects({ spec: { template: { spec: { containers: [{ securityContext: { privileged: true } }] } } } }, "securityContext");
    rejects({ spec: { template: { spec: { volumes: [{ name: "h", hostPath: { path: "/" } }] } } } }, "hostPath");
    rejects({ spec: { template: { spec: { hostNetwork: true } } } }, "hostNetwork");
    rejects({ spec: { template: { spec: { serviceAccountName: "admin" } } } }, "serviceAccountName");
    rejects({ spec: { template: { spec: { containers: [{ ports: [{ hostPort: 80 }] }] } } } }, "hostPort");
    rejects({ spec: { template: { spec: { containers: [{ volumeMounts: [{ mountPropagation: "Bidirectional" }] }] } } } }, "mountPropagation");
    rejects({ spec: { template: { metadata: { annotations: { "container.apparmor.security.beta.kubernetes.io/c": "unconfined" } } } } }, "container.apparmor.security.beta.kubernetes.io/c");
    rejects({ spec: { template: { spec: { volumes: [{ name: "t", projected: { sources: [{ serviceAccountToken: { path: "t" } }] } }] } } } }, "serviceAccountToken");
  });
  it("accepts ordinary manifests and falsy host flags, and names the path", () => {
    expect(() => checkKubernetesResourceArgs({ spec: { template: { spec: { hostNetwork: false, containers: [{ resources: {} }] } } } })).not.toThrow();
    expect(() => checkKubernetesResourceArgs({ spec: { template: { spec: { hostPID: true } } } })).toThrow(/at resource_args.kubernetes.spec.template.spec.hostPID/);
    expect(() => checkKubernetesResourceArgs(["x"])).toThrow(/must be an object/);
  });
  it("secure_mode refuses entry-point overrides, container commands and init containers", () => {
    const err = (() => {
      try {
        checkSecureMode({}, { overrides: { entry_point: ["sh"] } });
      } catch (e) {
        return e as LaunchError;
      }
      return null;
    })();
    expect(err?.message).toMatch(/secure_mode is enabled on this agent: overrides.entry_point is not allowed/);
    expect(err?.stage).toBe("agent");
    expect(() => checkSecureMode({ spec: { template: { spec: { containers: [{ command: ["x"] }] } } } }, {})).toThrow(/containers\[0\].command/);
    expect(() => checkSecureMode({ spec: { template: { spec: { initContainers: [] } } } }, {})).toThrow(/initContainers/);
    expect(() => checkSecureMode({ spec: { template: { spec: { containers: [{ image: "x" }] } } } }, {})).not.toThrow();
  });
});

describe("API-key Secret", () => {
  it("is a schema-valid basic-auth Secret labelled as the agent's", () => {
    const s = apiKeySecretManifest(apiKeySecretName("run1"), "ns", "k3y");
    new Secret(s as never).validate();
    expect(s).toMatchObject({ metadata: { name: "wandb-api-key-run1", labels: { "wandb.ai/created-by": "launch-agent" } }, type: "kubernetes.io/basic-auth", data: { password: "azN5" } });
    expect(apiKeySecretName("run1", "rel")).toBe("wandb-api-key-rel");
  });
});

describe("custom resources (pure parts)", () => {
  it("derives group, version and plural as the official agent does, and checks apiVersion and kind", () => {
    expect(customResourceRef({})).toBeNull();
    expect(customResourceRef({ apiVersion: "batch/v1", kind: "Job" })).toBeNull();
    expect(customResourceRef({ apiVersion: "batch.volcano.sh/v1alpha1", kind: "Job" })).toEqual({ group: "batch.volcano.sh", version: "v1alpha1", kind: "Job", plural: "jobs" });
    expect(customResourceRef({ apiVersion: "kubeflow.org/v1", kind: "PyTorchJob" })).toEqual({ group: "kubeflow.org", version: "v1", kind: "PyTorchJob", plural: "pytorchjobs" });
    expect(customResourceRef({ apiVersion: "x.io/v1", kind: "Thing", group: "y.io", version: "v2" })).toMatchObject({ group: "y.io", version: "v2", plural: "things" });
    expect(() => customResourceRef({ apiVersion: "jobset.x-k8s.io/v1alpha2" })).toThrow(/kind must name/);
    expect(() => customResourceRef({ apiVersion: "v1", kind: "Pod" })).toThrow(/not <group>\/<version>/);
  });

  it("maps status like the official agent: Volcano phases, then True conditions with the most final winning", () => {
    const st = (status: unknown) => customObjectState({ status })?.state ?? null;
    expect(st(undefined)).toBeNull();
    expect(st({ state: { phase: "Pending" } })).toBe("starting");
    expect(st({ state: { phase: "Completing" } })).toBe("running");
    expect(st({ state: { phase: "Completed" } })).toBe("finished");
    for (const p of ["Failed", "Aborted", "Terminated"]) expect(st({ state: { phase: p } })).toBe("failed");
    expect(st({ state: { phase: "Terminating" } })).toBe("stopping");
    expect(st({ state: { phase: "Restarting" } })).toBeNull();
    expect(st({ conditions: [{ type: "Running", status: "True" }, { type: "Succeeded", status: "True" }] })).toBe("finished");
    expect(st({ conditions: [{ type: "Running", status: "True" }, { type: "Failed", status: "True" }] })).toBe("failed");
    expect(st({ conditions: [{ type: "Completed", status: "False" }, { type: "Created", status: "True" }] })).toBe("starting");
    expect(st({ conditions: [{ type: "Suspended", status: "True" }] })).toBeNull();
    expect(customObjectState({ status: { state: { phase: "Failed", reason: "PodFailed", message: "task worker failed" } } })?.reason).toBe("Failed (PodFailed: task worker failed)");
  });

  it("refuses a custom resource without a pod template", () => {
    const input = { agentName: "a", image: "i:1", overrideEntrypoint: [], args: [], env: {}, apiKeySecret: null };
    expect(() => buildCustomObject({ ...input, resourceArgs: { apiVersion: "x.io/v1", kind: "Thing", spec: {} } })).toThrow(/no pod template with containers/);
  });
});
