// Whole-render wiring checks: each stack kind is rendered as `pulumi up` would create it (the program under the
// strict mocks), then read the way the cluster and the agent read it. Each object may be valid on its own and the
// stack still broken: a cloud identity that trusts another ServiceAccount, a Deployment that runs as `default`, a
// RoleBinding to a Role that does not exist, a config mounted where the agent does not look. Every check below
// follows one such reference from where it is made to where it must land.
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { kanikoJob } from "../../agent/builders/kaniko-manifest.js";
import { loadAgentConfig } from "../../agent/config/index.js";
import { type Rendered, type RenderedResource, renderStack } from "../../stacks/render.js";
import { agentKubeCalls, type AgentKubeCalls, granted, sorted } from "./agent-kube-calls.js";
import { validateKubernetesObject } from "./k8s-schema.js";

type Obj = Record<string, unknown>;
interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: { name: string; key: string } };
}
interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: EnvVar[];
  volumeMounts?: Array<{ name: string; mountPath: string; subPath?: string }>;
}
interface PodSpec {
  serviceAccountName?: string;
  containers: Container[];
  volumes?: Array<{ name: string; configMap?: { name: string; items?: Array<{ key: string; path: string }> } }>;
}
interface Deployment {
  metadata: Meta;
  spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const STACKS = ["aws", "gcp", "azure", "kubernetes"] as const;
type Stack = (typeof STACKS)[number];

/** Non-default names, so a component that ignores the setting and uses its default is caught. */
const CUSTOM = { serviceAccountName: "team-launcher", namespace: "ml-launch", targetNamespaces: ["ml-runs", "ml-batch"] };

const ROOT = process.cwd();

/** Renders stacks/Pulumi.<stack>.yaml with `overrides` added to its config (a copy in a temporary root). */
async function renderWith(stack: Stack, overrides: Record<string, unknown>): Promise<Rendered> {
  const sample = parse(await readFile(join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8")) as { config: Obj };
  const root = await mkdtemp(join(tmpdir(), `wiring-${stack}-`));
  try {
    const config = { ...sample.config };
    for (const [k, v] of Object.entries(overrides)) config[`wandb-launch:${k}`] = v;
    await mkdir(join(root, "stacks"));
    await writeFile(join(root, "stacks", `Pulumi.${stack}.yaml`), stringify({ config }));
    return await renderStack(stack, root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

const kube = (r: Rendered) => r.resources.filter((x) => x.type.startsWith("kubernetes:"));
const ofType = (r: Rendered, type: string) => r.resources.filter((x) => x.type === type);
const meta = (x: RenderedResource) => x.inputs.metadata as Meta;
function only(r: Rendered, type: string): RenderedResource {
  const found = ofType(r, type);
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0]!;
}

interface Expected {
  namespace: string;
  serviceAccountName: string;
  targetNamespaces: string[];
  /** `wandb-launch:extraTargetRules` (custom resources such as Volcano Jobs, granted per API group). */
  extraTargetRules?: Rule[];
}

/** The stack file's `extraTargetRules`: granted on top of the agent's own calls in every target namespace. */
async function sampleExtraRules(stack: Stack): Promise<Rule[]> {
  const sample = parse(await readFile(join(ROOT, "stacks", `Pulumi.${stack}.yaml`), "utf8")) as { config: Obj };
  return (sample.config["wandb-launch:extraTargetRules"] as Rule[] | undefined) ?? [];
}

/** The ServiceAccount the cloud identity trusts, as `namespace/name`, read from the cloud resource itself. */
function trustedServiceAccount(stack: Stack, r: Rendered, sa: RenderedResource): string | null {
  const annotations = meta(sa).annotations ?? {};
  switch (stack) {
    case "aws": {
      const role = only(r, "aws:iam/role:Role");
      const trust = JSON.parse(String(role.inputs.assumeRolePolicy)) as { Statement: Array<{ Action: string; Condition: { StringEquals: Record<string, string> } }> };
      expect(trust.Statement).toHaveLength(1);
      expect(trust.Statement[0]!.Action).toBe("sts:AssumeRoleWithWebIdentity");
      const subs = Object.entries(trust.Statement[0]!.Condition.StringEquals).filter(([k]) => k.endsWith(":sub"));
      expect(subs).toHaveLength(1);
      // The ServiceAccount names this role, so IRSA injects its credentials.
      expect(annotations["eks.amazonaws.com/role-arn"]).toBe(role.state.arn);
      return fromSubject(subs[0]![1]);
    }
    case "gcp": {
      const gsa = only(r, "gcp:serviceaccount/account:Account");
      const bindings = ofType(r, "gcp:serviceaccount/iAMMember:IAMMember").filter((b) => b.inputs.role === "roles/iam.workloadIdentityUser");
      expect(bindings).toHaveLength(1);
      const b = bindings[0]!;
      expect(b.inputs.serviceAccountId).toBe(gsa.state.name);
      expect(annotations["iam.gke.io/gcp-service-account"]).toBe(gsa.state.email);
      const m = /^serviceAccount:[a-z0-9-]+\.svc\.id\.goog\[([^/\]]+)\/([^\]]+)\]$/.exec(String(b.inputs.member));
      expect(m, String(b.inputs.member)).not.toBeNull();
      return `${m![1]}/${m![2]}`;
    }
    case "azure": {
      const identity = only(r, "azure-native:managedidentity:UserAssignedIdentity");
      const fic = only(r, "azure-native:managedidentity:FederatedIdentityCredential");
      expect(fic.inputs.resourceName).toBe(identity.state.name);
      expect(fic.inputs.audiences).toEqual(["api://AzureADTokenExchange"]);
      expect(annotations["azure.workload.identity/client-id"]).toBe(identity.state.clientId);
      return fromSubject(String(fic.inputs.subject));
    }
    case "kubernetes":
      expect(annotations).toEqual({});
      return null;
  }
}

function fromSubject(s: string): string {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(s);
  if (!m) throw new Error(`not a ServiceAccount subject: ${s}`);
  return `${m[1]}/${m[2]}`;
}

/** Env as the container sees it: literal values, and downward-API fields resolved against the pod. */
function containerEnv(c: Container, pod: PodSpec, namespace: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) {
      const field = e.valueFrom.fieldRef.fieldPath;
      const v = field === "spec.serviceAccountName" ? (pod.serviceAccountName ?? "default") : field === "metadata.namespace" ? namespace : undefined;
      if (v === undefined) throw new Error(`env ${e.name}: fieldRef ${field} not modelled here`);
      env[e.name] = v;
    } else if (e.valueFrom?.secretKeyRef) env[e.name] = `<secret ${e.valueFrom.secretKeyRef.name}/${e.valueFrom.secretKeyRef.key}>`;
  }
  return env;
}

/** `--config X`, `--config=X`, `-c X` in the container's args, if any. */
function configFlag(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--config" || a === "-c") return args[i + 1];
    if (a.startsWith("--config=")) return a.slice("--config=".length);
  }
  return undefined;
}

