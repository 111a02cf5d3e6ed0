import type { v1 } from "@google-cloud/aiplatform";
import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import type { RunOutcome } from "../backend/types.js";
import { GcpEnvironment, type GoogleAuthLike } from "../environments/gcp.js";
import type { RunSpec } from "../jobs/run-spec.js";
import { checkRunSpecSafety } from "./managed-safety.js";
import { buildCustomJob, requireVertexKeys, vertexArgs } from "./vertex-request.js";
import { sleep } from "../pipeline.js";
import type { LaunchRequest, RunHandle, Runner } from "./types.js";

type JobServiceClient = v1.JobServiceClient;

/** The credentials the runner uses: google-auth-library's GoogleAuth satisfies it. */
export interface VertexAuth extends GoogleAuthLike {
  getRequestHeaders(url?: string): Promise<Record<string, string> | Headers>;
}

export interface VertexRunnerOptions {
  config?: Pick<AgentConfig, "environment" | "secure_mode">;
  /** Default: Application Default Credentials (Workload Identity on GKE). */
  auth?: VertexAuth;
  /** The API endpoint; default `<region>-aiplatform.googleapis.com` over HTTPS. Tests point it at a local fake. */
  endpoint?: (region: string) => { apiEndpoint: string; port?: number; protocol?: "http" | "https" };
  /** How often the job is read; default 10 s, the official agent's monitoring tick. */
  pollIntervalMs?: number;
  /** A job still queued or pending after this long is cancelled and failed; default WANDB_LAUNCH_START_TIMEOUT or 1800 s. */
  startTimeoutMs?: number;
}

/** Our run state for a Vertex JobState (reference §8.5); null while the job is not over. */
export function vertexEnd(state: string): "finished" | "failed" | "cancelled" | null {
  switch (state) {
    case "JOB_STATE_SUCCEEDED":
      return "finished";
    case "JOB_STATE_FAILED":
    case "JOB_STATE_EXPIRED":
    case "JOB_STATE_PARTIALLY_SUCCEEDED":
      return "failed";
    case "JOB_STATE_CANCELLED":
      return "cancelled";
    default:
      return null;
  }
}

const NOT_STARTED = new Set(["JOB_STATE_QUEUED", "JOB_STATE_PENDING", "JOB_STATE_UNSPECIFIED"]);

interface GoogleErrorLike {
  code?: number;
  message?: string;
}
const GRPC_CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"];
function googleError(err: unknown): string {
  const e = (err ?? {}) as GoogleErrorLike;
  const code = typeof e.code === "number" ? (GRPC_CODES[e.code] ?? String(e.code)) : "ERROR";
  return `${code}: ${String(e.message ?? err).split("\n")[0]}`;
}

/** gax's REST transport wants a GoogleAuth-like object with `fetch`; this one adds the agent's token to each request. */
function gaxAuth(auth: VertexAuth) {
  return {
    getRequestHeaders: (url?: string) => auth.getRequestHeaders(url),
    fetch: async (url: string, init: RequestInit) => {
      const headers = new Headers(init.headers);
      const extra = await auth.getRequestHeaders(url);
      new Headers(extra).forEach((v, k) => headers.set(k, v));
      return fetch(url, { method: init.method ?? "GET", headers, ...(init.body !== undefined ? { body: init.body } : {}), ...(init.signal ? { signal: init.signal } : {}) });
    },
  };
}

/**
 * Runs a launch as a Vertex AI CustomJob (reference §8.5): CreateCustomJob from
 * `resource_args.vertex` (or `gcp-vertex`), GetCustomJob until it ends, CancelCustomJob to cancel.
 * The client uses its REST transport, so no gRPC stack is loaded.
 */
export class VertexRunner implements Runner {
  readonly resource = "vertex";

  constructor(private readonly opts: VertexRunnerOptions = {}) {}

  check(runSpec: RunSpec): void {
    checkRunSpecSafety(runSpec, this.opts.config?.secure_mode);
    requireVertexKeys(vertexArgs(runSpec));
    this.region();
  }

  /** environment.region, else GOOGLE_CLOUD_REGION (the official agent also asks gcloud, which the agent image lacks). */
  private region(): string {
    const env = this.opts.config?.environment;
    const region = env?.type === "gcp" && env.region ? env.region : process.env.GOOGLE_CLOUD_REGION;
    if (!region) {
      throw new LaunchError("Vertex runs need a GCP region: set environment: {type: gcp, region: <region>} in the launch config, or GOOGLE_CLOUD_REGION for the agent.", "agent");
    }
    return region;
  }

  private async auth(): Promise<VertexAuth> {
    if (this.opts.auth) return this.opts.auth;
    const { GoogleAuth } = await import("google-auth-library");
    return new GoogleAuth({ scopes: ["https://www.googleapis.com/auth/cloud-platform"] }) as unknown as VertexAuth;
  }

