// What the agent's `sagemaker` runner needs in AWS, opt-in: an execution role SageMaker assumes for the
// training jobs, and the grants on the agent's own role to create, watch and stop those jobs, pass exactly
// that role to SageMaker, and read the jobs' logs. Pure documents here (tested with the IAM simulator);
// `sageMakerAccess` creates them.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { PolicyDocument } from "./policy.js";

/** CloudWatch Logs group SageMaker writes training logs to. */
export const SAGEMAKER_TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs";
/** Where the execution role may write job output in the environment's bucket (the generated queue config uses it). */
export const SAGEMAKER_OUTPUT_PREFIX = "sagemaker-output";

export interface SageMakerScope {
  partition: string;
  region: string;
  account: string;
}

const trainingJobs = (s: SageMakerScope) => `arn:${s.partition}:sagemaker:${s.region}:${s.account}:training-job/*`;
const logGroup = (s: SageMakerScope) => `arn:${s.partition}:logs:${s.region}:${s.account}:log-group:${SAGEMAKER_TRAINING_LOG_GROUP}`;

/**
 * Added to the agent's role: create, describe and stop training jobs in this account and region (job names are
 * run ids, so they cannot be narrowed further), tag them at creation (CreateTrainingJob with Tags is also
 * authorised as sagemaker:AddTags), pass only the execution role and only to SageMaker, and read the jobs' logs.
 * CreateTrainingJob checks iam:PassRole on the request's RoleArn, so the agent cannot start a job that runs as
 * any other role.
 */
export function sageMakerAgentPolicyDocument(s: SageMakerScope & { executionRoleArn: string }): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "LaunchTrainingJobs",
        Effect: "Allow",
        Action: ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags"],
        Resource: trainingJobs(s),
      },
      {
        Sid: "PassOnlyTheExecutionRoleToSageMaker",
        Effect: "Allow",
        Action: "iam:PassRole",
        Resource: s.executionRoleArn,
        Condition: { StringEquals: { "iam:PassedToService": "sagemaker.amazonaws.com" } },
      },
      {
        Sid: "ReadTrainingJobLogs",
        Effect: "Allow",
        Action: ["logs:DescribeLogStreams", "logs:GetLogEvents"],
        Resource: [logGroup(s), `${logGroup(s)}:log-stream:*`],
      },
    ],
  };
}

/** Only SageMaker, on behalf of this account, can assume the execution role (confused-deputy guard). */
export function sageMakerExecutionTrustPolicy(account: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "SageMakerTrainingJobs",
        Effect: "Allow",
        Principal: { Service: "sagemaker.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": account } },
      },
    ],
  };
}

/**
 * What a training job itself does: pull its image from the environment's repository, write its logs and
 * metrics, and write its output under `s3://<bucket>/sagemaker-output/`.
 */
export function sageMakerExecutionPolicyDocument(s: SageMakerScope & { repositoryArn: string; bucketArn: string }): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "PullRunImages", Effect: "Allow", Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"], Resource: s.repositoryArn },
      { Sid: "RegistryLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
      {
        Sid: "WriteTrainingLogs",
        Effect: "Allow",
        Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        Resource: [logGroup(s), `${logGroup(s)}:log-stream:*`],
      },
      // PutMetricData has no resource type; the namespace condition keeps it to SageMaker's metrics.
      { Sid: "TrainingMetrics", Effect: "Allow", Action: "cloudwatch:PutMetricData", Resource: "*", Condition: { StringLike: { "cloudwatch:namespace": "/aws/sagemaker/*" } } },
      { Sid: "ListOutputBucket", Effect: "Allow", Action: "s3:ListBucket", Resource: s.bucketArn, Condition: { StringLike: { "s3:prefix": `${SAGEMAKER_OUTPUT_PREFIX}/*` } } },
      { Sid: "WriteJobOutput", Effect: "Allow", Action: ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"], Resource: `${s.bucketArn}/${SAGEMAKER_OUTPUT_PREFIX}/*` },
    ],
  };
}

export interface SageMakerAccessArgs {
  /** The agent's IRSA role (name or id), which gets the agent policy. */
  agentRoleId: pulumi.Input<string>;
  repositoryArn: pulumi.Input<string>;
  bucketArn: pulumi.Input<string>;
  bucketName: pulumi.Input<string>;
  scope: pulumi.Input<SageMakerScope>;
  tags?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export interface SageMakerAccess {
  executionRole: aws.iam.Role;
  /** The execution role's ARN once both policies are in place. */
  executionRoleArn: pulumi.Output<string>;
  /** `s3://<bucket>/sagemaker-output`, for OutputDataConfig.S3OutputPath. */
  outputPath: pulumi.Output<string>;
}

/** Creates the execution role and its policy, and the agent's SageMaker policy, under `parent`. */
export function sageMakerAccess(name: string, args: SageMakerAccessArgs, parent: pulumi.Resource): SageMakerAccess {
  const opts = { parent };
  const scope = pulumi.output(args.scope);
  const executionRole = new aws.iam.Role(
    `${name}-sagemaker-exec`,
    {
      description: "SageMaker training jobs launched by the W&B launch agent: pull run images, write logs and output",
      assumeRolePolicy: scope.apply((s) => JSON.stringify(sageMakerExecutionTrustPolicy(s.account))),
      tags: args.tags,
    },
    opts,
  );
  const execPolicy = new aws.iam.RolePolicy(
    `${name}-sagemaker-exec-policy`,
    {
      role: executionRole.id,
      policy: pulumi
        .all([scope, args.repositoryArn, args.bucketArn])
        .apply(([s, repositoryArn, bucketArn]) => JSON.stringify(sageMakerExecutionPolicyDocument({ ...s, repositoryArn, bucketArn }))),
    },
    opts,
  );
  const agentPolicy = new aws.iam.RolePolicy(
    `${name}-agent-sagemaker-policy`,
    {
      role: args.agentRoleId,
      policy: pulumi.all([scope, executionRole.arn]).apply(([s, executionRoleArn]) => JSON.stringify(sageMakerAgentPolicyDocument({ ...s, executionRoleArn }))),
    },
    opts,
  );
  return {
    executionRole,
    executionRoleArn: pulumi.all([executionRole.arn, execPolicy.id, agentPolicy.id]).apply(([arn]) => arn),
    outputPath: pulumi.interpolate`s3://${args.bucketName}/${SAGEMAKER_OUTPUT_PREFIX}`,
  };
}
