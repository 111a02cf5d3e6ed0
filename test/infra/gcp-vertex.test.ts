import { beforeAll, describe, expect, it } from "vitest";
import { GcpLaunchEnvironment } from "../../components/gcp/index.js";
import * as pulumi from "@pulumi/pulumi";
import { defaultJobServiceAccountId } from "../../components/gcp/vertex.js";
import { ACT_AS_ROLE, VERTEX_AGENT_PERMISSIONS, VERTEX_JOB_BUCKET_ROLE, VERTEX_JOB_LOG_ROLE, VERTEX_JOB_REPOSITORY_ROLE } from "../../components/gcp/vertex.js";
import { queueConfigComment } from "../../components/launch-config.js";
import { vertexQueueConfig } from "../../components/queue-configs.js";
import { buildCustomJob } from "../../agent/runners/vertex-request.js";
import { installGcpMocks } from "./gcp-mocks.js";
import { promiseOf, settle, type MockRecorder } from "./mocks.js";

let mocks: MockRecorder;
beforeAll(async () => {
  mocks = await installGcpMocks();
});

const BASE = { project: "acme-ml", region: "us-central1", namespace: "wandb", serviceAccountName: "wandb-launch-agent" };

describe("GcpLaunchEnvironment with vertex: true (Pulumi mocks)", () => {
  it("off by default: no job service account, no Vertex grants", async () => {
    mocks.clear();
    const env = new GcpLaunchEnvironment("novx", BASE);
    await promiseOf(env.outputs.identity);
    await settle();
    expect(env.queueConfig).toBeUndefined();
    expect(mocks.byType("gcp:serviceaccount/account:Account")).toHaveLength(1);
    expect(mocks.byType("gcp:projects/iAMMember:IAMMember")).toHaveLength(0);
  });

  it("grants the agent the custom-job permissions and actAs on the job service account only; the jobs get pull, logs, staging", async () => {
    mocks.clear();
    const env = new GcpLaunchEnvironment("launch", { ...BASE, vertex: true });
    const [queue, agentEmail] = await Promise.all([promiseOf(env.queueConfig!), promiseOf(env.outputs.identity)]);
    await settle();
    const agent = `serviceAccount:${agentEmail}`;
    const jobSa = mocks.one("gcp:serviceaccount/account:Account", "vertex-runs");
    const jobEmail = String(jobSa.state.email);
    expect(jobSa.inputs.accountId).toBe(defaultJobServiceAccountId("launch", pulumi.getStack()));
    expect(String(jobSa.inputs.accountId)).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/);

    const role = mocks.one("gcp:projects/iAMCustomRole:IAMCustomRole", "vertex-jobs-role");
    expect([...(role.inputs.permissions as string[])].sort()).toEqual([...VERTEX_AGENT_PERMISSIONS].sort());
    const projectGrants = mocks.byType("gcp:projects/iAMMember:IAMMember").map((r) => [r.inputs.role, r.inputs.member]);
    expect(projectGrants).toEqual(
      expect.arrayContaining([
        [role.state.name ?? role.inputs.roleId, agent],
        [VERTEX_JOB_LOG_ROLE, `serviceAccount:${jobEmail}`],
      ]),
    );
    expect(projectGrants).toHaveLength(2);
    // actAs is granted on the job service account itself, never on the project (which would cover every account).
    expect(projectGrants.some(([r]) => r === ACT_AS_ROLE || String(r).includes("serviceAccountUser"))).toBe(false);
    const actAs = mocks.byType("gcp:serviceaccount/iAMMember:IAMMember").filter((r) => r.inputs.role === ACT_AS_ROLE);
    expect(actAs).toHaveLength(1);
    expect(actAs[0]!.inputs.member).toBe(agent);
    expect(actAs[0]!.inputs.serviceAccountId).toBe(jobSa.state.name);

    const pull = mocks.one("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "vertex-runs-pull");
    expect([pull.inputs.role, pull.inputs.member]).toEqual([VERTEX_JOB_REPOSITORY_ROLE, `serviceAccount:${jobEmail}`]);
    const staging = mocks.one("gcp:storage/bucketIAMMember:BucketIAMMember", "vertex-runs-staging");
    expect([staging.inputs.role, staging.inputs.member]).toEqual([VERTEX_JOB_BUCKET_ROLE, `serviceAccount:${jobEmail}`]);

    const bucket = String(mocks.one("gcp:storage/bucket:Bucket").state.name);
    expect(queue).toEqual(vertexQueueConfig({ serviceAccount: jobEmail, stagingBucket: `gs://${bucket}/vertex-staging` }));
  });

  it("default ids are per stack and valid", () => {
    expect(defaultJobServiceAccountId("launch", "prod")).toBe("launch-prod-vx");
    expect(defaultJobServiceAccountId("wandb-launch-environment", "production-eu")).toBe("wandb-launch-environment-p-vx");
    expect(defaultJobServiceAccountId("9x", "a")).toBe("w-9x-a-vx");
  });

  it("the generated queue config is a request the agent accepts, running as the job service account", () => {
    const queue = vertexQueueConfig({ serviceAccount: "launch-vertex-runs@acme-ml.iam.gserviceaccount.com", stagingBucket: "gs://ctx/vertex-staging" });
    const req = buildCustomJob({
      args: queue.vertex as Record<string, unknown>,
      argsKey: "vertex",
      runId: "r1",
      runName: null,
      image: "us-central1-docker.pkg.dev/acme-ml/launch/job:abc",
      entrypoint: ["python", "train.py"],
      runArgs: [],
      env: {},
      project: "acme-ml",
      region: "us-central1",
    });
    expect(req.customJob.jobSpec!.serviceAccount).toBe("launch-vertex-runs@acme-ml.iam.gserviceaccount.com");
    // One n1-standard-4 running the run's image; a worker restart does not restart the job.
    expect(queue).toEqual({
      vertex: {
        spec: {
          worker_pool_specs: [{ machine_spec: { machine_type: "n1-standard-4" }, replica_count: 1, container_spec: { image_uri: "${image_uri}" } }],
          staging_bucket: "gs://ctx/vertex-staging",
        },
        run: { service_account: "launch-vertex-runs@acme-ml.iam.gserviceaccount.com", restart_job_on_worker_restart: false },
      },
    });
    expect(req.customJob.jobSpec!.workerPoolSpecs).toMatchObject([{ machineSpec: { machineType: "n1-standard-4" }, replicaCount: 1 }]);
    expect(req.customJob.jobSpec!.baseOutputDirectory!.outputUriPrefix).toMatch(/^gs:\/\/ctx\/vertex-staging\/aiplatform-custom-job-/);
    expect(queueConfigComment(queue)).toContain("#             image_uri: ${image_uri}");
  });
});