  async run(req: LaunchRequest): Promise<RunHandle> {
    this.check(req.runSpec);
    const region = this.region();
    const auth = await this.auth();
    const { project } = await new GcpEnvironment(region, { auth }).verify();
    const args = vertexArgs(req.runSpec);
    const argsKey = req.runSpec.resource_args?.vertex === args ? "vertex" : "gcp-vertex";
    const request = buildCustomJob({
      args,
      argsKey,
      runId: req.runId,
      runName: req.runSpec.name ?? null,
      image: req.image,
      entrypoint: req.entrypoint,
      runArgs: req.runSpec.overrides?.args ?? [],
      env: req.env,
      project: project!,
      region,
    });
    const { v1: aiplatform } = await import("@google-cloud/aiplatform");
    const endpoint = this.opts.endpoint?.(region) ?? { apiEndpoint: `${region}-aiplatform.googleapis.com` };
    const client: JobServiceClient = new aiplatform.JobServiceClient({ ...endpoint, fallback: true, auth: gaxAuth(auth) } as ConstructorParameters<typeof aiplatform.JobServiceClient>[0]);
    const log = req.logger.child({ runId: req.runId, region, project });

    let name: string;
    try {
      const [job] = await client.createCustomJob(request);
      name = job.name!;
    } catch (err) {
      await client.close().catch(() => undefined);
      const sa = request.customJob.jobSpec?.serviceAccount;
      throw new LaunchError(
        `Vertex AI refused CreateCustomJob in ${request.parent} (${googleError(err)}). The agent needs aiplatform.customJobs.create${sa ? ` and iam.serviceAccounts.actAs on ${sa}` : ""}; check resource_args.${argsKey}.`,
        "run",
        { cause: err },
      );
    }
    const id = name.split("/").pop();
    log.info({ job: name, console: `https://console.cloud.google.com/vertex-ai/locations/${region}/training/${id}?project=${project}` }, "created vertex custom job");

    const started = Date.now();
    const every = this.opts.pollIntervalMs ?? 10_000;
    const startTimeoutMs = this.opts.startTimeoutMs ?? Number(process.env.WANDB_LAUNCH_START_TIMEOUT || 1800) * 1000;
    let cancelledAs: "stopped" | "interrupted" | null = null;
    let timedOut = false;
    let wake = new AbortController();
    const nap = async () => {
      await sleep(every, wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    };
    const cancelJob = async () => {
      try {
        await client.cancelCustomJob({ name });
      } catch (err) {
        // FAILED_PRECONDITION: it already ended; the next read says how.
        log.warn({ err: googleError(err) }, "CancelCustomJob failed");
      }
    };
    const poll = async (): Promise<RunOutcome> => {
      for (;;) {
        if (cancelledAs === "interrupted") return { status: "interrupted", message: `the agent shut down; custom job ${name} keeps running in Vertex AI`, durationMs: Date.now() - started };
        let job;
        try {
          [job] = await client.getCustomJob({ name });
        } catch (err) {
          if ((err as GoogleErrorLike).code === 5) return { status: "failed", message: `custom job ${name} no longer exists (${googleError(err)})`, durationMs: Date.now() - started };
          log.warn({ err: googleError(err) }, "could not read the custom job; retrying");
          await nap();
          continue;
        }
        const state = String(job.state ?? "JOB_STATE_UNSPECIFIED");
        const end = vertexEnd(state);
        const durationMs = Date.now() - started;
        // A job that ended on its own before the cancel took effect is reported as it ended.
        if (end === "cancelled" && cancelledAs === "stopped") return { status: "stopped", message: `run stopped by the agent (CancelCustomJob ${name})`, durationMs };
        if (end && timedOut) {
          return {
            status: "failed",
            message: `Run failed to start within ${Math.round(startTimeoutMs / 1000)} seconds. If you want to increase this timeout, set WANDB_LAUNCH_START_TIMEOUT to a larger value. (custom job ${name} was cancelled)`,
            durationMs,
          };
        }
        if (end === "finished") return { status: "finished", exitCode: 0, durationMs };
        if (end === "cancelled") return { status: "failed", message: `custom job ${name} was cancelled outside the agent`, durationMs };
        if (end === "failed") {
          return { status: "failed", message: `Vertex AI custom job ${name} ended ${state}: ${job.error?.message || "no reason given"}. Logs: Cloud Logging, resource custom job ${id}`, durationMs };
        }
        if (!timedOut && !cancelledAs && NOT_STARTED.has(state) && durationMs > startTimeoutMs) {
          timedOut = true;
          await cancelJob();
          continue;
        }
        await nap();
      }
    };
    const outcome = poll().finally(() => client.close().catch(() => undefined));
    return {
      id: name,
      wait: () => outcome,
      cancel: async (reason) => {
        if (cancelledAs) return void (await outcome);
        cancelledAs = reason;
        if (reason === "stopped") await cancelJob();
        wake.abort();
        await outcome;
      },
    };
  }
}
