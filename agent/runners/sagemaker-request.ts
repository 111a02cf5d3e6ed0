import type { CreateTrainingJobRequest } from "@aws-sdk/client-sagemaker";
import { LaunchError } from "../errors.js";
import { validateTrainingJobRequest } from "./sagemaker-validate.js";

/**
 * The CreateTrainingJob request for a run, built from `resource_args.sagemaker` the way the official
 * agent builds it (reference §8.4): top-level snake_case keys camel-cased, the role name made an ARN
 * in the caller's account and partition, the job named after the run, the image and entrypoint in
 * AlgorithmSpecification, the run environment merged under the queue's own, the WandbRunId tag.
 * Pure: the account and partition come from STS, which the runner asks first.
 */

type Obj = Record<string, unknown>;

export interface TrainingJobInput {
  /** `resource_args.sagemaker`, macros already filled. */
  resourceArgs: unknown;
  runId: string;
  /** The built image, or the job's image. */
  image: string | null;
  /** overrides.entry_point, else the job's (or the built image's) entrypoint. */
  entrypoint: readonly string[];
  /** overrides.entry_point only: with a queue-supplied TrainingImage the job's own entrypoint is not forced on it. */
  overrideEntrypoint: readonly string[] | null;
  /** overrides.args (the official agent passes only these). */
  args: readonly string[];
  /** The run environment, already split in 512-character shards. Holds the API key. */
  env: Record<string, string>;
  /** From sts:GetCallerIdentity. */
  account: string;
  partition: string;
}

/** Keys the official agent reads for launch itself and never sends to SageMaker. */
const LAUNCH_ONLY_KEYS = ["EcrRepoName", "region", "profile", "builder"];

/** Python's `str.title()` on each `_`-separated part, as the official agent camel-cases keys (`s3_output_path` → `S3OutputPath`). */
export function toCamelCase(key: string): string {
  if (!key.includes("_")) return key;
  return key
    .split("_")
    .map((part) => (part ? part.toLowerCase().replace(/(^|[^\p{L}])(\p{L})/gu, (_m, before: string, letter: string) => before + letter.toUpperCase()) : "_"))
    .join("");
}

/** `RoleArn` (or `role_arn`): a full ARN in this partition is kept, a bare name becomes `arn:<partition>:iam::<account>:role/<name>`. */
export function roleArnFor(role: string, account: string, partition: string): string {
  if (role.startsWith(`arn:${partition}:iam::`)) return role;
  return `arn:${partition}:iam::${account}:role/${role}`;
}

/** The queue's keys, camel-cased at the top level; CamelCase spellings win over snake_case ones. */
function camelArgs(given: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(given)) if (k.includes("_")) out[toCamelCase(k)] = v;
  for (const [k, v] of Object.entries(given)) if (!k.includes("_")) out[k] = v;
  return out;
}

/**
 * Keys that must be present before anything is built or created (reference §8.4), with the spelling
 * to use. Empty when the queue's args are complete.
 */
export function missingSageMakerKeys(resourceArgs: unknown): string[] {
  if (!isObj(resourceArgs)) return ["resource_args.sagemaker"];
  const args = camelArgs(resourceArgs);
  const missing: string[] = [];
  for (const key of ["RoleArn", "OutputDataConfig", "ResourceConfig", "StoppingCondition"]) {
    if (args[key] === undefined || args[key] === null) missing.push(`resource_args.sagemaker.${key}`);
  }
  return missing;
}

