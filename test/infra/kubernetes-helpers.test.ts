// The `kubernetes` kind's environment (static S3 credentials from an existing Secret, wired into the agent and
// into kaniko) and the stack-wide labels transformation: pure functions, so each case checks the whole result.
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { labelKubernetesObjects } from "../../components/kubernetes/labels.js";
import { genericLaunchEnvironment, type GenericEnvironmentArgs } from "../../components/kubernetes/generic-environment.js";
import { isSecretOutput, promiseOf } from "./mocks.js";

const BASE: GenericEnvironmentArgs = {
  destination: "registry.example.com/ml/launch",
  buildContextStore: "s3://ctx/build-contexts",
  s3Region: "us-east-1",
  s3CredentialsSecretName: "s3-creds",
};
const creds = [
  { name: "AWS_ACCESS_KEY_ID", valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_ACCESS_KEY_ID" } } },
  { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "s3-creds", key: "AWS_SECRET_ACCESS_KEY" } } },
  { name: "AWS_REGION", value: "us-east-1" },
];
const kanikoEnvOf = (env: ReturnType<typeof genericLaunchEnvironment>) => env.kanikoConfig.spec!.template!.spec!.containers![0]!.env;

describe("genericLaunchEnvironment", () => {
  it("on AWS S3: only the Secret's keys and the region, for the agent and for kaniko", () => {
    const env = genericLaunchEnvironment(BASE);
    expect(env.agentEnv).toEqual(creds);
    expect(env.kanikoConfig).toEqual({ spec: { template: { spec: { containers: [{ env: creds }] } } } });
  });

  it("on another S3-compatible store: the endpoint and path-style addressing for both, in the names each reads", () => {
    const env = genericLaunchEnvironment({ ...BASE, s3Endpoint: "https://object.example.com" });
    expect(env.agentEnv).toEqual([
      ...creds,
      { name: "AWS_ENDPOINT_URL_S3", value: "https://object.example.com" },
      { name: "S3_ENDPOINT", value: "https://object.example.com" },
      { name: "S3_FORCE_PATH_STYLE", value: "true" },
    ]);
    expect(kanikoEnvOf(env)).toEqual([...creds, { name: "S3_ENDPOINT", value: "https://object.example.com" }, { name: "S3_FORCE_PATH_STYLE", value: "true" }]);
  });

  it("names kaniko's push Secret to the agent only when given", () => {
    const env = genericLaunchEnvironment({ ...BASE, registryAuthSecretName: "regcred" });
    expect(env.agentEnv).toEqual([...creds, { name: "WANDB_LAUNCH_KANIKO_AUTH_SECRET", value: "regcred" }]);
    expect(kanikoEnvOf(env)).toEqual(creds);
  });

  it("exposes the environment's outputs, with the push login only when given, and then as a secret", async () => {
    const plain = genericLaunchEnvironment(BASE).outputs;
    expect(plain.environmentType).toBe("aws");
    expect(
      await Promise.all([plain.region, plain.destination, plain.buildContextStore, plain.serviceAccountAnnotations, plain.podLabels, plain.identity].map((o) => promiseOf<unknown>(o))),
    ).toEqual(["us-east-1", "registry.example.com/ml/launch", "s3://ctx/build-contexts", {}, {}, "static credentials from Secret s3-creds"]);
    expect(plain.registryAuth).toBeUndefined();
    const auth = { address: "registry.example.com", username: "robot", password: "pw" };
    const withAuth = genericLaunchEnvironment({ ...BASE, registryAuth: auth }).outputs;
    expect(await promiseOf(withAuth.registryAuth!)).toEqual(auth);
    expect(await isSecretOutput(withAuth.registryAuth!)).toBe(true);
  });
});

describe("labelKubernetesObjects (the stack's labels on every Kubernetes object)", () => {
  const args = (type: string, props: Record<string, unknown>) => ({ type, name: "n", props, opts: {} }) as unknown as pulumi.ResourceTransformationArgs;
  const resolved = (props: pulumi.Inputs) => promiseOf(pulumi.output(props));

  it("labels metadata, our labels winning a clash, and the pod template of Deployments", async () => {
    const t = labelKubernetesObjects({ team: "ml", app: "stack" });
    const out = t(args("kubernetes:apps/v1:Deployment", { metadata: { name: "d", labels: { app: "agent" } }, spec: { replicas: 1, template: { metadata: { labels: { pod: "x" } } } } }))!;
    expect(await resolved(out.props)).toEqual({
      metadata: { name: "d", labels: { team: "ml", app: "agent" } },
      spec: { replicas: 1, template: { metadata: { labels: { team: "ml", app: "stack", pod: "x" } } } },
    });
    expect(out.opts).toEqual({});
  });

  it("labels objects without metadata or spec, and leaves the spec of other kinds alone", async () => {
    const t = labelKubernetesObjects({ team: "ml" });
    expect(await resolved(t(args("kubernetes:core/v1:ConfigMap", { data: { a: "b" } }))!.props)).toEqual({ data: { a: "b" }, metadata: { labels: { team: "ml" } } });
    expect(await resolved(t(args("kubernetes:apps/v1:Deployment", { metadata: { name: "d" } }))!.props)).toEqual({ metadata: { name: "d", labels: { team: "ml" } } });
    const job = { template: { metadata: { labels: { pod: "x" } } } };
    expect(await resolved(t(args("kubernetes:batch/v1:Job", { spec: job }))!.props)).toEqual({ spec: job, metadata: { labels: { team: "ml" } } });
  });

  it("touches nothing outside Kubernetes, and nothing at all without labels", () => {
    expect(labelKubernetesObjects({ team: "ml" })(args("aws:s3/bucket:Bucket", { tags: {} }))).toBeUndefined();
    expect(labelKubernetesObjects({ team: "ml" })(args("wandb-launch:kubernetes:LaunchAgent", {}))).toBeUndefined();
    expect(labelKubernetesObjects({})(args("kubernetes:core/v1:ConfigMap", {}))).toBeUndefined();
  });
});