/**
 * Lays out the container's filesystem as the kubelet would (each ConfigMap-backed volume's items at their mount
 * path) under a temporary root, then loads the config the way the agent does at start-up, with the container's
 * HOME and args. Returns the path the agent read (inside the container) and the text it read.
 */
async function configTheAgentReads(r: Rendered, dep: Deployment, c: Container, env: Record<string, string>): Promise<{ path: string | null; text: string | null }> {
  const fsRoot = await mkdtemp(join(tmpdir(), "wiring-pod-"));
  try {
    const pod = dep.spec.template.spec;
    for (const m of c.volumeMounts ?? []) {
      const vol = (pod.volumes ?? []).find((v) => v.name === m.name);
      expect(vol, `volumeMount ${m.name} has no volume`).toBeDefined();
      if (!vol!.configMap) continue;
      const cm = ofType(r, "kubernetes:core/v1:ConfigMap").find((x) => meta(x).name === vol!.configMap!.name && meta(x).namespace === dep.metadata.namespace);
      expect(cm, `volume ${vol!.name} mounts ConfigMap ${vol!.configMap.name}, which the stack does not create in ${dep.metadata.namespace}`).toBeDefined();
      const data = cm!.inputs.data as Record<string, string>;
      const items = vol!.configMap.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const item of items) {
        expect(Object.keys(data), `ConfigMap ${vol!.configMap.name} has no key ${item.key}`).toContain(item.key);
        if (m.subPath !== undefined && m.subPath !== item.path) continue;
        const target = m.subPath !== undefined ? m.mountPath : posix.join(m.mountPath, item.path);
        const file = join(fsRoot, target);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, data[item.key]!);
      }
    }
    const home = env.HOME;
    expect(home, "the agent container sets HOME (the image's user has no passwd entry for os.homedir())").toBeDefined();
    const flag = configFlag([...(c.command ?? []), ...(c.args ?? [])]);
    const loaded = await loadAgentConfig({
      configPath: flag === undefined ? undefined : join(fsRoot, flag),
      homeDir: join(fsRoot, home!),
      env: { ...env, HOME: join(fsRoot, home!) },
    });
    if (loaded.path === null) return { path: null, text: null };
    return { path: `/${posix.relative(fsRoot, loaded.path.split("\\").join("/"))}`, text: await readFile(loaded.path, "utf8") };
  } finally {
    await rm(fsRoot, { recursive: true, force: true });
  }
}

