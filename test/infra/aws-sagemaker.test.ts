import { runSimulation } from "@cloud-copilot/iam-simulate";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { agentPolicyDocument, type PolicyDocument } from "../../components/aws/policy.js";
import {
  SAGEMAKER_OUTPUT_PREFIX,
  sageMakerAgentPolicyDocument,
  sageMakerExecutionPolicyDocument,
  sageMakerExecutionTrustPolicy,
} from "../../components/aws/sagemaker.js";
import { queueConfigComment } from "../../components/launch-config.js";
import { sageMakerQueueConfig } from "../../components/queue-configs.js";
import { buildTrainingJobRequest } from "../../agent/runners/sagemaker-request.js";
import { installMocks, type MockRecorder, promiseOf, settle } from "./mocks.js";

const ACCOUNT = "123456789012";
const REGION = "us-west-2";
const SCOPE = { partition: "aws", region: REGION, account: ACCOUNT };
const AGENT = `arn:aws:iam::${ACCOUNT}:role/launch-agent`;
const EXEC = `arn:aws:iam::${ACCOUNT}:role/launch-sagemaker-exec`;
const OTHER = `arn:aws:iam::${ACCOUNT}:role/admin`;
const REPO = `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/launch`;
const BUCKET = "arn:aws:s3:::launch-contexts";
const JOB = `arn:aws:sagemaker:${REGION}:${ACCOUNT}:training-job/a1b2c3d4`;
const LOG_GROUP = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs`;

// The agent's whole identity with SageMaker on: the environment's base policy plus the SageMaker one. Built per
// call (not at load) so mutation testing credits the tests that check it.
const agentPolicies = () => [
  { name: "base", policy: agentPolicyDocument({ repositoryArn: REPO, bucketArn: BUCKET }) },
  { name: "sagemaker", policy: sageMakerAgentPolicyDocument({ ...SCOPE, executionRoleArn: EXEC }) },
];

async function simulate(
  policies: Array<{ name: string; policy: PolicyDocument }>,
  principal: string,
  action: string,
  resource: string,
  context: Record<string, string> = {},
): Promise<string> {
  const res = await runSimulation(
    {
      identityPolicies: policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: { action, principal, resource: { resource, accountId: ACCOUNT }, contextVariables: context },
    },
    {},
  );
  if (res.resultType === "error") throw new Error(`${action} on ${resource}: ${JSON.stringify(res.errors)}`);
  return res.overallResult;
}
const asAgent = (action: string, resource: string, context: Record<string, string> = {}) => simulate(agentPolicies(), AGENT, action, resource, context);

/**
 * CreateTrainingJob is authorised twice: sagemaker:CreateTrainingJob on the job, and iam:PassRole on the request's
 * RoleArn with iam:PassedToService = sagemaker.amazonaws.com. Both must allow for the job to be created.
 */
async function canCreateTrainingJobRunningAs(roleArn: string): Promise<boolean> {
  const create = await asAgent("sagemaker:CreateTrainingJob", JOB);
  const pass = await asAgent("iam:PassRole", roleArn, { "iam:PassedToService": "sagemaker.amazonaws.com" });
  return create === "Allowed" && pass === "Allowed";
}

describe("the agent's SageMaker grants (IAM simulation)", () => {
  it("can create, describe, stop and tag its training jobs, and read their logs", async () => {
    for (const action of ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"]) {
      expect(await asAgent(action, JOB), action).toBe("Allowed");
    }
    expect(await asAgent("logs:DescribeLogStreams", LOG_GROUP)).toBe("Allowed");
    expect(await asAgent("logs:GetLogEvents", `${LOG_GROUP}:log-stream:a1b2c3d4/algo-1-1700000000`)).toBe("Allowed");
  });

  it("can start jobs that run as the execution role, and as no other role", async () => {
    expect(await canCreateTrainingJobRunningAs(EXEC)).toBe(true);
    expect(await canCreateTrainingJobRunningAs(OTHER)).toBe(false);
    expect(await canCreateTrainingJobRunningAs(AGENT)).toBe(false);
    expect(await asAgent("iam:PassRole", OTHER, { "iam:PassedToService": "sagemaker.amazonaws.com" })).toBe("ImplicitlyDenied");
  });

  it("can pass the execution role only to SageMaker", async () => {
    expect(await asAgent("iam:PassRole", EXEC, { "iam:PassedToService": "sagemaker.amazonaws.com" })).toBe("Allowed");
    for (const service of ["ec2.amazonaws.com", "lambda.amazonaws.com", "ecs-tasks.amazonaws.com"]) {
      expect(await asAgent("iam:PassRole", EXEC, { "iam:PassedToService": service }), service).toBe("ImplicitlyDenied");
    }
    expect(await asAgent("iam:PassRole", EXEC)).toBe("ImplicitlyDenied");
  });

  it("reaches nothing else in SageMaker, IAM or CloudWatch Logs", async () => {
    const denied: Array<[string, string, Record<string, string>?]> = [
      ["sagemaker:CreateTrainingJob", `arn:aws:sagemaker:eu-west-1:${ACCOUNT}:training-job/x`],
      ["sagemaker:CreateTrainingJob", `arn:aws:sagemaker:${REGION}:999999999999:training-job/x`],
      ["sagemaker:CreateEndpoint", `arn:aws:sagemaker:${REGION}:${ACCOUNT}:endpoint/x`],
      ["sagemaker:CreateProcessingJob", `arn:aws:sagemaker:${REGION}:${ACCOUNT}:processing-job/x`],
      ["sagemaker:DeleteModel", `arn:aws:sagemaker:${REGION}:${ACCOUNT}:model/x`],
      ["iam:CreateRole", OTHER],
      ["iam:AttachRolePolicy", EXEC],
      ["iam:PutRolePolicy", EXEC],
      ["logs:GetLogEvents", `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/other:log-stream:x`],
      ["logs:DeleteLogGroup", LOG_GROUP],
    ];
    for (const [action, resource, ctx] of denied) expect(await asAgent(action, resource, ctx), `${action} ${resource}`).toBe("ImplicitlyDenied");
  });
});

describe("the SageMaker execution role", () => {
  const exec = () => [{ name: "exec", policy: sageMakerExecutionPolicyDocument({ ...SCOPE, repositoryArn: REPO, bucketArn: BUCKET }) }];
  const asJob = (action: string, resource: string, ctx: Record<string, string> = {}) => simulate(exec(), EXEC, action, resource, ctx);

  it("only SageMaker, for this account, can assume it", () => {
    expect(sageMakerExecutionTrustPolicy(ACCOUNT)).toEqual({
      Version: "2012-10-17",
      Statement: [
        {
          Sid: "SageMakerTrainingJobs",
          Effect: "Allow",
          Principal: { Service: "sagemaker.amazonaws.com" },
          Action: "sts:AssumeRole",
          Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT } },
        },
      ],
    });
  });

  it("pulls run images, writes logs and output under sagemaker-output/, and nothing else", async () => {
    expect(await asJob("ecr:BatchGetImage", REPO)).toBe("Allowed");
    expect(await asJob("ecr:GetDownloadUrlForLayer", REPO)).toBe("Allowed");
    expect(await asJob("ecr:GetAuthorizationToken", "*")).toBe("Allowed");
    expect(await asJob("logs:PutLogEvents", `${LOG_GROUP}:log-stream:a/algo-1`)).toBe("Allowed");
    expect(await asJob("s3:PutObject", `${BUCKET}/${SAGEMAKER_OUTPUT_PREFIX}/a1b2c3d4/output/model.tar.gz`)).toBe("Allowed");
    expect(await asJob("cloudwatch:PutMetricData", "*", { "cloudwatch:namespace": "/aws/sagemaker/TrainingJobs" })).toBe("Allowed");
    expect(await asJob("ecr:PutImage", REPO)).toBe("ImplicitlyDenied");
    expect(await asJob("s3:PutObject", `${BUCKET}/build-contexts/ctx.tgz`)).toBe("ImplicitlyDenied");
    expect(await asJob("s3:GetObject", `${BUCKET}/build-contexts/ctx.tgz`)).toBe("ImplicitlyDenied");
    expect(await asJob("s3:PutObject", "arn:aws:s3:::other-bucket/x")).toBe("ImplicitlyDenied");
    expect(await asJob("cloudwatch:PutMetricData", "*", { "cloudwatch:namespace": "Custom/Other" })).toBe("ImplicitlyDenied");
    expect(await asJob("iam:PassRole", OTHER)).toBe("ImplicitlyDenied");
  });
});

describe("the generated sagemaker queue config", () => {
  it("is a request the agent accepts, and renders as launch-config comments", () => {
    const queue = sageMakerQueueConfig({ executionRoleArn: EXEC, outputPath: `s3://launch-contexts/${SAGEMAKER_OUTPUT_PREFIX}` });
    const req = buildTrainingJobRequest({
      resourceArgs: queue.sagemaker,
      runId: "a1b2c3d4",
      image: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/launch:abc`,
      entrypoint: ["python", "train.py"],
      overrideEntrypoint: null,
      args: [],
      env: { WANDB_RUN_ID: "a1b2c3d4" },
      account: ACCOUNT,
      partition: "aws",
    });
    expect(req.RoleArn).toBe(EXEC);
    expect(req.OutputDataConfig).toEqual({ S3OutputPath: "s3://launch-contexts/sagemaker-output" });
    // A small default: one ml.m5.xlarge with 10 GB, stopped after an hour.
    expect(req.ResourceConfig).toEqual({ InstanceType: "ml.m5.xlarge", InstanceCount: 1, VolumeSizeInGB: 10 });
    expect(req.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 3600 });
    const comment = queueConfigComment(queue);
    expect(comment.split("\n")[0]).toBe("# Queue config for resource sagemaker (paste into the queue's config in the W&B UI):");
    expect(comment).toContain(`#     RoleArn: ${EXEC}`);
    expect(comment.trimEnd().split("\n").every((l) => l.startsWith("#"))).toBe(true);
  });
});

