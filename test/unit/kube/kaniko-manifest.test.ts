import { describe, expect, it } from "vitest";
import { Job } from "kubernetes-models/batch/v1/Job";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import {
  acrDockerConfigMap,
  authDockerConfigSecret,
  DEFAULT_KANIKO_IMAGE,
  kanikoArgs,
  kanikoJob,
  kanikoJobName,
  kanikoPodDeadlineSeconds,
  type KanikoJobInput,
} from "../../../agent/builders/kaniko-manifest.js";

type AnyObj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const input = (over: Partial<KanikoJobInput> = {}): KanikoJobInput => ({
  jobName: kanikoJobName(undefined, "ab12cd34"),
  namespace: "launch",
  serviceAccountName: "launch-agent",
  kanikoImage: DEFAULT_KANIKO_IMAGE,
  kanikoConfig: undefined,
  context: "s3://ctx-bucket/contexts/ab12cd34.tgz",
  destination: "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:1a2b3c4d",
  repositoryUri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch",
  registryKind: "ecr",
  ecrRegion: "us-east-1",
  ...over,
});

const build = (over: Partial<KanikoJobInput> = {}) => {
  const job = kanikoJob(input(over)) as AnyObj;
  new Job(job as never).validate();
  return job;
};
const container = (job: AnyObj) => job.spec.template.spec.containers[0];

