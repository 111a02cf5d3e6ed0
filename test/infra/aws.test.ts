import { runSimulation } from "@cloud-copilot/iam-simulate";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  agentPolicyDocument,
  DOCUMENTED_ECR_ACTIONS,
  ecrLifecyclePolicy,
  oidcProviderArn,
  type PolicyDocument,
  tlsOnlyBucketPolicy,
  trustPolicyDocument,
} from "../../components/aws/policy.js";
import { installMocks, isSecretOutput, type MockRecorder, promiseOf, settle } from "./mocks.js";

const ACCOUNT = "123456789012";
const REPO = `arn:aws:ecr:us-west-2:${ACCOUNT}:repository/launch`;
const BUCKET = "arn:aws:s3:::launch-contexts";
const ROLE = `arn:aws:iam::${ACCOUNT}:role/launch-agent`;
// Built inside each test (not at load) so mutation testing credits the tests that check it.
const policy = () => agentPolicyDocument({ repositoryArn: REPO, bucketArn: BUCKET });

// KMS only honours IAM policies when the key policy delegates to the account: AWS's default key policy.
const defaultKeyPolicy: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [{ Sid: "Enable IAM User Permissions", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" }],
};

async function simulate(doc: PolicyDocument, action: string, resource: string, contextVariables: Record<string, string> = {}): Promise<string> {
  const res = await runSimulation(
    {
      identityPolicies: [{ name: "agent", policy: doc }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(action.startsWith("kms:") ? { resourcePolicy: defaultKeyPolicy } : {}),
      request: { action, principal: ROLE, resource: { resource, accountId: ACCOUNT }, contextVariables },
    },
    {},
  );
  if (res.resultType === "error") throw new Error(`${action} on ${resource}: ${JSON.stringify(res.errors)}`);
  return res.overallResult;
}

// Every call the agent and its kaniko pods make, on the resource IAM authorises it against.
const NEEDED: Array<[string, string]> = [
  ...[
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
  ].map((a): [string, string] => [a, REPO]),
  ["ecr:GetAuthorizationToken", "*"],
  ["s3:ListBucket", BUCKET],
  ["s3:PutObject", `${BUCKET}/build-contexts/run-1.tgz`],
  ["s3:GetObject", `${BUCKET}/build-contexts/run-1.tgz`],
  ["s3:DeleteObject", `${BUCKET}/build-contexts/run-1.tgz`],
  ["s3:AbortMultipartUpload", `${BUCKET}/build-contexts/run-1.tgz`],
];

describe("agent permissions policy (IAM simulator)", () => {
  it.each(NEEDED)("allows %s on %s", async (action, resource) => {
    expect(await simulate(policy(), action, resource)).toBe("Allowed");
  });

  it("keeps every action W&B documents for the agent", () => {
    const granted = policy().Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    for (const a of DOCUMENTED_ECR_ACTIONS) expect(granted).toContain(a);
  });

  it.each([
    ["ecr:PutImage", `arn:aws:ecr:us-west-2:${ACCOUNT}:repository/other`],
    ["ecr:BatchGetImage", `arn:aws:ecr:us-west-2:${ACCOUNT}:repository/other`],
    ["ecr:InitiateLayerUpload", `arn:aws:ecr:eu-west-1:${ACCOUNT}:repository/launch`],
    ["ecr:PutImage", `arn:aws:ecr:us-west-2:210987654321:repository/launch`],
    ["ecr:DeleteRepository", REPO],
    ["ecr:SetRepositoryPolicy", REPO],
    ["ecr:PutLifecyclePolicy", REPO],
    ["s3:GetObject", "arn:aws:s3:::other-bucket/build-contexts/run-1.tgz"],
    ["s3:PutObject", "arn:aws:s3:::launch-contexts-2/x"],
    ["s3:ListBucket", "arn:aws:s3:::other-bucket"],
    ["s3:DeleteBucket", BUCKET],
    ["s3:PutBucketPolicy", BUCKET],
    ["s3:PutLifecycleConfiguration", BUCKET],
    ["s3:PutBucketPublicAccessBlock", BUCKET],
    ["iam:CreateRole", `arn:aws:iam::${ACCOUNT}:role/x`],
    ["iam:PassRole", ROLE],
    ["iam:PutRolePolicy", ROLE],
    ["iam:AttachRolePolicy", ROLE],
    ["iam:UpdateAssumeRolePolicy", ROLE],
    ["iam:CreateAccessKey", `arn:aws:iam::${ACCOUNT}:user/admin`],
    ["iam:CreateUser", `arn:aws:iam::${ACCOUNT}:user/x`],
    ["sts:AssumeRole", `arn:aws:iam::${ACCOUNT}:role/admin`],
    ["sts:AssumeRole", ROLE],
  ])("denies %s on %s", async (action, resource) => {
    expect(await simulate(policy(), action, resource)).toBe("ImplicitlyDenied");
  });

  it("grants no IAM or STS action and no service-wide wildcard", () => {
    const actions = policy().Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action]));
    expect(actions.filter((a) => /^(iam|sts):/.test(a))).toEqual([]);
    expect(actions.filter((a) => a === "*" || a.endsWith(":*"))).toEqual([]);
    // The only unscoped statement is the registry login token, which cannot be scoped.
    const unscoped = policy().Statement.filter((s) => s.Resource === "*" || (Array.isArray(s.Resource) && s.Resource.includes("*")));
    expect(unscoped.map((s) => s.Action)).toEqual(["ecr:GetAuthorizationToken"]);
  });
});