async function checkWiring(stack: Stack, r: Rendered, want: Expected, calls: AgentKubeCalls): Promise<void> {
  for (const obj of kube(r)) validateKubernetesObject(obj.inputs);
  // The engine refuses two resources with one URN (type + name); so does the API server two objects with one name.
  const urns = r.resources.map((x) => `${x.type}::${x.name}`);
  expect(urns.filter((u, i) => urns.indexOf(u) !== i), "duplicate resource URNs").toEqual([]);
  const objects = kube(r).map((x) => `${x.type}::${meta(x).namespace ?? ""}/${meta(x).name}`);
  expect(objects.filter((o, i) => objects.indexOf(o) !== i), "two Kubernetes objects with one name").toEqual([]);

  // --- the ServiceAccount: created once, trusted by the cloud identity ---
  const sa = only(r, "kubernetes:core/v1:ServiceAccount");
  expect(meta(sa).name).toBe(want.serviceAccountName);
  expect(meta(sa).namespace).toBe(want.namespace);
  const saRef = `${meta(sa).namespace}/${meta(sa).name}`;
  const trusted = trustedServiceAccount(stack, r, sa);
  if (stack !== "kubernetes") expect(trusted, "the ServiceAccount the cloud identity trusts").toBe(saRef);

  // --- the Deployment runs as it ---
  const depRes = only(r, "kubernetes:apps/v1:Deployment");
  const dep = depRes.inputs as unknown as Deployment;
  expect(dep.metadata.namespace).toBe(want.namespace);
  const pod = dep.spec.template.spec;
  expect(pod.serviceAccountName, "the ServiceAccount the agent pod runs as").toBe(want.serviceAccountName);
  for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) expect(dep.spec.template.metadata.labels[k], `selector label ${k}`).toBe(v);
  if (stack === "azure") expect(dep.spec.template.metadata.labels["azure.workload.identity/use"]).toBe("true");
  expect(pod.containers).toHaveLength(1);
  const c = pod.containers[0]!;
  const env = containerEnv(c, pod, want.namespace);

  // The API key reference lands on a Secret the stack creates there, under the key it writes.
  const keyRef = c.env?.find((e) => e.name === "WANDB_API_KEY")?.valueFrom?.secretKeyRef;
  const keySecret = ofType(r, "kubernetes:core/v1:Secret").find((s) => meta(s).name === keyRef?.name && meta(s).namespace === want.namespace);
  expect(keySecret, `WANDB_API_KEY refers to Secret ${keyRef?.name}, which the stack does not create in ${want.namespace}`).toBeDefined();
  expect(Object.keys(keySecret!.inputs.stringData as Obj)).toEqual([keyRef!.key]);

  // --- the config: mounted where the agent reads it ---
  const cm = only(r, "kubernetes:core/v1:ConfigMap");
  const read = await configTheAgentReads(r, dep, c, env);
  expect(read.path, "the agent finds no config file in its container").not.toBeNull();
  expect(read.text).toBe(Object.values(cm.inputs.data as Record<string, string>)[0]);
  expect(read.text).toBe(r.outputs.launchConfig);
  const config = parse(read.text!) as { builder: { "kaniko-config"?: unknown; "build-job-name"?: string; "kaniko-image"?: string } };

  // --- kaniko runs as the same ServiceAccount, in the agent's namespace (the pod's service-account namespace) ---
  const job = kanikoJob({
    jobName: `${config.builder["build-job-name"] ?? "wandb-launch-container-build"}-run1`,
    namespace: dep.metadata.namespace!,
    serviceAccountName: env.WANDB_LAUNCH_SERVICE_ACCOUNT_NAME || "default",
    kanikoImage: config.builder["kaniko-image"] ?? "kaniko",
    kanikoConfig: config.builder["kaniko-config"],
    context: "s3://b/run1.tgz",
    destination: `${String(r.outputs.registry)}:t`,
    repositoryUri: String(r.outputs.registry),
    registryKind: "anonymous",
  });
  validateKubernetesObject(job as unknown as Obj);
  expect(job.metadata!.namespace).toBe(want.namespace);
  expect(job.spec!.template.spec!.serviceAccountName, "the ServiceAccount kaniko runs as").toBe(want.serviceAccountName);

  // --- RBAC: every binding points at a Role in its own namespace and at the agent's ServiceAccount ---
  const roles = ofType(r, "kubernetes:rbac.authorization.k8s.io/v1:Role");
  const bindings = ofType(r, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding");
  expect(ofType(r, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")).toEqual([]);
  expect(ofType(r, "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")).toEqual([]);
  const rulesIn = new Map<string, Rule[]>();
  const bound = new Set<RenderedResource>();
  for (const b of bindings) {
    const ns = meta(b).namespace!;
    const ref = b.inputs.roleRef as { apiGroup: string; kind: string; name: string };
    expect(ref.apiGroup).toBe("rbac.authorization.k8s.io");
    expect(ref.kind).toBe("Role");
    const role = roles.find((x) => meta(x).name === ref.name && meta(x).namespace === ns);
    expect(role, `RoleBinding ${ns}/${meta(b).name} refers to Role ${ref.name}, which does not exist in ${ns}`).toBeDefined();
    bound.add(role!);
    expect(b.inputs.subjects, `RoleBinding ${ns}/${meta(b).name}`).toEqual([{ kind: "ServiceAccount", name: want.serviceAccountName, namespace: want.namespace }]);
    rulesIn.set(ns, [...(rulesIn.get(ns) ?? []), ...(role!.inputs.rules as Rule[])]);
  }
  expect(roles.filter((x) => !bound.has(x)).map((x) => `${meta(x).namespace}/${meta(x).name}`), "Roles no binding uses").toEqual([]);

  // --- each namespace's rules are exactly the calls the agent makes there ---
  expect(sorted(rulesIn.keys())).toEqual(sorted(new Set([want.namespace, ...want.targetNamespaces])));
  for (const [ns, rules] of rulesIn) {
    const extra = granted(want.extraTargetRules ?? []);
    const needed = new Set([...calls.runner, ...extra, ...(ns === want.namespace ? calls.builder : [])]);
    expect(sorted(granted(rules)), `rules in namespace ${ns}`).toEqual(sorted(needed));
  }
}

describe("stack wiring (whole render)", () => {
  let calls: AgentKubeCalls;
  const renders: Partial<Record<string, Rendered>> = {};
  beforeAll(async () => {
    calls = await agentKubeCalls();
  });

  it.each(STACKS)("%s sample stack: identity, ServiceAccount, Deployment, kaniko, RBAC and config line up", async (stack) => {
    const r = await renderStack(stack);
    renders[stack] = r;
    const want = { namespace: "wandb", serviceAccountName: "wandb-launch-agent", targetNamespaces: [], extraTargetRules: await sampleExtraRules(stack) };
    await checkWiring(stack, r, want, calls);
  });

  it.each(STACKS)("%s with a custom ServiceAccount, namespace and target namespaces: every reference follows", async (stack) => {
    // Azure keeps namespace wandb (the official agent's kaniko builder looks there only).
    const want = { ...CUSTOM, namespace: stack === "azure" ? "wandb" : CUSTOM.namespace, extraTargetRules: await sampleExtraRules(stack) };
    const r = await renderWith(stack, { namespace: want.namespace, serviceAccountName: want.serviceAccountName, targetNamespaces: JSON.stringify(want.targetNamespaces) });
    await checkWiring(stack, r, want, calls);
  });
});

describe("the wiring check itself", () => {
  // Each mistake below is one the checks exist for; a check that let it through would be worthless.
  let calls: AgentKubeCalls;
  let base: Rendered;
  beforeAll(async () => {
    calls = await agentKubeCalls();
    base = await renderStack("aws");
  });
  const want = { namespace: "wandb", serviceAccountName: "wandb-launch-agent", targetNamespaces: [] };
  const edit = (f: (r: Rendered) => void): Rendered => {
    const r = structuredClone(base);
    f(r);
    return r;
  };
  const deploymentOf = (r: Rendered) => only(r, "kubernetes:apps/v1:Deployment").inputs as unknown as Deployment;

  it("accepts the stack as rendered", async () => {
    await checkWiring("aws", base, want, calls);
  });

  it("fails when the Deployment runs as another ServiceAccount", async () => {
    const r = edit((x) => (deploymentOf(x).spec.template.spec.serviceAccountName = "default"));
    await expect(checkWiring("aws", r, want, calls)).rejects.toThrow(/the ServiceAccount the agent pod runs as/);
  });

  it("fails when a RoleBinding names a Role that does not exist", async () => {
    const r = edit((x) => ((ofType(x, "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")[0]!.inputs.roleRef as { name: string }).name = "wandb-launch-agent-role"));
    await expect(checkWiring("aws", r, want, calls)).rejects.toThrow(/refers to Role wandb-launch-agent-role, which does not exist in wandb/);
  });

  it("fails when the cloud identity trusts another ServiceAccount", async () => {
    const r = edit((x) => {
      const role = only(x, "aws:iam/role:Role");
      role.inputs.assumeRolePolicy = String(role.inputs.assumeRolePolicy).replace("system:serviceaccount:wandb:wandb-launch-agent", "system:serviceaccount:wandb:other");
    });
    await expect(checkWiring("aws", r, want, calls)).rejects.toThrow(/the ServiceAccount the cloud identity trusts/);
  });

  it("fails when kaniko-config names another ServiceAccount", async () => {
    const r = edit((x) => {
      const cm = only(x, "kubernetes:core/v1:ConfigMap");
      const data = cm.inputs.data as Record<string, string>;
      const doc = parse(data["launch-config.yaml"]!) as { builder: Obj };
      doc.builder["kaniko-config"] = { spec: { template: { spec: { serviceAccountName: "builder" } } } };
      data["launch-config.yaml"] = stringify(doc);
      x.outputs.launchConfig = data["launch-config.yaml"];
    });
    await expect(checkWiring("aws", r, want, calls)).rejects.toThrow(/the ServiceAccount kaniko runs as/);
  });

  it("fails when the config is mounted where the agent does not look", async () => {
    const r = edit((x) => {
      const c = deploymentOf(x).spec.template.spec.containers[0]!;
      c.volumeMounts = c.volumeMounts!.map((m) => (m.name === "launch-config" ? { ...m, mountPath: "/etc/wandb" } : m));
    });
    await expect(checkWiring("aws", r, want, calls)).rejects.toThrow(/the agent finds no config file in its container/);
    const key = edit((x) => {
      const vol = deploymentOf(x).spec.template.spec.volumes!.find((v) => v.name === "launch-config")!;
      vol.configMap!.items = [{ key: "config.yaml", path: "launch-config.yaml" }];
    });
    await expect(checkWiring("aws", key, want, calls)).rejects.toThrow(/ConfigMap wandb-launch-config has no key config\.yaml/);
    const flag = edit((x) => (deploymentOf(x).spec.template.spec.containers[0]!.args = ["--config", "/etc/launch/config.yaml"]));
    await expect(checkWiring("aws", flag, want, calls)).rejects.toThrow(/Could not find the specified launch config file: .*\/etc\/launch\/config\.yaml/);
  });

  it("fails when a namespace's rules grant more or less than the agent uses there", async () => {
    const more = edit((x) => {
      const role = ofType(x, "kubernetes:rbac.authorization.k8s.io/v1:Role").find((y) => meta(y).name === "wandb-launch-runs")!;
      role.inputs.rules = [...(role.inputs.rules as Rule[]), { apiGroups: [""], resources: ["secrets"], verbs: ["list"] }];
    });
    await expect(checkWiring("aws", more, want, calls)).rejects.toThrow(/rules in namespace wandb/);
    const less = edit((x) => {
      const role = ofType(x, "kubernetes:rbac.authorization.k8s.io/v1:Role").find((y) => meta(y).name === "wandb-launch-agent")!;
      role.inputs.rules = (role.inputs.rules as Rule[]).filter((rule) => !rule.resources.includes("configmaps"));
    });
    await expect(checkWiring("aws", less, want, calls)).rejects.toThrow(/rules in namespace wandb/);
  });
});