describe("kaniko Job manifest (§6.4)", () => {
  it("has the default name, args in order, labels, deadlines and service account", () => {
    const job = build();
    expect(job.metadata).toEqual({ name: "wandb-launch-container-build-ab12cd34", namespace: "launch", labels: { wandb: "launch" } });
    expect(job.spec).toMatchObject({ backoffLimit: 0 });
    // The deadline is the build pod's (as the official agent sets it), not the Job's: a Job deadline
    // would also count scheduling and image pulls.
    expect(job.spec.activeDeadlineSeconds).toBeUndefined();
    expect(job.spec.template.spec.activeDeadlineSeconds).toBe(1800);
    expect(kanikoPodDeadlineSeconds(job as never)).toBe(1800);
    expect(job.spec.ttlSecondsAfterFinished).toBeUndefined();
    expect(job.spec.template.metadata.labels).toEqual({ wandb: "launch" });
    expect(job.spec.template.spec).toMatchObject({ restartPolicy: "Never", serviceAccountName: "launch-agent" });
    expect(container(job)).toMatchObject({ name: "wandb-container-build", image: "gcr.io/kaniko-project/executor:v1.23.2" });
    expect(container(job).args).toEqual([
      "--context=s3://ctx-bucket/contexts/ab12cd34.tgz",
      "--dockerfile=Dockerfile.wandb",
      "--destination=123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:1a2b3c4d",
      "--cache=true",
      "--cache-repo=123456789012.dkr.ecr.us-east-1.amazonaws.com/launch",
      "--snapshot-mode=redo",
      "--compressed-caching=false",
    ]);
    // ECR: kaniko's ECR helper needs the region.
    expect(container(job).env).toEqual([{ name: "AWS_REGION", value: "us-east-1" }]);
    expect(job.spec.template.spec.volumes).toBeUndefined();
  });

  it("keeps a pod deadline kaniko-config sets, longer or shorter, and waits three times it", () => {
    for (const seconds of [300, 7200]) {
      const job = build({ kanikoConfig: { spec: { template: { spec: { activeDeadlineSeconds: seconds } } } } });
      expect(job.spec.template.spec.activeDeadlineSeconds).toBe(seconds);
      expect(job.spec.activeDeadlineSeconds).toBeUndefined();
      expect(kanikoPodDeadlineSeconds(job as never)).toBe(seconds);
    }
  });

  it("lets user args override defaults in place and appends new ones, keeping bare flags", () => {
    expect(kanikoArgs([["--cache", "true"], ["--snapshot-mode", "redo"]], ["--snapshot-mode=full", "--verbosity=debug", "--cleanup"])).toEqual([
      "--cache=true",
      "--snapshot-mode=full",
      "--verbosity=debug",
      "--cleanup",
    ]);
    expect(kanikoArgs([["--a", "1"]], ["--a=x=y"])).toEqual(["--a=x=y"]);
    expect(() => kanikoArgs([], "--x=1")).toThrow(/must be a list of strings/);
  });

  it("merges kaniko-config: user scalars kept, lists appended, labels/args/name forced", () => {
    const job = build({
      kanikoConfig: {
        metadata: { name: "user-name", namespace: "elsewhere", labels: { team: "ml", wandb: "other" }, annotations: { a: "b" } },
        spec: {
          backoffLimit: 2,
          activeDeadlineSeconds: 600,
          template: {
            metadata: { labels: { extra: "yes" } },
            spec: {
              serviceAccountName: "builder",
              nodeSelector: { pool: "build" },
              volumes: [{ name: "cache", emptyDir: {} }],
              containers: [
                {
                  image: "my/kaniko:1",
                  args: ["--cache=false", "--push-retry=3"],
                  env: [{ name: "HTTP_PROXY", value: "http://proxy:3128" }],
                  volumeMounts: [{ name: "cache", mountPath: "/cache" }],
                  resources: { requests: { cpu: "2" } },
                },
              ],
            },
          },
        },
      },
    });
    expect(job.metadata).toEqual({ name: "wandb-launch-container-build-ab12cd34", namespace: "launch", labels: { team: "ml", wandb: "launch" }, annotations: { a: "b" } });
    expect(job.spec).toMatchObject({ backoffLimit: 2, activeDeadlineSeconds: 600 });
    // A Job-level deadline the operator sets is theirs; the pod still gets the default.
    expect(job.spec.template.spec.activeDeadlineSeconds).toBe(1800);
    expect(job.spec.template.metadata.labels).toEqual({ extra: "yes", wandb: "launch" });
    expect(job.spec.template.spec).toMatchObject({ serviceAccountName: "builder", nodeSelector: { pool: "build" } });
    const c = container(job);
    expect(c.image).toBe("my/kaniko:1");
    expect(c.name).toBe("wandb-container-build");
    expect(c.args).toContain("--cache=false");
    expect(c.args.at(-1)).toBe("--push-retry=3");
    expect(c.env).toEqual([{ name: "HTTP_PROXY", value: "http://proxy:3128" }, { name: "AWS_REGION", value: "us-east-1" }]);
    expect(c.resources).toEqual({ requests: { cpu: "2" } });
  });

  it("never mounts a Kubernetes API token into the build pod, whatever kaniko-config says", () => {
    expect(build().spec.template.spec.automountServiceAccountToken).toBe(false);
    const asked = build({ kanikoConfig: { spec: { template: { spec: { automountServiceAccountToken: true } } } } });
    expect(asked.spec.template.spec.automountServiceAccountToken).toBe(false);
    // Workload identity is untouched: the pod still runs as the agent's ServiceAccount (IRSA and Azure webhooks
    // project their own tokens for it) and ACR builds keep the Azure webhook's label.
    const acr = build({ registryKind: "acr", ecrRegion: null, destination: "reg.azurecr.io/launch:1", repositoryUri: "reg.azurecr.io/launch", dockerConfig: "configmap" });
    expect(acr.spec.template.spec).toMatchObject({ serviceAccountName: "launch-agent", automountServiceAccountToken: false });
    expect(acr.spec.template.metadata.labels["azure.workload.identity/use"]).toBe("true");
  });

  it("does not mutate kaniko-config and refuses more than one container or a non-object", () => {
    const cfg = { spec: { template: { spec: { containers: [{ args: ["--a=b"] }] } } } };
    const copy = structuredClone(cfg);
    build({ kanikoConfig: cfg });
    expect(cfg).toEqual(copy);
    expect(() => kanikoJob(input({ kanikoConfig: { spec: { template: { spec: { containers: [{}, {}] } } } } }))).toThrow(/Multiple container configs not supported/);
    expect(() => kanikoJob(input({ kanikoConfig: [1] }))).toThrow(/must be a Kubernetes Job manifest fragment/);
  });

  it("ACR: workload identity pod label and the acr-env docker config mounted at /kaniko/.docker", () => {
    const job = build({ registryKind: "acr", ecrRegion: null, destination: "reg.azurecr.io/launch:1", repositoryUri: "reg.azurecr.io/launch", dockerConfig: "configmap" });
    expect(job.spec.template.metadata.labels).toEqual({ wandb: "launch", "azure.workload.identity/use": "true" });
    expect(job.spec.template.spec.volumes).toEqual([{ name: "docker-config", configMap: { name: "docker-config-wandb-launch-container-build-ab12cd34" } }]);
    expect(container(job).volumeMounts).toEqual([{ name: "docker-config", mountPath: "/kaniko/.docker" }]);
    expect(container(job).env).toBeUndefined();
    const cm = acrDockerConfigMap("j", "launch", "reg.azurecr.io") as AnyObj;
    new ConfigMap(cm as never).validate();
    expect(JSON.parse(cm.data["config.json"])).toEqual({ credHelpers: { "reg.azurecr.io": "acr-env" } });
    expect(cm.metadata.namespace).toBe("launch");
  });

  it("ECR with secret-name: AWS credentials file at /root/.aws plus a docker-config Secret", () => {
    const job = build({ credentialsSecret: { name: "aws-creds", key: "credentials-file" }, dockerConfig: "secret" });
    expect(job.spec.template.spec.volumes).toEqual([
      { name: "docker-config", secret: { secretName: "docker-config-wandb-launch-container-build-ab12cd34" } },
      { name: "aws-creds", secret: { secretName: "aws-creds", items: [{ key: "credentials-file", path: "credentials" }] } },
    ]);
    expect(container(job).volumeMounts).toEqual([
      { name: "docker-config", mountPath: "/kaniko/.docker" },
      { name: "aws-creds", mountPath: "/root/.aws", readOnly: true },
    ]);
  });

  it("GAR with secret-name: service-account JSON at /kaniko/.config/gcloud and GOOGLE_APPLICATION_CREDENTIALS", () => {
    const job = build({
      registryKind: "gar",
      ecrRegion: null,
      destination: "us-docker.pkg.dev/p/r/img:1",
      repositoryUri: "us-docker.pkg.dev/p/r/img",
      credentialsSecret: { name: "gsa", key: "key.json" },
    });
    expect(job.spec.template.spec.volumes).toEqual([{ name: "gsa", secret: { secretName: "gsa", items: [{ key: "key.json", path: "config.json" }] } }]);
    expect(container(job).env).toEqual([{ name: "GOOGLE_APPLICATION_CREDENTIALS", value: "/kaniko/.config/gcloud/config.json" }]);
    // GAR with workload identity needs nothing extra.
    const wi = build({ registryKind: "gar", ecrRegion: null });
    expect(container(wi).env).toBeUndefined();
    expect(wi.spec.template.metadata.labels).toEqual({ wandb: "launch" });
  });

  it("custom auth secret (WANDB_LAUNCH_KANIKO_AUTH_SECRET) replaces every other docker config", () => {
    const job = build({ registryKind: "acr", authSecret: "my-dockercfg", dockerConfig: "configmap" });
    expect(job.spec.template.spec.volumes).toEqual([{ name: "kaniko-docker-config", secret: { secretName: "my-dockercfg", items: [{ key: ".dockerconfigjson", path: "config.json" }] } }]);
    expect(job.spec.template.metadata.labels["azure.workload.identity/use"]).toBeUndefined();
  });

  it("Azure Blob contexts read the storage key from the azure-storage-access-key Secret", () => {
    const job = build({ registryKind: "acr", context: "https://acct.blob.core.windows.net/ctx/ab12cd34.tgz", azureStorageKey: true });
    expect(container(job).env).toContainEqual({ name: "AZURE_STORAGE_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "azure-storage-access-key", key: "password" } } });
  });

  it("refuses secret-name for registries other than ECR/GAR", () => {
    expect(() => kanikoJob(input({ registryKind: "anonymous", credentialsSecret: { name: "s", key: "k" } }))).toThrow(/supported for ECR and Artifact Registry destinations only/);
  });

  it("keeps push credentials in a Secret keyed by registry host, never a ConfigMap", () => {
    const s = authDockerConfigSecret("j", "launch", "registry.example.com", { username: "u", password: "p@ss" }) as AnyObj;
    new Secret(s as never).validate();
    expect(s.kind).toBe("Secret");
    const json = JSON.parse(Buffer.from(s.data["config.json"], "base64").toString());
    expect(json).toEqual({ auths: { "registry.example.com": { auth: Buffer.from("u:p@ss").toString("base64") } } });
  });

  it("names the Job after the configured prefix", () => {
    expect(kanikoJobName("my-builds", "r1")).toBe("my-builds-r1");
  });
});