describe("agent permissions with a customer-managed KMS key (IAM simulator)", () => {
  const KEY = `arn:aws:kms:us-west-2:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
  const withKms = () => agentPolicyDocument({ repositoryArn: REPO, bucketArn: BUCKET, kms: { keyArn: KEY, region: "us-west-2" } });
  const viaS3 = { "kms:ViaService": "s3.us-west-2.amazonaws.com" };

  // SSE-KMS: S3 asks KMS for a data key on every upload (and multipart start) and to decrypt on every read.
  it.each(["kms:GenerateDataKey", "kms:Decrypt"])("allows %s on the bucket's key when S3 calls it", async (action) => {
    expect(await simulate(withKms(), action, KEY, viaS3)).toBe("Allowed");
  });

  it("keeps every S3 and ECR grant of the plain policy", async () => {
    for (const [action, resource] of NEEDED) expect(await simulate(withKms(), action, resource), action).toBe("Allowed");
  });

  it.each([
    ["kms:Decrypt", KEY, {}],
    ["kms:GenerateDataKey", KEY, { "kms:ViaService": "ec2.us-west-2.amazonaws.com" }],
    ["kms:Decrypt", KEY, { "kms:ViaService": "s3.eu-west-1.amazonaws.com" }],
    ["kms:Decrypt", `arn:aws:kms:us-west-2:${ACCOUNT}:key/other`, viaS3],
    ["kms:GenerateDataKey", `arn:aws:kms:us-west-2:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab`, viaS3],
    ["kms:Encrypt", KEY, viaS3],
    ["kms:ReEncryptFrom", KEY, viaS3],
    ["kms:CreateGrant", KEY, viaS3],
    ["kms:ScheduleKeyDeletion", KEY, viaS3],
    ["kms:PutKeyPolicy", KEY, viaS3],
    ["kms:DisableKey", KEY, viaS3],
  ] as Array<[string, string, Record<string, string>]>)("denies %s on %s with %j", async (action, resource, context) => {
    expect(await simulate(withKms(), action, resource, context)).toBe("ImplicitlyDenied");
  });

  it("grants nothing on KMS without a key", async () => {
    expect(await simulate(policy(), "kms:Decrypt", KEY, viaS3)).toBe("ImplicitlyDenied");
    expect(JSON.stringify(policy())).not.toContain("kms:");
  });

  it("names the partition's S3 endpoint for the ViaService condition", () => {
    const cn = agentPolicyDocument({ repositoryArn: REPO, bucketArn: BUCKET, kms: { keyArn: KEY, region: "cn-north-1", dnsSuffix: "amazonaws.com.cn" } });
    expect(cn.Statement[0]!.Condition).toEqual({ StringEquals: { "kms:ViaService": "s3.cn-north-1.amazonaws.com.cn" } });
  });
});

describe("trust policy", () => {
  const issuerUrl = "https://oidc.eks.us-west-2.amazonaws.com/id/ABCDEF0123456789/";
  const provider = () => oidcProviderArn("aws", ACCOUNT, issuerUrl);
  const trust = () => trustPolicyDocument({ oidcProviderArn: provider(), oidcIssuerUrl: issuerUrl, namespace: "wandb", serviceAccountName: "launch-agent" });

  it("derives the provider ARN EKS registers for the issuer", () => {
    expect(provider()).toBe(`arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABCDEF0123456789`);
  });

  it("trusts only the agent ServiceAccount's web-identity tokens with audience sts.amazonaws.com", () => {
    expect(trust().Statement).toHaveLength(1);
    const [s] = trust().Statement;
    expect(s).toEqual({
      Sid: "LaunchAgentServiceAccount",
      Effect: "Allow",
      Principal: { Federated: provider() },
      Action: "sts:AssumeRoleWithWebIdentity",
      Condition: {
        StringEquals: {
          "oidc.eks.us-west-2.amazonaws.com/id/ABCDEF0123456789:sub": "system:serviceaccount:wandb:launch-agent",
          "oidc.eks.us-west-2.amazonaws.com/id/ABCDEF0123456789:aud": "sts.amazonaws.com",
        },
      },
    });
    // No wildcard subject can slip in through a StringLike operator.
    expect(JSON.stringify(trust())).not.toMatch(/\*|StringLike/);
  });
});

describe("policy documents, statement by statement", () => {
  // The simulator checks what is allowed; these pin the rest of each document (ids a reviewer reads in the
  // console, the version IAM needs for condition keys, the lifecycle rules' wording and actions).
  it("names every statement", () => {
    const KEY = `arn:aws:kms:us-west-2:${ACCOUNT}:key/k`;
    expect(policy().Version).toBe("2012-10-17");
    expect(policy().Statement.map((s) => s.Sid)).toEqual(["PushPullLaunchRepository", "RegistryLogin", "ListBuildContextBucket", "ReadWriteBuildContexts"]);
    expect(agentPolicyDocument({ repositoryArn: REPO, bucketArn: BUCKET, kms: { keyArn: KEY, region: "us-west-2" } }).Statement[0]!.Sid).toBe("BuildContextKeyThroughS3");
    expect(trustPolicyDocument({ oidcProviderArn: "p", oidcIssuerUrl: "https://i", namespace: "n", serviceAccountName: "s" }).Version).toBe("2012-10-17");
    expect(tlsOnlyBucketPolicy(BUCKET)).toEqual({
      Version: "2012-10-17",
      Statement: [{ Sid: "DenyInsecureTransport", Effect: "Deny", Principal: "*", Action: "s3:*", Resource: [BUCKET, `${BUCKET}/*`], Condition: { Bool: { "aws:SecureTransport": "false" } } }],
    });
  });

  it("writes the issuer as IAM condition keys spell it: no scheme, no trailing slashes", () => {
    for (const url of ["https://oidc.eks.us-west-2.amazonaws.com/id/ABC", "oidc.eks.us-west-2.amazonaws.com/id/ABC", "https://oidc.eks.us-west-2.amazonaws.com/id/ABC//"]) {
      expect(oidcProviderArn("aws", ACCOUNT, url), url).toBe(`arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/ABC`);
    }
    // Only a leading scheme is removed.
    expect(oidcProviderArn("aws", ACCOUNT, "issuer.example.com/https://x")).toBe(`arn:aws:iam::${ACCOUNT}:oidc-provider/issuer.example.com/https://x`);
  });

  it("ECR lifecycle rules: untagged by age; with an image age, the agent's image kept and everything else expired", () => {
    expect(ecrLifecyclePolicy({ untaggedImageExpirationDays: 3, imageExpirationDays: 30, agentImageTag: "agent" })).toEqual({
      rules: [
        { rulePriority: 1, description: "Expire untagged images 3 days after push", selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 3 }, action: { type: "expire" } },
        { rulePriority: 2, description: "Keep the agent's current image out of the age rule below", selection: { tagStatus: "tagged", tagPrefixList: ["agent"], countType: "imageCountMoreThan", countNumber: 1 }, action: { type: "expire" } },
        { rulePriority: 3, description: "Expire every image (runs and kaniko cache) 30 days after push", selection: { tagStatus: "any", countType: "sinceImagePushed", countUnit: "days", countNumber: 30 }, action: { type: "expire" } },
      ],
    });
  });
});

describe("bucket and registry documents", () => {
  it("denies any non-TLS request to the bucket and its objects", async () => {
    const doc = tlsOnlyBucketPolicy(BUCKET);
    const res = await runSimulation(
      {
        identityPolicies: [{ name: "agent", policy: policy() }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: doc,
        request: {
          action: "s3:GetObject",
          principal: ROLE,
          resource: { resource: `${BUCKET}/build-contexts/x.tgz`, accountId: ACCOUNT },
          contextVariables: { "aws:SecureTransport": "false" },
        },
      },
      {},
    );
    expect(res.resultType !== "error" && res.overallResult).toBe("ExplicitlyDenied");
    const tls = await runSimulation(
      {
        identityPolicies: [{ name: "agent", policy: policy() }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        resourcePolicy: doc,
        request: {
          action: "s3:GetObject",
          principal: ROLE,
          resource: { resource: `${BUCKET}/build-contexts/x.tgz`, accountId: ACCOUNT },
          contextVariables: { "aws:SecureTransport": "true" },
        },
      },
      {},
    );
    expect(tls.resultType !== "error" && tls.overallResult).toBe("Allowed");
  });

  it("expires images by age only, never by count", () => {
    const p = ecrLifecyclePolicy({ untaggedImageExpirationDays: 3, imageExpirationDays: 90 });
    expect(p.rules.map((r) => [r.rulePriority, r.selection])).toEqual([
      [1, { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: 3 }],
      // The only count rule selects the agent's single moving tag, shielding it from the age rule.
      [2, { tagStatus: "tagged", tagPrefixList: ["launch-agent"], countType: "imageCountMoreThan", countNumber: 1 }],
      [3, { tagStatus: "any", countType: "sinceImagePushed", countUnit: "days", countNumber: 90 }],
    ]);
    expect(p.rules.filter((r) => r.selection.tagStatus !== "tagged").every((r) => r.selection.countType === "sinceImagePushed")).toBe(true);
    expect(ecrLifecyclePolicy({ untaggedImageExpirationDays: 7 }).rules).toHaveLength(1);
  });
});

describe("AwsLaunchEnvironment (Pulumi mocks)", () => {
  let mocks: MockRecorder;
  let AwsLaunchEnvironment: typeof import("../../components/aws/index.js").AwsLaunchEnvironment;
  beforeAll(async () => {
    mocks = await installMocks({ cloud: { awsRegion: "eu-central-1" } });
    ({ AwsLaunchEnvironment } = await import("../../components/aws/index.js"));
  });
  beforeEach(() => mocks.clear());

  const issuer = "https://oidc.eks.eu-central-1.amazonaws.com/id/0123ABC";
  const make = (extra: Record<string, unknown> = {}) =>
    new AwsLaunchEnvironment("launch", {
      oidcIssuerUrl: issuer,
      namespace: "wandb",
      serviceAccountName: "launch-agent",
      repositoryName: "launch-images",
      bucketName: "acme-launch-contexts",
      ...extra,
    });

  it("creates exactly the registry, bucket and identity resources, wired to each other", async () => {
    const env = make();
    const store = await promiseOf(env.outputs.buildContextStore);
    await settle();
    expect(mocks.resources.filter((r) => r.custom).map((r) => r.type).sort()).toEqual([
      "aws:ecr/lifecyclePolicy:LifecyclePolicy",
      "aws:ecr/repository:Repository",
      "aws:iam/role:Role",
      "aws:iam/rolePolicy:RolePolicy",
      "aws:s3/bucket:Bucket",
      "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
      "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
      "aws:s3/bucketPolicy:BucketPolicy",
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    ]);
    expect(mocks.one("wandb-launch:aws:LaunchEnvironment").custom).toBe(false);
    // Children are named from the component name.
    for (const r of mocks.resources.filter((x) => x.custom)) expect(r.name).toMatch(/^launch-/);
    expect(store).toBe("s3://acme-launch-contexts/build-contexts");

    const repo = mocks.one("aws:ecr/repository:Repository").inputs;
    expect(repo.imageScanningConfiguration).toEqual({ scanOnPush: true });
    expect(repo.encryptionConfigurations).toEqual([{ encryptionType: "AES256" }]);
    expect(repo.imageTagMutability).toBe("MUTABLE");
    const lifecycle = JSON.parse(String(mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy));
    expect(lifecycle).toEqual(ecrLifecyclePolicy({ untaggedImageExpirationDays: 7 }));
    expect(mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.repository).toBe("launch-images");

    const pab = mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs;
    expect(pab).toMatchObject({ bucket: "acme-launch-contexts", blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    expect(mocks.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
    expect(mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
    ]);
    const rules = mocks.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs.rules;
    expect(rules).toEqual([
      { id: "expire-build-contexts", status: "Enabled", filter: { prefix: "build-contexts/" }, expiration: { days: 7 } },
      { id: "abort-incomplete-uploads", status: "Enabled", filter: {}, abortIncompleteMultipartUpload: { daysAfterInitiation: 1 } },
    ]);
    expect(JSON.parse(String(mocks.one("aws:s3/bucketPolicy:BucketPolicy").inputs.policy))).toEqual(
      tlsOnlyBucketPolicy("arn:aws:s3:::acme-launch-contexts"),
    );
  });

  it("parents every resource to the component, writes the bucket policy after the public-access block, and registers its outputs", async () => {
    const env = make();
    const [store, identity, destination] = await Promise.all([promiseOf(env.outputs.buildContextStore), promiseOf(env.outputs.identity), promiseOf(env.outputs.destination)]);
    await settle();
    const component = mocks.one("wandb-launch:aws:LaunchEnvironment");
    expect(mocks.childrenOf(component)).toEqual(mocks.resources.filter((r) => r.custom));
    // S3 rejects a bucket-policy write that races the public-access block's (OperationAborted).
    expect(mocks.one("aws:s3/bucketPolicy:BucketPolicy").dependencies).toContain(mocks.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").urn);
    expect(component.outputs).toEqual({ repositoryUrl: destination, bucket: "acme-launch-contexts", roleArn: identity, destination, buildContextStore: store });
    expect(destination).toMatch(/\.dkr\.ecr\.eu-central-1\.amazonaws\.com\/launch-images$/);
  });

  it("binds the role to the agent's ServiceAccount and scopes its policy to this repository and bucket", async () => {
    const env = make();
    const [identity, annotations, destination, region, labels] = await Promise.all([
      promiseOf(env.outputs.identity),
      promiseOf(env.outputs.serviceAccountAnnotations),
      promiseOf(env.outputs.destination),
      promiseOf(env.outputs.region),
      promiseOf(env.outputs.podLabels),
    ]);
    await settle();
    const roleRec = mocks.one("aws:iam/role:Role");
    expect(identity).toBe(`arn:aws:iam::${ACCOUNT}:role/${String(roleRec.state.name)}`);
    expect(annotations).toEqual({ "eks.amazonaws.com/role-arn": identity });
    expect(labels).toEqual({});
    expect(destination).toBe(`${ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com/launch-images`);
    expect(region).toBe("eu-central-1");
    expect(env.outputs.environmentType).toBe("aws");

    expect(JSON.parse(String(roleRec.inputs.assumeRolePolicy))).toEqual(
      trustPolicyDocument({
        oidcProviderArn: `arn:aws:iam::${ACCOUNT}:oidc-provider/oidc.eks.eu-central-1.amazonaws.com/id/0123ABC`,
        oidcIssuerUrl: issuer,
        namespace: "wandb",
        serviceAccountName: "launch-agent",
      }),
    );
    const inline = mocks.one("aws:iam/rolePolicy:RolePolicy").inputs;
    expect(inline.role).toBe(roleRec.id);
    const doc = JSON.parse(String(inline.policy)) as PolicyDocument;
    expect(doc).toEqual(
      agentPolicyDocument({
        repositoryArn: `arn:aws:ecr:eu-central-1:${ACCOUNT}:repository/launch-images`,
        bucketArn: "arn:aws:s3:::acme-launch-contexts",
      }),
    );
    expect(await simulate(doc, "ecr:PutImage", `arn:aws:ecr:eu-central-1:${ACCOUNT}:repository/launch-images`)).toBe("Allowed");
    expect(await simulate(doc, "s3:PutObject", "arn:aws:s3:::acme-launch-contexts/build-contexts/a.tgz")).toBe("Allowed");
  });

  it("uses the given KMS key, OIDC provider, lifecycle days and prefix", async () => {
    const kms = `arn:aws:kms:eu-central-1:${ACCOUNT}:key/1234`;
    const provider = `arn:aws:iam::${ACCOUNT}:oidc-provider/custom`;
    const env = make({ kmsKeyArn: kms, oidcProviderArn: provider, contextExpirationDays: 2, untaggedImageExpirationDays: 1, imageExpirationDays: 30, contextPrefix: "/ctx/", forceDestroy: true });
    expect(await promiseOf(env.outputs.buildContextStore)).toBe("s3://acme-launch-contexts/ctx");
    await promiseOf(env.outputs.identity);
    await settle();
    expect(mocks.one("aws:ecr/repository:Repository").inputs).toMatchObject({ encryptionConfigurations: [{ encryptionType: "KMS", kmsKey: kms }], forceDelete: true });
    expect(mocks.one("aws:s3/bucket:Bucket").inputs.forceDestroy).toBe(true);
    expect(mocks.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs.rules).toEqual([
      { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: kms }, bucketKeyEnabled: true },
    ]);
    const rules = mocks.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs.rules as Array<Record<string, unknown>>;
    expect(rules[0]).toMatchObject({ filter: { prefix: "ctx/" }, expiration: { days: 2 } });
    const lifecycle = JSON.parse(String(mocks.one("aws:ecr/lifecyclePolicy:LifecyclePolicy").inputs.policy));
    expect(lifecycle).toEqual(ecrLifecyclePolicy({ untaggedImageExpirationDays: 1, imageExpirationDays: 30 }));
    const trust = JSON.parse(String(mocks.one("aws:iam/role:Role").inputs.assumeRolePolicy)) as PolicyDocument;
    expect(trust.Statement[0]!.Principal).toEqual({ Federated: provider });
    // The role the stack creates can use the key through S3 for uploads and kaniko's reads, and only that key.
    const doc = JSON.parse(String(mocks.one("aws:iam/rolePolicy:RolePolicy").inputs.policy)) as PolicyDocument;
    const viaS3 = { "kms:ViaService": "s3.eu-central-1.amazonaws.com" };
    expect(await simulate(doc, "kms:GenerateDataKey", kms, viaS3)).toBe("Allowed");
    expect(await simulate(doc, "kms:Decrypt", kms, viaS3)).toBe("Allowed");
    expect(await simulate(doc, "kms:Decrypt", `arn:aws:kms:eu-central-1:${ACCOUNT}:key/other`, viaS3)).toBe("ImplicitlyDenied");
    expect(await simulate(doc, "kms:Decrypt", kms, {})).toBe("ImplicitlyDenied");
  });

  it("rejects bad lifecycle days, naming the argument", () => {
    expect(() => make({ contextExpirationDays: 0 })).toThrow(/contextExpirationDays must be a whole number of days >= 1 \(got 0\)/);
    expect(() => make({ imageExpirationDays: 1.5 })).toThrow(/imageExpirationDays/);
  });

  it("mints registry push credentials as a secret", async () => {
    const env = make();
    const auth = env.outputs.registryAuth!;
    expect(await isSecretOutput(auth)).toBe(true);
    expect(await promiseOf(auth)).toEqual({ address: `${ACCOUNT}.dkr.ecr.eu-central-1.amazonaws.com`, username: "AWS", password: "mock-ecr-password" });
  });
});
