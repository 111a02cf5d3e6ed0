import type { CloudWatchLogsClient } from "@aws-sdk/client-cloudwatch-logs";
import type { SageMakerClient, TrainingJobStatus } from "@aws-sdk/client-sagemaker";
import type { STSClient } from "@aws-sdk/client-sts";
import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import type { RunOutcome } from "../backend/types.js";
import { AwsEnvironment } from "../environments/aws.js";
import { SAGEMAKER_ENV_SHARD_LIMIT } from "../jobs/run-env.js";
import type { RunSpec } from "../jobs/run-spec.js";
import { checkRunSpecSafety } from "./managed-safety.js";
import { buildTrainingJobRequest, requireSageMakerKeys } from "./sagemaker-request.js";
import { sleep } from "../pipeline.js";
import type { LaunchRequest, RunHandle, Runner } from "./types.js";

/** Where SageMaker writes training logs; one stream per instance, `<job>/algo-<n>-<time>`. */
export const SAGEMAKER_LOG_GROUP = "/aws/sagemaker/TrainingJobs";

export interface SageMakerClients {
  sagemaker: SageMakerClient;
  logs: CloudWatchLogsClient;
  sts: STSClient;
}

export interface SageMakerRunnerOptions {
  config?: Pick<AgentConfig, "environment" | "secure_mode">;
  /** Clients for a region; default the SDK's default credential chain (loaded on first use). */
  clients?: (region: string) => Promise<SageMakerClients> | SageMakerClients;
  /** How often DescribeTrainingJob is asked; default 10 s, the official agent's monitoring tick. */
  pollIntervalMs?: number;
  /** Log lines quoted in a failure message; default 20. */
  logTailLines?: number;
}

/** Our run states for SageMaker's (reference §8.4); null while the job is not over. */
export function sagemakerEnd(status: TrainingJobStatus | string | undefined): "finished" | "failed" | null {
  switch (status) {
    case "Completed":
    case "Stopped": // the official agent reports a stopped training job as finished
      return "finished";
    case "Failed":
      return "failed";
    default: // InProgress, Stopping, Deleting: still going
      return null;
  }
}

async function defaultClients(region: string): Promise<SageMakerClients> {
  // Loaded only when a SageMaker run starts: most agents never need these SDKs.
  const [{ SageMakerClient }, { CloudWatchLogsClient }, { STSClient }] = await Promise.all([
    import("@aws-sdk/client-sagemaker"),
    import("@aws-sdk/client-cloudwatch-logs"),
    import("@aws-sdk/client-sts"),
  ]);
  return { sagemaker: new SageMakerClient({ region }), logs: new CloudWatchLogsClient({ region }), sts: new STSClient({ region }) };
}

interface AwsErrorLike {
  name?: string;
  message?: string;
}

function awsError(err: unknown): string {
  const e = (err ?? {}) as AwsErrorLike;
  return `${e.name ?? "Error"}: ${String(e.message ?? err).split("\n")[0]}`;
}

/**
 * Runs a launch as a SageMaker training job (reference §8.4): CreateTrainingJob from
 * `resource_args.sagemaker`, DescribeTrainingJob until it ends, the last CloudWatch log lines when it
 * fails, StopTrainingJob to cancel.
 */
export class SageMakerRunner implements Runner {
  readonly resource = "sagemaker";
  readonly envShardLimit = SAGEMAKER_ENV_SHARD_LIMIT;

  constructor(private readonly opts: SageMakerRunnerOptions = {}) {}

  check(runSpec: RunSpec): void {
    checkRunSpecSafety(runSpec, this.opts.config?.secure_mode);
    requireSageMakerKeys(runSpec.resource_args?.sagemaker);
    this.region();
  }

  /** The agent's AWS region: environment.region, else AWS_REGION, as the official agent chooses. */
  private region(): string {
    const env = this.opts.config?.environment;
    const region = env?.type === "aws" && env.region ? env.region : process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
    if (!region) {
      throw new LaunchError(
        "SageMaker runs need an AWS region: set environment: {type: aws, region: <region>} in the launch config, or AWS_REGION for the agent.",
        "agent",
      );
    }
    return region;
  }

