import type { protos } from "@google-cloud/aiplatform";
import { LaunchError } from "../errors.js";
import type { RunSpec } from "../jobs/run-spec.js";
import { AIPLATFORM_V1, toMessage } from "./vertex-proto.js";

/**
 * The Vertex AI CustomJob for a run, as the official agent has the Python SDK build it (reference
 * §8.5): `resource_args.vertex.spec` gives the worker pools (each container gets command =
 * entrypoint + args and the run environment), the staging bucket, base output directory, labels
 * (plus `wandb-run-id`) and CMEK key; `resource_args.vertex.run` the submit options (service
 * account, network, timeout, restart_job_on_worker_restart, enable_web_access, tensorboard,
 * experiment, experiment_run). Pure.
 */

export type CustomJob = protos.google.cloud.aiplatform.v1.ICustomJob;
type Obj = Record<string, unknown>;

export const WANDB_RUN_ID_LABEL = "wandb-run-id";
const V1 = AIPLATFORM_V1.split(".");

/** `resource_args.vertex`, else `resource_args.gcp-vertex` (the older name), as the official agent reads them. */
export function vertexArgs(runSpec: RunSpec): Obj {
  const all = runSpec.resource_args ?? {};
  const args = truthy(all.vertex) ? all.vertex : all["gcp-vertex"];
  if (!truthy(args)) {
    throw new LaunchError(
      "No Vertex resource args specified. Add a `vertex` block to the queue's resource_args with spec.worker_pool_specs (each with a container_spec) and spec.staging_bucket.",
      "agent",
    );
  }
  if (!isObj(args)) throw new LaunchError("resource_args.vertex must be a mapping with `spec` and optionally `run`.", "agent");
  return args;
}

/** The keys a Vertex run cannot do without (checked before anything is built), with the official wording. */
export function requireVertexKeys(args: Obj): void {
  const spec = args.spec ?? {};
  if (!isObj(spec)) throw new LaunchError("resource_args.vertex.spec must be a mapping (worker_pool_specs, staging_bucket, ...).", "agent");
  const pools = spec.worker_pool_specs;
  if (!Array.isArray(pools) || pools.length === 0) {
    throw new LaunchError(
      "Vertex requires at least one worker pool spec. Please specify a worker pool spec in resource arguments under the key `vertex.spec.worker_pool_specs`.",
      "agent",
    );
  }
  pools.forEach((pool, i) => {
    if (!isObj(pool) || !truthy(pool.container_spec ?? pool.containerSpec)) {
      throw new LaunchError(
        `Vertex requires a container spec for each worker pool spec. Please specify a container spec in resource arguments under the key \`vertex.spec.worker_pool_specs[].container_spec\` (missing in worker_pool_specs[${i}]).`,
        "agent",
      );
    }
  });
  if (!truthy(spec.staging_bucket)) {
    throw new LaunchError(
      "Vertex requires a staging bucket. Please specify a staging bucket in resource arguments under the key `vertex.spec.staging_bucket` (e.g. gs://my-bucket).",
      "agent",
    );
  }
}

export interface CustomJobInput {
  /** `resource_args.vertex` with macros filled (`${image_uri}` is how the queue names the image). */
  args: Obj;
  /** Which key it came from, for messages. */
  argsKey: string;
  runId: string;
  /** The run spec's `name`; Vertex requires a display name, so the SDK's default is used without one. */
  runName: string | null;
  /** The run's image: set where a container_spec names none. */
  image: string | null;
  /** overrides.entry_point, else the job's entrypoint. */
  entrypoint: readonly string[];
  /** overrides.args. */
  runArgs: readonly string[];
  /** The run environment (holds the API key). */
  env: Record<string, string>;
  project: string;
  region: string;
  /** For the default display name and output directory; default now. */
  now?: Date;
}

export interface CreateCustomJob {
  parent: string;
  customJob: CustomJob;
}

