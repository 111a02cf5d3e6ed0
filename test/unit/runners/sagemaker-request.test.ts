import { execFileSync } from "node:child_process";
import type { CreateTrainingJobRequest } from "@aws-sdk/client-sagemaker";
import { describe, expect, it } from "vitest";
import { LaunchError } from "../../../agent/errors.js";
import { buildRunEnv, SAGEMAKER_ENV_SHARD_LIMIT } from "../../../agent/jobs/run-env.js";
import { buildTrainingJobRequest, missingSageMakerKeys, roleArnFor, toCamelCase, type TrainingJobInput } from "../../../agent/runners/sagemaker-request.js";
import { TRAINING_JOB_MEMBERS, validateTrainingJobRequest, type Rule } from "../../../agent/runners/sagemaker-validate.js";

const IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/launch:3f2a9c1b";
const REQUIRED = {
  OutputDataConfig: { S3OutputPath: "s3://launch-out/runs" },
  ResourceConfig: { InstanceType: "ml.m5.xlarge" as const, InstanceCount: 1, VolumeSizeInGB: 10 },
  StoppingCondition: { MaxRuntimeInSeconds: 3600 },
};
const ENV = { WANDB_PROJECT: "proj", WANDB_RUN_ID: "r1x2y3z4", WANDB_API_KEY: "k".repeat(40) };

function input(over: Partial<TrainingJobInput> = {}): TrainingJobInput {
  return {
    resourceArgs: { RoleArn: "launch-sagemaker", ...REQUIRED },
    runId: "r1x2y3z4",
    image: IMAGE,
    entrypoint: ["python", "train.py"],
    overrideEntrypoint: null,
    args: [],
    env: ENV,
    account: "123456789012",
    partition: "aws",
    ...over,
  };
}