  async run(req: LaunchRequest): Promise<RunHandle> {
    this.check(req.runSpec);
    const region = this.region();
    const clients = await (this.opts.clients ?? defaultClients)(region);
    const identity = await new AwsEnvironment(region, { sts: clients.sts }).verify();
    if (!identity.account || !identity.partition) {
      throw new LaunchError("sts:GetCallerIdentity returned no account or ARN, so the SageMaker role ARN cannot be formed: set resource_args.sagemaker.RoleArn to a full role ARN.", "agent");
    }
    const request = buildTrainingJobRequest({
      resourceArgs: req.runSpec.resource_args?.sagemaker,
      runId: req.runId,
      image: req.image,
      entrypoint: req.entrypoint,
      overrideEntrypoint: req.runSpec.overrides?.entry_point?.length ? req.runSpec.overrides.entry_point : null,
      args: req.runSpec.overrides?.args ?? [],
      env: req.env,
      account: identity.account,
      partition: identity.partition,
    });
    const name = request.TrainingJobName!;
    const log = req.logger.child({ runId: req.runId, trainingJob: name, region });
    const { CreateTrainingJobCommand, DescribeTrainingJobCommand, StopTrainingJobCommand } = await import("@aws-sdk/client-sagemaker");
    let arn: string | undefined;
    try {
      arn = (await clients.sagemaker.send(new CreateTrainingJobCommand(request))).TrainingJobArn;
    } catch (err) {
      throw new LaunchError(
        `SageMaker refused CreateTrainingJob ${name} in ${region} (${awsError(err)}). The agent needs sagemaker:CreateTrainingJob and iam:PassRole on ${request.RoleArn}; check resource_args.sagemaker.`,
        "run",
        { cause: err },
      );
    }
    if (!arn) throw new LaunchError(`Failed to create training job ${name} when submitting to SageMaker: the answer had no TrainingJobArn`, "run");
    log.info({ arn, console: `https://${region}.console.aws.amazon.com/sagemaker/home?region=${region}#/jobs/${name}` }, "created sagemaker training job");

    const started = Date.now();
    const every = this.opts.pollIntervalMs ?? 10_000;
    let cancelledAs: "stopped" | "interrupted" | null = null;
    let wake = new AbortController();
    const nap = async () => {
      await sleep(every, wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    };
    const poll = async (): Promise<RunOutcome> => {
      for (;;) {
        if (cancelledAs === "interrupted") {
          return { status: "interrupted", message: `the agent shut down; training job ${name} keeps running in SageMaker`, durationMs: Date.now() - started };
        }
        let described;
        try {
          described = await clients.sagemaker.send(new DescribeTrainingJobCommand({ TrainingJobName: name }));
        } catch (err) {
          const e = err as AwsErrorLike;
          if (e.name === "ValidationException" && /could not find/i.test(String(e.message))) {
            return { status: "failed", message: `training job ${name} no longer exists in SageMaker (${awsError(err)})`, durationMs: Date.now() - started };
          }
          // Throttling or a network blip: the official agent logs it and asks again on the next tick.
          log.warn({ err: awsError(err) }, "could not describe the training job; retrying");
          await nap();
          continue;
        }
        const end = sagemakerEnd(described.TrainingJobStatus);
        const durationMs = Date.now() - started;
        // A job that ended on its own before the stop took effect is reported as it ended.
        if (end && cancelledAs === "stopped" && described.TrainingJobStatus === "Stopped") {
          return { status: "stopped", message: `run stopped by the agent (StopTrainingJob ${name})`, durationMs };
        }
        if (end === "finished") return { status: "finished", exitCode: 0, durationMs };
        if (end === "failed") {
          const tail = await this.logTail(clients.logs, name);
          return {
            status: "failed",
            message: `SageMaker training job ${name} failed: ${described.FailureReason ?? "no reason given"}. Logs: CloudWatch ${SAGEMAKER_LOG_GROUP}, streams ${name}/*${tail ? `\nlast output:\n${tail}` : ""}`,
            durationMs,
          };
        }
        await nap();
      }
    };
    const outcome = poll();

    return {
      id: arn,
      wait: () => outcome,
      cancel: async (reason) => {
        if (cancelledAs) return void (await outcome);
        cancelledAs = reason;
        if (reason === "stopped") {
          try {
            await clients.sagemaker.send(new StopTrainingJobCommand({ TrainingJobName: name }));
          } catch (err) {
            // Already over (ValidationException) or not stoppable: the next describe tells how it ended.
            log.warn({ err: awsError(err) }, "StopTrainingJob failed");
          }
        }
        wake.abort();
        await outcome;
      },
    };
  }

  /** The last lines of the job's first log stream, best effort (the official agent attaches them too). */
  private async logTail(logs: CloudWatchLogsClient, name: string): Promise<string> {
    try {
      const { DescribeLogStreamsCommand, GetLogEventsCommand } = await import("@aws-sdk/client-cloudwatch-logs");
      const streams = await logs.send(new DescribeLogStreamsCommand({ logGroupName: SAGEMAKER_LOG_GROUP, logStreamNamePrefix: `${name}/` }));
      const stream = streams.logStreams?.[0]?.logStreamName;
      if (!stream) return "";
      const events = await logs.send(
        new GetLogEventsCommand({ logGroupName: SAGEMAKER_LOG_GROUP, logStreamName: stream, limit: this.opts.logTailLines ?? 20, startFromHead: false }),
      );
      return (events.events ?? []).map((e) => e.message ?? "").join("\n").trimEnd();
    } catch {
      return "";
    }
  }
}