/** Throws a LaunchError (stage agent) naming every missing key. */
export function requireSageMakerKeys(resourceArgs: unknown): void {
  const missing = missingSageMakerKeys(resourceArgs);
  if (missing.length === 0) return;
  if (missing[0] === "resource_args.sagemaker") {
    throw new LaunchError(
      "No sagemaker args specified. Specify sagemaker args in resource_args: the queue config needs a `sagemaker` block with RoleArn, OutputDataConfig, ResourceConfig and StoppingCondition.",
      "agent",
    );
  }
  throw new LaunchError(
    `SageMaker runs need ${missing.join(", ")} in the queue's resource_args (e.g. RoleArn: my-sagemaker-role, OutputDataConfig: {S3OutputPath: s3://bucket/prefix}, ResourceConfig: {InstanceType: ml.m5.xlarge, InstanceCount: 1, VolumeSizeInGB: 10}, StoppingCondition: {MaxRuntimeInSeconds: 3600}).`,
    "agent",
  );
}

/** The request, checked against SageMaker's documented constraints; throws a LaunchError listing every problem. */
export function buildTrainingJobRequest(input: TrainingJobInput): CreateTrainingJobRequest {
  requireSageMakerKeys(input.resourceArgs);
  const given = input.resourceArgs as Obj;
  const args = camelArgs(given);

  const role = args.RoleArn;
  if (typeof role !== "string" || role === "") {
    throw new LaunchError("AWS sagemaker require a string RoleArn: set resource_args.sagemaker.RoleArn to a role name or ARN.", "agent");
  }

  const givenSpec = args.AlgorithmSpecification;
  if (givenSpec !== undefined && givenSpec !== null && !isObj(givenSpec)) {
    throw new LaunchError("resource_args.sagemaker.AlgorithmSpecification must be a mapping (TrainingImage, TrainingInputMode, ...).", "agent");
  }
  // A TrainingImage from the queue wins over the built image; then only an explicit override entrypoint applies.
  const queueImage = isObj(givenSpec) && typeof givenSpec.TrainingImage === "string" && givenSpec.TrainingImage ? givenSpec.TrainingImage : null;
  const image = queueImage ?? input.image;
  const entrypoint = queueImage ? (input.overrideEntrypoint ?? []) : input.entrypoint;
  const spec: Obj = isObj(givenSpec) ? { ...givenSpec } : { TrainingImage: image, TrainingInputMode: "File" };
  if (image) spec.TrainingImage = image;
  if (entrypoint.length > 0) spec.ContainerEntrypoint = [...entrypoint];
  if (input.args.length > 0) spec.ContainerArguments = [...input.args];
  if (!spec.TrainingImage) {
    throw new LaunchError("Failed determine tag for training image: the job has no image. Configure a builder, or set resource_args.sagemaker.AlgorithmSpecification.TrainingImage.", "agent");
  }

  const givenEnv = args.Environment ?? given.environment ?? {};
  if (!isObj(givenEnv)) throw new LaunchError("resource_args.sagemaker.Environment must be a mapping of variable names to values.", "agent");
  const tags = args.Tags ?? given.tags ?? [];
  if (!Array.isArray(tags)) throw new LaunchError("resource_args.sagemaker.Tags must be a list of {Key, Value}.", "agent");

  const request: Obj = {
    ...args,
    OutputDataConfig: args.OutputDataConfig,
    TrainingJobName: typeof args.TrainingJobName === "string" && args.TrainingJobName ? args.TrainingJobName : input.runId,
    AlgorithmSpecification: spec,
    RoleArn: roleArnFor(role, input.account, input.partition),
    // The queue's own variables win over the launch environment, as in the official agent.
    Environment: { ...input.env, ...givenEnv },
    Tags: [...tags, { Key: "WandbRunId", Value: input.runId }],
  };
  for (const key of LAUNCH_ONLY_KEYS) delete request[key];
  delete request.environment;
  delete request.tags;
  for (const [k, v] of Object.entries(request)) if (v === null || v === undefined) delete request[k];

  const problems = validateTrainingJobRequest(request);
  if (problems.length > 0) {
    throw new LaunchError(
      `The SageMaker training job request from resource_args.sagemaker is invalid (SageMaker would reject it):\n- ${problems.join("\n- ")}\nFix the queue's resource_args.sagemaker.`,
      "agent",
    );
  }
  return request as unknown as CreateTrainingJobRequest;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