/** The CreateCustomJob request. Throws a LaunchError (stage agent) naming any key Vertex would not accept. */
export function buildCustomJob(input: CustomJobInput): CreateCustomJob {
  requireVertexKeys(input.args);
  const spec = input.args.spec as Obj;
  const run = input.args.run ?? {};
  if (!isObj(run)) throw new LaunchError(`resource_args.${input.argsKey}.run must be a mapping of submit options (service_account, network, timeout, ...).`, "agent");
  const now = input.now ?? new Date();
  const command = [...input.entrypoint, ...input.runArgs];
  const launchEnv = Object.entries(input.env).map(([name, value]) => ({ name, value }));

  const pools = (spec.worker_pool_specs as unknown[]).map((raw, i) => {
    const where = `${input.argsKey}.spec.worker_pool_specs[${i}]`;
    const pool = toMessage(raw, [...V1, "WorkerPoolSpec"], where);
    const container = pool.containerSpec as Obj;
    // The official agent replaces every container's command, even with an empty one.
    container.command = command;
    container.env = [...((container.env as Obj[] | undefined) ?? []), ...launchEnv];
    if (!container.imageUri) {
      if (!input.image) throw new LaunchError(`resource_args.${where}.container_spec.image_uri is required: set it to \${image_uri} for the run's image.`, "agent");
      container.imageUri = input.image;
    }
    return pool;
  });

  const labels = spec.labels ?? {};
  if (!isObj(labels) || !Object.values(labels).every((v) => typeof v === "string")) {
    throw new LaunchError(`Expect labels to be a mapping of string key value pairs: fix resource_args.${input.argsKey}.spec.labels.`, "agent");
  }
  const stagingBucket = String(spec.staging_bucket);
  const jobSpec: Obj = {
    workerPoolSpecs: pools,
    baseOutputDirectory: { outputUriPrefix: str(spec.base_output_dir, "spec.base_output_dir", input.argsKey) ?? timestampedDir(stagingBucket, now) },
  };

  // Submit options, as CustomJob.submit applies them.
  const serviceAccount = str(run.service_account, "run.service_account", input.argsKey);
  if (serviceAccount) jobSpec.serviceAccount = serviceAccount;
  const network = str(run.network, "run.network", input.argsKey);
  if (network) jobSpec.network = network;
  const timeout = run.timeout;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0)) {
    throw new LaunchError(`resource_args.${input.argsKey}.run.timeout must be a number of seconds, got ${JSON.stringify(timeout)}.`, "agent");
  }
  const restart = bool(run.restart_job_on_worker_restart, "run.restart_job_on_worker_restart", input.argsKey);
  if (timeout || restart) {
    jobSpec.scheduling = { ...(timeout ? { timeout: { seconds: timeout } } : {}), restartJobOnWorkerRestart: restart };
  }
  if (bool(run.enable_web_access, "run.enable_web_access", input.argsKey)) jobSpec.enableWebAccess = true;
  const tensorboard = str(run.tensorboard, "run.tensorboard", input.argsKey);
  const experiment = str(run.experiment, "run.experiment", input.argsKey);
  const experimentRun = str(run.experiment_run, "run.experiment_run", input.argsKey);
  if (experiment && tensorboard) throw new LaunchError(`'experiment' and 'tensorboard' cannot be set together: remove one from resource_args.${input.argsKey}.run.`, "agent");
  if (tensorboard) jobSpec.tensorboard = tensorboard;
  if (experiment) {
    const context = (id: string) => (id.startsWith("projects/") ? id : `projects/${input.project}/locations/${input.region}/metadataStores/default/contexts/${id}`);
    jobSpec.experiment = context(experiment);
    if (experimentRun) jobSpec.experimentRun = context(experimentRun.startsWith("projects/") ? experimentRun : `${experiment}-${experimentRun}`);
  }

  const customJob: Obj = {
    displayName: input.runName || `CustomJob ${pythonIso(now, " ", 6)}`,
    jobSpec,
    labels: { ...labels, [WANDB_RUN_ID_LABEL]: input.runId },
  };
  const kms = str(spec.encryption_spec_key_name, "spec.encryption_spec_key_name", input.argsKey);
  if (kms) customJob.encryptionSpec = { kmsKeyName: kms };
  return { parent: `projects/${input.project}/locations/${input.region}`, customJob: customJob as CustomJob };
}

/** `<bucket>/aiplatform-custom-job-<local ISO time, ms>` as the SDK names a job's default output directory. */
export function timestampedDir(bucket: string, now: Date): string {
  const root = bucket.endsWith("/") ? bucket.slice(0, -1) : bucket;
  const path = `${root}/aiplatform-custom-job-${pythonIso(now, "-", 3)}`;
  return path.startsWith("gs://") ? path : `gs://${path}`;
}

/** Python's `datetime.isoformat(sep, timespec)` for an (agent-local, here UTC) time with 3 or 6 fraction digits. */
function pythonIso(d: Date, sep: string, digits: 3 | 6): string {
  const iso = d.toISOString(); // 2026-12-02T11:40:00.123Z
  const fraction = iso.slice(20, 23).padEnd(digits, "0");
  return `${iso.slice(0, 10)}${sep}${iso.slice(11, 19)}.${fraction}`;
}

function str(v: unknown, key: string, argsKey: string): string | undefined {
  if (v === undefined || v === null || v === "") return undefined;
  if (typeof v !== "string") throw new LaunchError(`resource_args.${argsKey}.${key} must be a string, got ${JSON.stringify(v)}.`, "agent");
  return v;
}

function bool(v: unknown, key: string, argsKey: string): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new LaunchError(`resource_args.${argsKey}.${key} must be true or false, got ${JSON.stringify(v)}.`, "agent");
  return v;
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === "" || v === 0) return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
