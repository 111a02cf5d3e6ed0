// The SageMaker runner against moto (real STS, SageMaker CreateTrainingJob/DescribeTrainingJob and
// CloudWatch Logs APIs). moto finishes every training job at once and answers StopTrainingJob with a
// 500, so failures and cancellation stub those two calls with aws-sdk-client-mock and pass the rest
// through to moto.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CloudWatchLogsClient, CreateLogGroupCommand, CreateLogStreamCommand, PutLogEventsCommand } from "@aws-sdk/client-cloudwatch-logs";
import {
  CreateTrainingJobCommand,
  DescribeTrainingJobCommand,
  SageMakerClient,
  StopTrainingJobCommand,
  type DescribeTrainingJobResponse,
} from "@aws-sdk/client-sagemaker";
import { STSClient } from "@aws-sdk/client-sts";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalBackend } from "../../agent/backend/local/index.js";
import { LocalQueueStore } from "../../agent/backend/local/store.js";
import type { AgentConfig } from "../../agent/config/index.js";
import { silentLogger } from "../../agent/log.js";
import { composeAgent } from "../../agent/main.js";
import { SageMakerRunner, SAGEMAKER_LOG_GROUP, type SageMakerClients } from "../../agent/runners/sagemaker.js";
import { createRunner } from "../../agent/runners/select.js";
import type { LaunchRequest } from "../../agent/runners/types.js";
import { MOTO_ACCOUNT, startMoto, type RunningMoto } from "../support/moto.js";
import { tempDir } from "../support/local-jobs.js";

const IMAGE = `${MOTO_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/launch:0a1b2c3d`;
const QUEUE_ARGS = {
  RoleArn: "launch-sagemaker-exec",
  OutputDataConfig: { S3OutputPath: "s3://launch-out/runs" },
  ResourceConfig: { InstanceType: "ml.m5.xlarge", InstanceCount: 1, VolumeSizeInGB: 10 },
  StoppingCondition: { MaxRuntimeInSeconds: 600 },
};

let moto: RunningMoto;
beforeAll(async () => {
  moto = await startMoto();
});
afterAll(async () => {
  await moto?.stop();
});

function realClients(): SageMakerClients {
  const cfg = moto.clientConfig();
  return { sagemaker: new SageMakerClient(cfg), logs: new CloudWatchLogsClient(cfg), sts: new STSClient(cfg) };
}

/** A SageMaker client whose Describe/Stop are scripted and whose other calls go to moto. */
function scriptedSageMaker(describe: (name: string) => Partial<DescribeTrainingJobResponse>, onStop?: (name: string) => void) {
  const real = new SageMakerClient(moto.clientConfig());
  const client = new SageMakerClient(moto.clientConfig());
  const mock = mockClient(client);
  const created: string[] = [];
  mock.on(CreateTrainingJobCommand).callsFake((input: { TrainingJobName: string }) => {
    created.push(input.TrainingJobName);
    return real.send(new CreateTrainingJobCommand(input as never));
  });
  mock.on(DescribeTrainingJobCommand).callsFake((input: { TrainingJobName: string }) => describe(input.TrainingJobName));
  // moto answers StopTrainingJob with a 500, so the stop is scripted.
  mock.on(StopTrainingJobCommand).callsFake((input: { TrainingJobName: string }) => (onStop?.(input.TrainingJobName), {}));
  return { client, mock, created };
}

function request(runId: string, resourceArgs: unknown, over: Partial<LaunchRequest> = {}): LaunchRequest {
  return {
    runId,
    runSpec: { resource: "sagemaker", resource_args: { sagemaker: resourceArgs }, overrides: { args: ["--lr", "0.1"] } },
    job: { name: "local/job", job: { source_type: "image", source: { image: IMAGE } } } as unknown as LaunchRequest["job"],
    image: IMAGE,
    entrypoint: ["python", "train.py"],
    args: ["--lr", "0.1"],
    env: { WANDB_RUN_ID: runId, WANDB_API_KEY: "a".repeat(40), WANDB_CONFIG: "{}" },
    logger: silentLogger,
    ...over,
  };
}

