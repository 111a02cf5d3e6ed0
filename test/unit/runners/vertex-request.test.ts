import { describe, expect, it } from "vitest";
import { buildCustomJob, requireVertexKeys, timestampedDir, vertexArgs, type CustomJobInput } from "../../../agent/runners/vertex-request.js";

const IMAGE = "us-central1-docker.pkg.dev/proj/launch/job:0a1b2c3d";
const NOW = new Date("2026-12-02T11:40:05.123Z");
const POOL = { machine_spec: { machine_type: "n1-standard-4", accelerator_type: "NVIDIA_TESLA_T4", accelerator_count: 1 }, replica_count: 1, container_spec: { image_uri: IMAGE } };

function input(args: Record<string, unknown>, over: Partial<CustomJobInput> = {}): CustomJobInput {
  return {
    args,
    argsKey: "vertex",
    runId: "v1x2y3z4",
    runName: null,
    image: IMAGE,
    entrypoint: ["python", "train.py"],
    runArgs: [],
    env: { WANDB_RUN_ID: "v1x2y3z4", WANDB_PROJECT: "proj" },
    project: "my-project",
    region: "us-central1",
    now: NOW,
    ...over,
  };
}

describe("CustomJob request (what the official agent has the Python SDK send)", () => {
  it("minimal: worker pool with command = entrypoint + args and the run env, default display name and output dir, run-id label", () => {
    const req = buildCustomJob(input({ spec: { worker_pool_specs: [POOL], staging_bucket: "gs://stage" } }, { runArgs: ["--lr", "1"] }));
    expect(req).toEqual({
      parent: "projects/my-project/locations/us-central1",
      customJob: {
        displayName: "CustomJob 2026-12-02 11:40:05.123000",
        jobSpec: {
          workerPoolSpecs: [
            {
              machineSpec: { machineType: "n1-standard-4", acceleratorType: "NVIDIA_TESLA_T4", acceleratorCount: 1 },
              replicaCount: 1,
              containerSpec: {
                imageUri: IMAGE,
                command: ["python", "train.py", "--lr", "1"],
                env: [
                  { name: "WANDB_RUN_ID", value: "v1x2y3z4" },
                  { name: "WANDB_PROJECT", value: "proj" },
                ],
              },
            },
          ],
          baseOutputDirectory: { outputUriPrefix: "gs://stage/aiplatform-custom-job-2026-12-02-11:40:05.123" },
        },
        labels: { "wandb-run-id": "v1x2y3z4" },
      },
    });
  });

  it("submit options and spec keys: service account, network, timeout + restart (scheduling), web access, tensorboard, labels, output dir, CMEK key, run name", () => {
    const req = buildCustomJob(
      input(
        {
          spec: {
            worker_pool_specs: [
              { ...POOL, container_spec: { image_uri: IMAGE, args: ["ignored-by-command"], env: [{ name: "USER_VAR", value: "1" }] } },
              { machine_spec: { machine_type: "n1-highmem-8" }, replica_count: 2, container_spec: { image_uri: "other:1" }, disk_spec: { boot_disk_size_gb: 200 } },
            ],
            staging_bucket: "stage-bucket",
            base_output_dir: "gs://out/dir",
            labels: { team: "ml" },
            encryption_spec_key_name: "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k",
          },
          run: {
            service_account: "launch-runs@my-project.iam.gserviceaccount.com",
            network: "projects/123/global/networks/vpc",
            timeout: 7200,
            restart_job_on_worker_restart: true,
            enable_web_access: true,
            tensorboard: "projects/p/locations/us-central1/tensorboards/7",
          },
        },
        { runName: "nightly" },
      ),
    );
    const job = req.customJob;
    expect(job.displayName).toBe("nightly");
    expect(job.labels).toEqual({ team: "ml", "wandb-run-id": "v1x2y3z4" });
    expect(job.encryptionSpec).toEqual({ kmsKeyName: "projects/p/locations/us-central1/keyRings/r/cryptoKeys/k" });
    expect(job.jobSpec).toMatchObject({
      serviceAccount: "launch-runs@my-project.iam.gserviceaccount.com",
      network: "projects/123/global/networks/vpc",
      scheduling: { timeout: { seconds: 7200 }, restartJobOnWorkerRestart: true },
      enableWebAccess: true,
      tensorboard: "projects/p/locations/us-central1/tensorboards/7",
      baseOutputDirectory: { outputUriPrefix: "gs://out/dir" },
    });
    const [a, b] = job.jobSpec!.workerPoolSpecs!;
    expect(a!.containerSpec).toEqual({
      imageUri: IMAGE,
      args: ["ignored-by-command"],
      command: ["python", "train.py"],
      env: [{ name: "USER_VAR", value: "1" }, { name: "WANDB_RUN_ID", value: "v1x2y3z4" }, { name: "WANDB_PROJECT", value: "proj" }],
    });
    // Every pool gets the command and env, its own image kept.
    expect(b!.containerSpec!.imageUri).toBe("other:1");
    expect(b!.containerSpec!.command).toEqual(["python", "train.py"]);
    expect(b!.diskSpec).toEqual({ bootDiskSizeGb: 200 });
  });

  it("no timeout and no restart → no scheduling; restart alone → scheduling without a timeout; experiment names become context resource names", () => {
    const base = { spec: { worker_pool_specs: [POOL], staging_bucket: "gs://s" } };
    expect(buildCustomJob(input(base)).customJob.jobSpec!.scheduling).toBeUndefined();
    expect(buildCustomJob(input({ ...base, run: { restart_job_on_worker_restart: true } })).customJob.jobSpec!.scheduling).toEqual({ restartJobOnWorkerRestart: true });
    const spec = buildCustomJob(input({ ...base, run: { experiment: "exp1", experiment_run: "run7" } })).customJob.jobSpec!;
    expect(spec.experiment).toBe("projects/my-project/locations/us-central1/metadataStores/default/contexts/exp1");
    expect(spec.experimentRun).toBe("projects/my-project/locations/us-central1/metadataStores/default/contexts/exp1-run7");
    expect(() => buildCustomJob(input({ ...base, run: { experiment: "e", tensorboard: "t" } }))).toThrow(/'experiment' and 'tensorboard' cannot be set together/);
  });

  it("a container_spec without an image gets the run's image", () => {
    const req = buildCustomJob(input({ spec: { worker_pool_specs: [{ machine_spec: { machine_type: "n1-standard-4" }, container_spec: { command: ["x"] } }], staging_bucket: "gs://s" } }));
    expect(req.customJob.jobSpec!.workerPoolSpecs![0]!.containerSpec!.imageUri).toBe(IMAGE);
  });

  it("the default output directory follows the SDK's naming", () => {
    expect(timestampedDir("gs://b/", NOW)).toBe("gs://b/aiplatform-custom-job-2026-12-02-11:40:05.123");
    expect(timestampedDir("b/sub", NOW)).toBe("gs://b/sub/aiplatform-custom-job-2026-12-02-11:40:05.123");
  });
});

