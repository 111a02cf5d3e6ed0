import type { CreateTrainingJobRequest } from "@aws-sdk/client-sagemaker";

/**
 * The request validation SageMaker documents for CreateTrainingJob (required members, length limits,
 * patterns, list and map sizes), checked before the request is sent so a bad queue config fails the
 * item with every problem named instead of one opaque ValidationException. The constraints are the
 * service model's; test/unit/runners/sagemaker-validate.test.ts compares them with botocore's copy of
 * that model so they cannot drift silently. Members we do not model in depth are still type-checked
 * as objects or lists. Pure.
 */

export type Rule =
  | { kind: "string"; min?: number; max?: number; pattern?: string; enum?: readonly string[] }
  | { kind: "int"; min?: number; max?: number }
  | { kind: "bool" }
  | { kind: "struct"; members?: Record<string, Rule>; required?: readonly string[] }
  | { kind: "list"; member: Rule; min?: number; max?: number }
  | { kind: "map"; key: Rule; value: Rule; min?: number; max?: number };

const str = (min?: number, max?: number, pattern?: string): Rule => ({
  kind: "string",
  ...(min !== undefined ? { min } : {}),
  ...(max !== undefined ? { max } : {}),
  ...(pattern !== undefined ? { pattern } : {}),
});

const compiled = new Map<string, RegExp>();
/** The service's patterns are whole-value matches; `u` for the \p{...} classes in tag patterns. */
function whole(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) compiled.set(pattern, (re = new RegExp(`^(?:${pattern})$`, "u")));
  return re;
}
const int = (min?: number, max?: number): Rule => ({ kind: "int", ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
const bool: Rule = { kind: "bool" };
const obj = (members?: Record<string, Rule>, required: readonly string[] = []): Rule => ({ kind: "struct", ...(members ? { members } : {}), required });
const list = (member: Rule, min?: number, max?: number): Rule => ({ kind: "list", member, ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) });
const map = (key: Rule, value: Rule, max?: number): Rule => ({ kind: "map", key, value, min: 0, ...(max !== undefined ? { max } : {}) });

const S3_URI = str(0, 1024, "(https|s3)://([^/]+)/?(.*)");
const KMS_KEY = str(0, 2048, "[a-zA-Z0-9:/_-]*");
const TAG_TEXT = "([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)";
const INPUT_MODES = ["Pipe", "File", "FastFile"] as const;

/** Every top-level member of the SDK's own request type: the compiler fails if the SDK adds or drops one. */
export const TRAINING_JOB_MEMBERS = {
  TrainingJobName: str(1, 63, "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"),
  HyperParameters: map(str(0, 256, ".*"), str(0, 2500, ".*"), 100),
  AlgorithmSpecification: obj(
    {
      TrainingImage: str(0, 255, ".*"),
      AlgorithmName: str(1, 170),
      TrainingInputMode: { kind: "string", enum: INPUT_MODES },
      MetricDefinitions: list(obj(undefined, ["Name", "Regex"]), 0, 40),
      EnableSageMakerMetricsTimeSeries: bool,
      ContainerEntrypoint: list(str(0, 256, ".*"), 1, 100),
      ContainerArguments: list(str(0, 256, ".*"), 1, 100),
      TrainingImageConfig: obj(undefined, ["TrainingRepositoryAccessMode"]),
    },
    ["TrainingInputMode"],
  ),
  RoleArn: str(20, 2048, "arn:aws[a-z\\-]*:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"),
  InputDataConfig: list(obj(undefined, ["ChannelName", "DataSource"]), 1, 20),
  OutputDataConfig: obj({ KmsKeyId: KMS_KEY, S3OutputPath: S3_URI, CompressionType: { kind: "string", enum: ["GZIP", "NONE"] } }, ["S3OutputPath"]),
  ResourceConfig: obj({
    InstanceType: str(),
    InstanceCount: int(0),
    VolumeSizeInGB: int(0),
    VolumeKmsKeyId: KMS_KEY,
    KeepAlivePeriodInSeconds: int(0, 21600),
    InstanceGroups: list(obj(undefined, ["InstanceType", "InstanceCount", "InstanceGroupName"]), 0, 5),
    TrainingPlanArn: str(50, 2048),
    InstancePlacementConfig: obj(),
  }),
  VpcConfig: obj(
    { SecurityGroupIds: list(str(0, 32, "[-0-9a-zA-Z]+"), 1, 5), Subnets: list(str(0, 32, "[-0-9a-zA-Z]+"), 1, 16) },
    ["SecurityGroupIds", "Subnets"],
  ),
  StoppingCondition: obj({ MaxRuntimeInSeconds: int(1), MaxWaitTimeInSeconds: int(1), MaxPendingTimeInSeconds: int(7200, 2419200) }),
  Tags: list(obj({ Key: str(1, 128, TAG_TEXT), Value: str(0, 256, TAG_TEXT) }, ["Key", "Value"]), 0, 50),
  EnableNetworkIsolation: bool,
  EnableInterContainerTrafficEncryption: bool,
  EnableManagedSpotTraining: bool,
  CheckpointConfig: obj({ S3Uri: S3_URI, LocalPath: str(0, 4096, ".*") }, ["S3Uri"]),
  DebugHookConfig: obj(undefined, ["S3OutputPath"]),
  DebugRuleConfigurations: list(obj(undefined, ["RuleConfigurationName", "RuleEvaluatorImage"]), 0, 20),
  TensorBoardOutputConfig: obj(undefined, ["S3OutputPath"]),
  ExperimentConfig: obj(),
  ProfilerConfig: obj(),
  ProfilerRuleConfigurations: list(obj(undefined, ["RuleConfigurationName", "RuleEvaluatorImage"]), 0, 20),
  Environment: map(str(0, 512, "[a-zA-Z_][a-zA-Z0-9_]*"), str(0, 512, "[\\S\\s]*"), 100),
  RetryStrategy: obj({ MaximumRetryAttempts: int(1, 30) }, ["MaximumRetryAttempts"]),
  RemoteDebugConfig: obj(),
  InfraCheckConfig: obj(),
  SessionChainingConfig: obj(),
  ServerlessJobConfig: obj(undefined, ["BaseModelArn", "JobType"]),
  MlflowConfig: obj(undefined, ["MlflowResourceArn"]),
  ModelPackageConfig: obj(undefined, ["ModelPackageGroupArn"]),
} satisfies Record<keyof CreateTrainingJobRequest, Rule>;

/** Required by the service, plus ResourceConfig and StoppingCondition, which the official agent requires too. */
export const TRAINING_JOB_REQUIRED = ["TrainingJobName", "RoleArn", "OutputDataConfig", "AlgorithmSpecification", "ResourceConfig", "StoppingCondition"] as const;

export const TRAINING_JOB_RULE: Rule = obj(TRAINING_JOB_MEMBERS, TRAINING_JOB_REQUIRED);

/** Every way `request` breaks the documented constraints, as `path: problem` lines; empty when it is valid. */
export function validateTrainingJobRequest(request: unknown): string[] {
  const problems: string[] = [];
  check(request, TRAINING_JOB_RULE, "", problems);
  return problems;
}

function check(value: unknown, rule: Rule, path: string, out: string[]): void {
  const at = path || "request";
  switch (rule.kind) {
    case "string": {
      if (typeof value !== "string") return void out.push(`${at}: must be a string, got ${describe(value)}`);
      if (rule.min !== undefined && value.length < rule.min) out.push(`${at}: must be at least ${rule.min} characters long`);
      if (rule.max !== undefined && value.length > rule.max) out.push(`${at}: must be at most ${rule.max} characters long (it has ${value.length})`);
      if (rule.pattern !== undefined && !whole(rule.pattern).test(value)) out.push(`${at}: ${JSON.stringify(clip(value))} does not match the pattern ${rule.pattern}`);
      if (rule.enum && !rule.enum.includes(value)) out.push(`${at}: ${JSON.stringify(value)} is not one of ${rule.enum.join(", ")}`);
      return;
    }
    case "int":
      if (typeof value !== "number" || !Number.isInteger(value)) return void out.push(`${at}: must be an integer, got ${describe(value)}`);
      if (rule.min !== undefined && value < rule.min) out.push(`${at}: must be at least ${rule.min} (got ${value})`);
      if (rule.max !== undefined && value > rule.max) out.push(`${at}: must be at most ${rule.max} (got ${value})`);
      return;
    case "bool":
      if (typeof value !== "boolean") out.push(`${at}: must be true or false, got ${describe(value)}`);
      return;
    case "list":
      if (!Array.isArray(value)) return void out.push(`${at}: must be a list, got ${describe(value)}`);
      if (rule.min !== undefined && value.length < rule.min) out.push(`${at}: must have at least ${rule.min} item(s)`);
      if (rule.max !== undefined && value.length > rule.max) out.push(`${at}: must have at most ${rule.max} items (it has ${value.length})`);
      value.forEach((v, i) => check(v, rule.member, `${path}[${i}]`, out));
      return;
    case "map": {
      if (!isRecord(value)) return void out.push(`${at}: must be a mapping, got ${describe(value)}`);
      const entries = Object.entries(value);
      if (rule.max !== undefined && entries.length > rule.max) out.push(`${at}: must have at most ${rule.max} entries (it has ${entries.length})`);
      for (const [k, v] of entries) {
        check(k, rule.key, `${path}{key ${JSON.stringify(clip(k))}}`, out);
        check(v, rule.value, `${path}.${k}`, out);
      }
      return;
    }
    case "struct": {
      if (!isRecord(value)) return void out.push(`${at}: must be a mapping, got ${describe(value)}`);
      for (const name of rule.required ?? []) {
        if (value[name] === undefined || value[name] === null) out.push(`${path ? `${path}.` : ""}${name}: is required`);
      }
      if (!rule.members) return;
      for (const [name, v] of Object.entries(value)) {
        const child = path ? `${path}.${name}` : name;
        const memberRule = rule.members[name];
        if (!memberRule) {
          out.push(`${child}: is not a member SageMaker accepts here; known members: ${Object.keys(rule.members).join(", ")}`);
          continue;
        }
        if (v === undefined || v === null) continue;
        check(v, memberRule, child, out);
      }
      return;
    }
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(clip(String(v)))}`;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