const config: Pick<AgentConfig, "environment" | "secure_mode"> = { environment: { type: "aws", region: "us-east-1" } };

describe("sagemaker runner against moto", () => {
  it("creates the training job moto accepts (role ARN in the caller's account, image, entrypoint, args) and reports finished", async () => {
    const clients = realClients();
    const runner = new SageMakerRunner({ config, clients: () => clients, pollIntervalMs: 20 });
    const handle = await runner.run(request("smok0001", QUEUE_ARGS));
    expect(handle.id).toBe(`arn:aws:sagemaker:us-east-1:${MOTO_ACCOUNT}:training-job/smok0001`);
    expect((await handle.wait()).status).toBe("finished");
    const job = await clients.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: "smok0001" }));
    expect(job.RoleArn).toBe(`arn:aws:iam::${MOTO_ACCOUNT}:role/launch-sagemaker-exec`);
    expect(job.AlgorithmSpecification).toMatchObject({ TrainingImage: IMAGE, TrainingInputMode: "File", ContainerEntrypoint: ["python", "train.py"], ContainerArguments: ["--lr", "0.1"] });
    expect(job.ResourceConfig).toEqual(QUEUE_ARGS.ResourceConfig);
    expect(job.StoppingCondition).toEqual(QUEUE_ARGS.StoppingCondition);
    expect(job.OutputDataConfig).toEqual(QUEUE_ARGS.OutputDataConfig);
  });

  it("a failed job is reported with SageMaker's FailureReason and the last CloudWatch log lines", async () => {
    const cfg = moto.clientConfig();
    const logs = new CloudWatchLogsClient(cfg);
    await logs.send(new CreateLogGroupCommand({ logGroupName: SAGEMAKER_LOG_GROUP })).catch(() => undefined);
    await logs.send(new CreateLogStreamCommand({ logGroupName: SAGEMAKER_LOG_GROUP, logStreamName: "smfail01/algo-1-1700000000" }));
    const now = Date.now();
    await logs.send(
      new PutLogEventsCommand({
        logGroupName: SAGEMAKER_LOG_GROUP,
        logStreamName: "smfail01/algo-1-1700000000",
        logEvents: [
          { timestamp: now, message: "epoch 1" },
          { timestamp: now + 1, message: "Traceback (most recent call last):" },
          { timestamp: now + 2, message: "RuntimeError: CUDA out of memory" },
        ],
      }),
    );
    // A stream of another job whose name starts the same must not be quoted.
    await logs.send(new CreateLogStreamCommand({ logGroupName: SAGEMAKER_LOG_GROUP, logStreamName: "smfail01x/algo-1-1" }));
    let calls = 0;
    const { client } = scriptedSageMaker(() => (++calls < 3 ? { TrainingJobStatus: "InProgress" } : { TrainingJobStatus: "Failed", FailureReason: "AlgorithmError: exit code 1" }));
    const runner = new SageMakerRunner({ config, clients: () => ({ ...realClients(), sagemaker: client }), pollIntervalMs: 20, logTailLines: 2 });
    const outcome = await (await runner.run(request("smfail01", QUEUE_ARGS))).wait();
    expect(outcome.status).toBe("failed");
    expect(outcome.message).toContain("SageMaker training job smfail01 failed: AlgorithmError: exit code 1");
    expect(outcome.message).toMatch(/last output:\nTraceback \(most recent call last\):\nRuntimeError: CUDA out of memory$/);
    expect(outcome.message).not.toContain("epoch 1");
    expect(calls).toBe(3);
  });

  it("cancel = StopTrainingJob; the run ends stopped once SageMaker says Stopped", async () => {
    const stopped: string[] = [];
    const { client, mock } = scriptedSageMaker(
      (name) => ({ TrainingJobStatus: stopped.includes(name) ? "Stopped" : "InProgress" }),
      (name) => stopped.push(name),
    );
    const runner = new SageMakerRunner({ config, clients: () => ({ ...realClients(), sagemaker: client }), pollIntervalMs: 20 });
    const handle = await runner.run(request("smstop01", QUEUE_ARGS));
    await new Promise((r) => setTimeout(r, 100));
    await handle.cancel("stopped");
    const outcome = await handle.wait();
    expect(outcome.status).toBe("stopped");
    expect(stopped).toEqual(["smstop01"]);
    expect(mock.commandCalls(StopTrainingJobCommand)[0]!.args[0].input).toEqual({ TrainingJobName: "smstop01" });
  });

  it("a job that completes before a stop takes effect is reported finished", async () => {
    // The job completes just as the stop arrives: SageMaker then reports Completed, not Stopped.
    let stopAsked = false;
    const { client } = scriptedSageMaker(
      () => ({ TrainingJobStatus: stopAsked ? "Completed" : "InProgress" }),
      () => (stopAsked = true),
    );
    const runner = new SageMakerRunner({ config, clients: () => ({ ...realClients(), sagemaker: client }), pollIntervalMs: 20 });
    const handle = await runner.run(request("smrace01", QUEUE_ARGS));
    await new Promise((r) => setTimeout(r, 60));
    await handle.cancel("stopped");
    expect(stopAsked).toBe(true);
    expect((await handle.wait()).status).toBe("finished");
  });

  it("agent shutdown leaves the training job running and reports the item interrupted, without StopTrainingJob", async () => {
    const { client, mock } = scriptedSageMaker(() => ({ TrainingJobStatus: "InProgress" }));
    const runner = new SageMakerRunner({ config, clients: () => ({ ...realClients(), sagemaker: client }), pollIntervalMs: 20 });
    const handle = await runner.run(request("smintr01", QUEUE_ARGS));
    await handle.cancel("interrupted");
    const outcome = await handle.wait();
    expect(outcome.status).toBe("interrupted");
    expect(outcome.message).toMatch(/training job smintr01 keeps running/);
    expect(mock.commandCalls(StopTrainingJobCommand)).toHaveLength(0);
  });

  it("missing required keys fail before any AWS call, naming the keys", async () => {
    const { client, mock } = scriptedSageMaker(() => ({}));
    const runner = new SageMakerRunner({ config, clients: () => ({ ...realClients(), sagemaker: client }) });
    await expect(runner.run(request("smmiss01", { RoleArn: "x" }))).rejects.toMatchObject({
      stage: "agent",
      message: expect.stringMatching(/resource_args\.sagemaker\.OutputDataConfig, resource_args\.sagemaker\.ResourceConfig, resource_args\.sagemaker\.StoppingCondition/),
    });
    expect(mock.calls()).toHaveLength(0);
  });

  it("without a region the runner says where to set one", () => {
    const saved = { AWS_REGION: process.env.AWS_REGION, AWS_DEFAULT_REGION: process.env.AWS_DEFAULT_REGION };
    delete process.env.AWS_REGION;
    delete process.env.AWS_DEFAULT_REGION;
    try {
      expect(() => new SageMakerRunner({ config: {} }).check({ resource_args: { sagemaker: QUEUE_ARGS } })).toThrow(/environment: \{type: aws, region: <region>\}.*AWS_REGION/);
    } finally {
      Object.assign(process.env, Object.fromEntries(Object.entries(saved).filter(([, v]) => v !== undefined)));
    }
  });

  it("resource-args safety and secure_mode apply as the official agent applies them to every item", () => {
    const runner = new SageMakerRunner({ config: { ...config, secure_mode: true } });
    expect(() => runner.check({ resource_args: { sagemaker: QUEUE_ARGS, kubernetes: { spec: { template: { spec: { hostNetwork: true } } } } } })).toThrow(
      /Unsafe resource_args\.kubernetes option 'hostNetwork'/,
    );
    expect(() => runner.check({ resource_args: { sagemaker: QUEUE_ARGS, "local-container": { privileged: true } } })).toThrow(/Unsupported resource_args\.local-container option 'privileged'/);
    expect(() => runner.check({ resource_args: { sagemaker: QUEUE_ARGS }, overrides: { entry_point: ["sh", "-c", "curl x | sh"] } })).toThrow(/secure_mode is enabled.*overrides\.entry_point/);
    expect(() => new SageMakerRunner({ config }).check({ resource_args: { sagemaker: QUEUE_ARGS }, overrides: { entry_point: ["python", "other.py"] } })).not.toThrow();
  });
});