describe("AwsLaunchEnvironment with sagemaker: true (Pulumi mocks)", () => {
  let mocks: MockRecorder;
  let AwsLaunchEnvironment: typeof import("../../components/aws/index.js").AwsLaunchEnvironment;
  beforeAll(async () => {
    mocks = await installMocks({ cloud: { awsRegion: "eu-central-1" } });
    ({ AwsLaunchEnvironment } = await import("../../components/aws/index.js"));
  });
  beforeEach(() => mocks.clear());
  const make = (extra: Record<string, unknown> = {}) =>
    new AwsLaunchEnvironment("launch", {
      oidcIssuerUrl: "https://oidc.eks.eu-central-1.amazonaws.com/id/0123ABC",
      namespace: "wandb",
      serviceAccountName: "launch-agent",
      repositoryName: "launch-images",
      bucketName: "acme-launch-contexts",
      ...extra,
    });

  it("off by default: no execution role, no SageMaker grant, no queue config", async () => {
    const env = make();
    await promiseOf(env.outputs.identity);
    await settle();
    expect(env.queueConfig).toBeUndefined();
    expect(mocks.byType("aws:iam/role:Role")).toHaveLength(1);
    expect(mocks.byType("aws:iam/rolePolicy:RolePolicy")).toHaveLength(1);
  });

  it("creates the execution role and attaches the SageMaker policy to the agent's role, passing exactly that role", async () => {
    const env = make({ sagemaker: true });
    const queue = await promiseOf(env.queueConfig!);
    await settle();
    const exec = mocks.one("aws:iam/role:Role", "sagemaker-exec");
    const agent = mocks.one("aws:iam/role:Role", "launch-agent");
    expect(JSON.parse(String(exec.inputs.assumeRolePolicy))).toEqual(sageMakerExecutionTrustPolicy(ACCOUNT));
    const agentSm = mocks.one("aws:iam/rolePolicy:RolePolicy", "agent-sagemaker-policy");
    expect(agentSm.inputs.role).toBe(agent.id);
    const execArn = `arn:aws:iam::${ACCOUNT}:role/${String(exec.state.name)}`;
    expect(JSON.parse(String(agentSm.inputs.policy))).toEqual(sageMakerAgentPolicyDocument({ partition: "aws", region: "eu-central-1", account: ACCOUNT, executionRoleArn: execArn }));
    const execPolicy = mocks.one("aws:iam/rolePolicy:RolePolicy", "sagemaker-exec-policy");
    expect(execPolicy.inputs.role).toBe(exec.id);
    expect(JSON.parse(String(execPolicy.inputs.policy))).toEqual(
      sageMakerExecutionPolicyDocument({
        partition: "aws",
        region: "eu-central-1",
        account: ACCOUNT,
        repositoryArn: `arn:aws:ecr:eu-central-1:${ACCOUNT}:repository/launch-images`,
        bucketArn: "arn:aws:s3:::acme-launch-contexts",
      }),
    );
    expect(queue).toEqual(sageMakerQueueConfig({ executionRoleArn: execArn, outputPath: "s3://acme-launch-contexts/sagemaker-output" }));
  });
});