describe("CreateTrainingJob request (what the official agent sends for the same inputs)", () => {
  it("minimal queue args: role name → ARN, job named after the run, built image with File mode, entrypoint, run env, WandbRunId tag", () => {
    const expected: CreateTrainingJobRequest = {
      ...REQUIRED,
      TrainingJobName: "r1x2y3z4",
      AlgorithmSpecification: { TrainingImage: IMAGE, TrainingInputMode: "File", ContainerEntrypoint: ["python", "train.py"] },
      RoleArn: "arn:aws:iam::123456789012:role/launch-sagemaker",
      Environment: ENV,
      Tags: [{ Key: "WandbRunId", Value: "r1x2y3z4" }],
    };
    expect(buildTrainingJobRequest(input())).toEqual(expected);
  });

  it("snake_case top-level keys are camel-cased the way Python's str.title() does; nested keys are left alone", () => {
    expect(toCamelCase("s3_output_path")).toBe("S3OutputPath");
    expect(toCamelCase("enable_network_isolation")).toBe("EnableNetworkIsolation");
    expect(toCamelCase("role_arn")).toBe("RoleArn");
    expect(toCamelCase("vpc_config")).toBe("VpcConfig");
    expect(toCamelCase("abc1def_x")).toBe("Abc1DefX"); // title() capitalises after digits
    expect(toCamelCase("ROLE_ARN")).toBe("RoleArn");
    expect(toCamelCase("a__b")).toBe("A_B");
    expect(toCamelCase("Environment")).toBe("Environment");
    const req = buildTrainingJobRequest(
      input({
        resourceArgs: {
          role_arn: "arn:aws-cn:iam::999999999999:role/other",
          output_data_config: { S3OutputPath: "s3://b/o" },
          resource_config: { InstanceType: "ml.g5.xlarge", InstanceCount: 2, VolumeSizeInGB: 50 },
          stopping_condition: { MaxRuntimeInSeconds: 60 },
          enable_network_isolation: true,
          hyper_parameters: { lr: "0.1" },
        },
        partition: "aws-cn",
        args: ["--epochs", "3"],
      }),
    );
    expect(req.RoleArn).toBe("arn:aws-cn:iam::999999999999:role/other"); // a full ARN in the partition is kept
    expect(req.ResourceConfig).toEqual({ InstanceType: "ml.g5.xlarge", InstanceCount: 2, VolumeSizeInGB: 50 });
    expect(req.OutputDataConfig).toEqual({ S3OutputPath: "s3://b/o" });
    expect(req.EnableNetworkIsolation).toBe(true);
    expect(req.HyperParameters).toEqual({ lr: "0.1" });
    expect(req.AlgorithmSpecification?.ContainerArguments).toEqual(["--epochs", "3"]);
    expect(Object.keys(req).filter((k) => k.includes("_"))).toEqual([]);
  });

  it("a role ARN from another partition is treated as a name, as the official agent does", () => {
    expect(roleArnFor("arn:aws:iam::1:role/x", "123456789012", "aws-us-gov")).toBe("arn:aws-us-gov:iam::123456789012:role/arn:aws:iam::1:role/x");
    expect(roleArnFor("team/launch", "123456789012", "aws")).toBe("arn:aws:iam::123456789012:role/team/launch");
  });

  it("the queue's Environment and Tags are kept; its variables win over the launch environment", () => {
    const req = buildTrainingJobRequest(
      input({ resourceArgs: { RoleArn: "r-role-name", ...REQUIRED, Environment: { WANDB_PROJECT: "override", EXTRA: "1" }, Tags: [{ Key: "team", Value: "ml" }] } }),
    );
    expect(req.Environment).toEqual({ ...ENV, WANDB_PROJECT: "override", EXTRA: "1" });
    expect(req.Tags).toEqual([{ Key: "team", Value: "ml" }, { Key: "WandbRunId", Value: "r1x2y3z4" }]);
  });

  it("a queue TrainingImage wins over the built image, and then only an entrypoint override is set", () => {
    const spec = { TrainingImage: "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.3", TrainingInputMode: "Pipe" };
    const noOverride = buildTrainingJobRequest(input({ resourceArgs: { RoleArn: "role-x", ...REQUIRED, AlgorithmSpecification: spec } }));
    expect(noOverride.AlgorithmSpecification).toEqual(spec);
    const withOverride = buildTrainingJobRequest(
      input({ resourceArgs: { RoleArn: "role-x", ...REQUIRED, AlgorithmSpecification: spec }, overrideEntrypoint: ["bash", "go.sh"], args: ["a"] }),
    );
    expect(withOverride.AlgorithmSpecification).toEqual({ ...spec, ContainerEntrypoint: ["bash", "go.sh"], ContainerArguments: ["a"] });
  });

  it("a queue AlgorithmSpecification without an image gets the built one, and keeps its other members", () => {
    const req = buildTrainingJobRequest(
      input({ resourceArgs: { RoleArn: "role-x", ...REQUIRED, AlgorithmSpecification: { TrainingInputMode: "FastFile", EnableSageMakerMetricsTimeSeries: true } } }),
    );
    expect(req.AlgorithmSpecification).toEqual({
      TrainingInputMode: "FastFile",
      EnableSageMakerMetricsTimeSeries: true,
      TrainingImage: IMAGE,
      ContainerEntrypoint: ["python", "train.py"],
    });
  });

  it("launch-only keys (region, profile, EcrRepoName, builder) and null values are not sent; TrainingJobName from the queue is used", () => {
    const req = buildTrainingJobRequest(
      input({
        resourceArgs: { RoleArn: "role-x", ...REQUIRED, region: "eu-west-1", profile: "dev", ecr_repo_name: "x", builder: { base_image: "b" }, VpcConfig: null, TrainingJobName: "nightly-1" },
      }),
    );
    expect(Object.keys(req).sort()).toEqual(["AlgorithmSpecification", "Environment", "OutputDataConfig", "ResourceConfig", "RoleArn", "StoppingCondition", "Tags", "TrainingJobName"]);
    expect(req.TrainingJobName).toBe("nightly-1");
    expect(req.Tags).toEqual([{ Key: "WandbRunId", Value: "r1x2y3z4" }]);
  });

  it("the run environment is split in 512-character shards for SageMaker", () => {
    const runConfig = { blob: "x".repeat(1500) };
    const env = buildRunEnv({
      runSpec: { overrides: { run_config: runConfig } },
      runId: "r1x2y3z4",
      queue: "q",
      agentEntity: "e",
      itemId: "i",
      shardLimit: SAGEMAKER_ENV_SHARD_LIMIT,
    });
    const req = buildTrainingJobRequest(input({ env }));
    const shards = Object.keys(req.Environment!).filter((k) => k.startsWith("WANDB_CONFIG_")).sort();
    expect(shards).toEqual(["WANDB_CONFIG_0", "WANDB_CONFIG_1", "WANDB_CONFIG_2"]);
    expect(shards.map((k) => req.Environment![k]!.length)).toEqual([512, 512, 1512 - 1024]);
    expect(JSON.parse(shards.map((k) => req.Environment![k]).join(""))).toEqual(runConfig);
    expect(req.Environment!.WANDB_CONFIG).toBeUndefined();
  });
});