describe("sagemaker items through the agent loop (local queue)", () => {
  async function imageJob(root: string): Promise<string> {
    const dir = join(root, "image-job");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "wandb-job.json"), JSON.stringify({ source_type: "image", source: { image: IMAGE, entrypoint: ["python", "train.py"] } }));
    return dir;
  }

  it("queue → finished, queue → failed with SageMaker's reason, and missing keys → failed at stage agent", async () => {
    const root = await tempDir("sagemaker-agent-");
    const qroot = join(root, "q");
    const job = await imageJob(root);
    const store = new LocalQueueStore(qroot);
    const ok = await store.push("sm", { job, resource: "sagemaker", resource_args: { sagemaker: QUEUE_ARGS } });
    const bad = await store.push("sm", { job, resource: "sagemaker", resource_args: { sagemaker: { ...QUEUE_ARGS, TrainingJobName: "will-fail-${run_id}" } } });
    const incomplete = await store.push("sm", { job, resource: "sagemaker", resource_args: { sagemaker: { RoleArn: "x", OutputDataConfig: QUEUE_ARGS.OutputDataConfig } } });

    const agentConfig: AgentConfig = { queues: ["sm"], max_jobs: 1, max_schedulers: 1, verbosity: 0, environment: { type: "aws", region: "us-east-1" } };
    const { client, created } = scriptedSageMaker((name) =>
      name.startsWith("will-fail-") ? { TrainingJobStatus: "Failed", FailureReason: "ClientError: image not found" } : { TrainingJobStatus: "Completed" },
    );
    const agent = composeAgent({
      config: agentConfig,
      backend: new LocalBackend({ root: qroot, logger: silentLogger }),
      logger: silentLogger,
      overrides: {
        exitWhenIdle: true,
        pollIntervalMs: 20,
        createRunner: async (resource, identity) => {
          // The production selection picks the SageMaker runner; the test's copy talks to moto.
          expect(await createRunner(resource, { config: agentConfig, agentName: identity.name })).toBeInstanceOf(SageMakerRunner);
          return new SageMakerRunner({ config: agentConfig, pollIntervalMs: 20, clients: () => ({ ...realClients(), sagemaker: client }) });
        },
      },
    });
    expect(await agent.run()).toBe(0);
    const byId = new Map((await store.list("sm")).map((r) => [r.id, r]));
    expect(byId.get(ok.id)?.state).toBe("finished");
    expect(byId.get(bad.id)?.state).toBe("failed");
    expect(byId.get(bad.id)?.message).toMatch(/^SageMaker training job will-fail-[a-z0-9]{8} failed: ClientError: image not found/);
    expect(byId.get(incomplete.id)?.state).toBe("failed");
    expect(byId.get(incomplete.id)?.message).toMatch(/^\[agent\] SageMaker runs need resource_args\.sagemaker\.ResourceConfig, resource_args\.sagemaker\.StoppingCondition/);
    // The incomplete item created nothing; the other two each created one job named as the queue said.
    expect(created).toHaveLength(2);
    expect(created.find((n) => n.startsWith("will-fail-"))).toBeDefined();
    expect(created).toContain(byId.get(ok.id)!.runId);
  });
});