describe("what Vertex would refuse is refused first, naming the key", () => {
  it("unknown fields (which the client library would silently drop) and wrong kinds", () => {
    const args = (pool: unknown) => ({ spec: { worker_pool_specs: [pool], staging_bucket: "gs://s" } });
    expect(() => buildCustomJob(input(args({ ...POOL, machine_spec: { machine_typo: "x" } })))).toThrow(
      /resource_args\.vertex\.spec\.worker_pool_specs\[0\]\.machine_spec\.machine_typo is not a field of MachineSpec; its fields are: machine_type, accelerator_type/,
    );
    expect(() => buildCustomJob(input(args({ ...POOL, replica_count: "two" })))).toThrow(/worker_pool_specs\[0\]\.replica_count must be a number, got string "two"/);
    expect(() => buildCustomJob(input(args({ ...POOL, machine_spec: { machine_type: "n1", accelerator_type: "NVIDIA_H999" } })))).toThrow(
      /accelerator_type "NVIDIA_H999" is not one of ACCELERATOR_TYPE_UNSPECIFIED/,
    );
    expect(() => buildCustomJob(input({ spec: { worker_pool_specs: [POOL], staging_bucket: "gs://s", labels: { n: 1 } } }))).toThrow(/labels to be a mapping of string/);
    expect(() => buildCustomJob(input({ spec: { worker_pool_specs: [POOL], staging_bucket: "gs://s" }, run: { timeout: "1h" } }))).toThrow(/run\.timeout must be a number of seconds/);
  });

  it("required keys, with the official wording", () => {
    expect(() => vertexArgs({ resource_args: {} })).toThrow(/No Vertex resource args specified/);
    expect(vertexArgs({ resource_args: { vertex: {}, "gcp-vertex": { spec: {} } } })).toEqual({ spec: {} });
    expect(() => requireVertexKeys({ spec: { staging_bucket: "gs://s" } })).toThrow(/at least one worker pool spec.*vertex\.spec\.worker_pool_specs/);
    expect(() => requireVertexKeys({ spec: { worker_pool_specs: [POOL, { replica_count: 1 }], staging_bucket: "gs://s" } })).toThrow(/container spec for each worker pool spec.*worker_pool_specs\[1\]/);
    expect(() => requireVertexKeys({ spec: { worker_pool_specs: [POOL] } })).toThrow(/requires a staging bucket/);
  });
});