describe("required keys", () => {
  it("names every missing key, stage agent, and accepts snake_case spellings", () => {
    expect(missingSageMakerKeys({ RoleArn: "x" })).toEqual([
      "resource_args.sagemaker.OutputDataConfig",
      "resource_args.sagemaker.ResourceConfig",
      "resource_args.sagemaker.StoppingCondition",
    ]);
    expect(missingSageMakerKeys({ role_arn: "x", output_data_config: {}, resource_config: {}, stopping_condition: {} })).toEqual([]);
    expect(missingSageMakerKeys(undefined)).toEqual(["resource_args.sagemaker"]);
    let err: unknown;
    try {
      buildTrainingJobRequest(input({ resourceArgs: { OutputDataConfig: { S3OutputPath: "s3://b" } } }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("agent");
    expect((err as LaunchError).message).toMatch(/resource_args\.sagemaker\.RoleArn, resource_args\.sagemaker\.ResourceConfig, resource_args\.sagemaker\.StoppingCondition/);
    expect(() => buildTrainingJobRequest(input({ resourceArgs: undefined }))).toThrow(/No sagemaker args specified/);
  });

  it("no image at all fails with the official wording and the fix", () => {
    expect(() => buildTrainingJobRequest(input({ image: null }))).toThrow(/Failed determine tag for training image.*TrainingImage/);
  });
});

describe("SageMaker's documented request validation", () => {
  const valid = () => buildTrainingJobRequest(input()) as unknown as Record<string, unknown>;

  it("a request we build is valid", () => {
    expect(validateTrainingJobRequest(valid())).toEqual([]);
  });

  it("names each broken constraint with its path", () => {
    const bad = valid();
    bad.TrainingJobName = "my_run_" + "x".repeat(60);
    bad.Foo = 1;
    bad.ResourceConfig = { instance_type: "ml.m5.xlarge", VolumeSizeInGB: "10" };
    bad.Environment = { ...ENV, "1BAD": "v", LONG: "v".repeat(513) };
    bad.Tags = [{ Key: "k".repeat(129), Value: "ok" }, { Key: "bad#char", Value: "v" }, { Value: "no key" }];
    bad.AlgorithmSpecification = { TrainingImage: IMAGE, TrainingInputMode: "Stream", ContainerArguments: ["a".repeat(257)], ContainerEntrypoint: [] };
    bad.RoleArn = "arn:aws:iam::12:role/x";
    bad.StoppingCondition = { MaxRuntimeInSeconds: 0, MaxPendingTimeInSeconds: 60 };
    bad.OutputDataConfig = { S3OutputPath: "gs://bucket/x" };
    delete bad.TrainingJobName;
    bad.TrainingJobName = "-starts-with-dash";
    const problems = validateTrainingJobRequest(bad);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^TrainingJobName: "-starts-with-dash" does not match the pattern/),
        expect.stringMatching(/^Foo: is not a member SageMaker accepts here/),
        expect.stringMatching(/^ResourceConfig\.instance_type: is not a member.*InstanceType/),
        "ResourceConfig.VolumeSizeInGB: must be an integer, got string \"10\"",
        expect.stringMatching(/^Environment\{key "1BAD"\}: "1BAD" does not match the pattern \[a-zA-Z_\]\[a-zA-Z0-9_\]\*/),
        "Environment.LONG: must be at most 512 characters long (it has 513)",
        "Tags[0].Key: must be at most 128 characters long (it has 129)",
        expect.stringMatching(/^Tags\[1\]\.Key: "bad#char" does not match/),
        "Tags[2].Key: is required",
        "AlgorithmSpecification.TrainingInputMode: \"Stream\" is not one of Pipe, File, FastFile",
        "AlgorithmSpecification.ContainerArguments[0]: must be at most 256 characters long (it has 257)",
        "AlgorithmSpecification.ContainerEntrypoint: must have at least 1 item(s)",
        expect.stringMatching(/^RoleArn: .* does not match the pattern/),
        "StoppingCondition.MaxRuntimeInSeconds: must be at least 1 (got 0)",
        "StoppingCondition.MaxPendingTimeInSeconds: must be at least 7200 (got 60)",
        expect.stringMatching(/^OutputDataConfig\.S3OutputPath: "gs:\/\/bucket\/x" does not match/),
      ]),
    );
    expect(problems).toHaveLength(16);
  });

  it("more than 100 environment variables (a huge run config in 512-character shards) is refused before sending, without printing values", () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 101; i++) env[`WANDB_CONFIG_${i}`] = "secret-ish";
    expect(() => buildTrainingJobRequest(input({ env }))).toThrow(/Environment: must have at most 100 entries \(it has 101\)/);
    try {
      buildTrainingJobRequest(input({ env }));
    } catch (e) {
      expect((e as Error).message).not.toContain("secret-ish");
    }
  });

  it("a run id that is not a valid job name (W&B ids are, queue names may not be) is reported", () => {
    expect(() => buildTrainingJobRequest(input({ resourceArgs: { RoleArn: "r-x", ...REQUIRED, TrainingJobName: "nightly_run" } }))).toThrow(
      /TrainingJobName: "nightly_run" does not match the pattern/,
    );
  });

  it("our constraints are the service model's (botocore's copy of the SageMaker API model, shipped with moto)", () => {
    const dump = execFileSync(
      "python3",
      [
        "-c",
        `
import json, botocore.session
m = botocore.session.get_session().get_service_model("sagemaker")
def shape(s, depth):
    d = {"type": s.type_name}
    for k in ("min", "max", "pattern", "enum"):
        if k in s.metadata: d[k] = s.metadata[k]
    if depth > 3: return d
    if s.type_name == "structure":
        d["required"] = s.required_members
        d["members"] = {k: shape(v, depth + 1) for k, v in s.members.items()}
    elif s.type_name == "list": d["member"] = shape(s.member, depth + 1)
    elif s.type_name == "map": d["key"] = shape(s.key, depth + 1); d["value"] = shape(s.value, depth + 1)
    return d
print(json.dumps(shape(m.operation_model("CreateTrainingJob").input_shape, 0)))
`,
      ],
      { encoding: "utf8" },
    );
    type Shape = { type: string; min?: number; max?: number; pattern?: string; enum?: string[]; required?: string[]; members?: Record<string, Shape>; member?: Shape; key?: Shape; value?: Shape };
    const model = JSON.parse(dump) as Shape;
    const compared: string[] = [];
    const compare = (rule: Rule, s: Shape, path: string) => {
      compared.push(path);
      const kinds: Record<string, string[]> = { string: ["string"], int: ["integer", "long"], bool: ["boolean"], struct: ["structure"], list: ["list"], map: ["map"] };
      expect(kinds[rule.kind], path).toContain(s.type);
      if (rule.kind === "string" || rule.kind === "int" || rule.kind === "list" || rule.kind === "map") {
        if (rule.min !== undefined) expect(rule.min, `${path} min`).toBe(s.min);
        if (rule.max !== undefined) expect(rule.max, `${path} max`).toBe(s.max);
      }
      if (rule.kind === "string") {
        if (rule.pattern !== undefined) expect(rule.pattern, `${path} pattern`).toBe(s.pattern);
        if (rule.enum) expect([...rule.enum].sort(), `${path} enum`).toEqual([...(s.enum ?? [])].sort());
      }
      if (rule.kind === "struct") {
        for (const r of s.required ?? []) expect(rule.required ?? [], `${path} required`).toContain(r);
        for (const [name, child] of Object.entries(rule.members ?? {})) {
          expect(s.members, `${path}.${name} exists in the model`).toHaveProperty(name);
          compare(child, s.members![name]!, `${path}.${name}`);
        }
      }
      if (rule.kind === "list") compare(rule.member, s.member!, `${path}[]`);
      if (rule.kind === "map") {
        compare(rule.key, s.key!, `${path}{key}`);
        compare(rule.value, s.value!, `${path}{value}`);
      }
    };
    for (const [name, rule] of Object.entries(TRAINING_JOB_MEMBERS)) compare(rule, model.members![name]!, name);
    expect(compared.length).toBeGreaterThan(60);
    for (const r of model.required ?? []) expect(Object.keys(TRAINING_JOB_MEMBERS)).toContain(r);
  });
});
