import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { homedir, hostname as osHostname, tmpdir } from "node:os";
import { join } from "node:path";
import type { AgentConfig } from "../../config/index.js";
import { LaunchError, errorMessage, type FailureStage } from "../../errors.js";
import { JOB_FILE_NAME, JobFileSchema } from "../../jobs/job-file.js";
import type { RunSpec } from "../../jobs/run-spec.js";
import type { Logger } from "../../log.js";
import type { AgentIdentity, QueueBackend, QueueItem, ResolvedJob, RunCredentials, RunOutcome } from "../types.js";
import { ArtifactStore, jobSourceString, parseArtifactPath, parseArtifactUri, type ArtifactVersion } from "./artifacts.js";
import { resolveCredentials, type WandbCredentials } from "./credentials.js";
import { WandbApiError, WandbAuthError, WandbUnavailableError, isTransientError } from "./errors.js";
import * as ops from "./operations.js";
import { proxySettingsFromEnv, type ProxySettings } from "./proxy.js";
import { isSchedulerSpec, schedulerSlotFree } from "./scheduler.js";
import { DEFAULT_TIMINGS, WandbTransport, extraHeadersFromEnv, timingsFromEnv, type CallOptions, type TransportTimings } from "./transport.js";

export { WandbUnavailableError, WandbApiError, WandbAuthError, isTransientError } from "./errors.js";
export { isSchedulerSpec, SCHEDULER_PLACEHOLDER_URI } from "./scheduler.js";
export { resolveCredentials } from "./credentials.js";

/** Our version, reported at registration unless WANDB_AGENT_VERSION names another. */
/** Start-up calls log each failed attempt at the default level: what failed, when the next try is, until when. */
function startupRetryLog(log: Logger, baseUrl: string): CallOptions {
  return {
    onRetry: (attempt, reason, next) =>
      log.warn(
        { baseUrl, attempt, maxAttempts: next.maxAttempts },
        `could not reach W&B at ${baseUrl}: ${reason}; next try in ${seconds(next.waitMs)} ` +
          `(attempt ${attempt + 1} of ${next.maxAttempts}; giving up in about ${seconds(next.giveUpInMs)} if it stays unreachable; Ctrl-C or SIGTERM stops now)`,
      ),
  };
}

function seconds(ms: number): string {
  return ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}

export const AGENT_VERSION = "wandb-launch-infra@0.1.0";
/** The job type of the agent's own run, as the official agent names it. */
export const AGENT_RUN_JOB_TYPE = "sweep-controller";
/** A preempted run is pushed back at most this many times (reference §7.4). */
export const MAX_RESUMES = 5;

export interface WandbTimings extends TransportTimings {
  /** Attempts for the calls the loop repeats every tick (LaunchAgent, popFromRunQueue). */
  pollAttempts: number;
  /** Waits between RunState checks after a run finished (1, 2, 4 … 64 s ≈ 2 min, reference §7.5). */
  runStateDelaysMs: readonly number[];
}

export const DEFAULT_WANDB_TIMINGS: WandbTimings = {
  ...DEFAULT_TIMINGS,
  pollAttempts: 5,
  runStateDelaysMs: [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000],
};

export interface WandbBackendOptions {
  config: AgentConfig;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** For `~/.netrc`, the wandb settings file and the default artifact cache. */
  homeDir?: string;
  timings?: Partial<WandbTimings>;
  /** Reported at registration; defaults to the OS hostname. */
  hostname?: string;
  /** Verified artifact files by MD5; default `$WANDB_CACHE_DIR/launch-agent`, else `~/.cache/wandb/launch-agent`. */
  cacheDir?: string;
  /** Parent of per-job download directories; default the OS temp dir. */
  workDir?: string;
}

/** The W&B GraphQL launch protocol (reference §7.2–§7.7) behind the agent's QueueBackend. */
export function createWandbBackend(opts: WandbBackendOptions): QueueBackend {
  return new WandbBackend(opts);
}

class WandbBackend implements QueueBackend {
  readonly kind = "wandb" as const;
  readonly #opts: WandbBackendOptions;
  readonly #log: Logger;
  readonly #timings: WandbTimings;
  readonly #creds: WandbCredentials | null;
  readonly #credsError: unknown;
  readonly #transport: WandbTransport | null;
  readonly #artifacts: ArtifactStore | null;
  #entity: string | null = null;
  #agentId: string | null = null;
  #heartbeats = 0;
  /** The agent's own W&B run (reference §7.2 step 7), where failed items' error logs are uploaded; null until created. */
  #agentRun: { entity: string; project: string; name: string } | null = null;
  #agentRunConfig: Record<string, unknown> = {};
  #agentName: string | null = null;
  /** Acked scheduler items not yet finished, for max_schedulers. */
  readonly #schedulers = new Set<string>();

  constructor(opts: WandbBackendOptions) {
    this.#opts = opts;
    this.#log = opts.logger;
    let creds: WandbCredentials | null = null;
    let credsError: unknown = null;
    let timings: WandbTimings = DEFAULT_WANDB_TIMINGS;
    let extraHeaders: Record<string, string> = {};
    let proxy: ProxySettings | null = null;
    try {
      creds = resolveCredentials({ env: opts.env, homeDir: opts.homeDir });
      extraHeaders = extraHeadersFromEnv(opts.env);
      proxy = proxySettingsFromEnv(opts.env);
      timings = { ...DEFAULT_WANDB_TIMINGS, ...timingsFromEnv(opts.env, DEFAULT_WANDB_TIMINGS), ...opts.timings } as WandbTimings;
    } catch (err) {
      creds = null;
      credsError = err; // reported by start(), where the agent expects start-up errors
    }
    this.#creds = creds;
    this.#credsError = credsError;
    this.#timings = timings;
    this.#transport = creds
      ? new WandbTransport({
          baseUrl: creds.baseUrl,
          apiKey: creds.apiKey,
          userAgent: `W&B Internal Client ${AGENT_VERSION}`,
          extraHeaders,
          proxy,
          timings,
          logger: opts.logger,
        })
      : null;
    this.#artifacts = this.#transport
      ? new ArtifactStore({
          transport: this.#transport,
          // Our own subdirectory: the SDK's cache next to it is written by other processes.
          cacheDir: opts.cacheDir ?? join(opts.env.WANDB_CACHE_DIR || join(opts.homeDir ?? homedir(), ".cache", "wandb"), "launch-agent"),
          logger: opts.logger,
        })
      : null;
  }

  get #api(): WandbTransport {
    if (!this.#transport) throw this.#credsError;
    return this.#transport;
  }

  get #agent(): { id: string; entity: string } {
    if (!this.#agentId || !this.#entity) throw new LaunchError("The W&B backend was used before start() registered the agent");
    return { id: this.#agentId, entity: this.#entity };
  }

  async start(queues: readonly string[]): Promise<AgentIdentity> {
    const api = this.#api;
    const { config } = this.#opts;
    if (queues.length === 0) {
      throw new LaunchError("To launch an agent please specify a queue or a list of queues in the configuration file or cli.");
    }
    // Said up front: an unreachable host is retried for minutes (reference §7.1) before start fails,
    // and every failed attempt is logged with the next try, so a wrong WANDB_BASE_URL is seen at once.
    this.#log.info({ baseUrl: api.baseUrl }, "connecting to W&B");
    const retry = startupRetryLog(this.#log, api.baseUrl);
    const viewer = (await api.request(ops.Viewer, {}, retry)).viewer;
    if (!viewer?.entity) {
      throw new LaunchError(
        `Could not connect with current API-key. Please relogin using \`wandb login --relogin\` or set WANDB_API_KEY to a valid key for ${api.baseUrl}.`,
      );
    }
    const entity = config.entity || viewer.entity;
    this.#entity = entity;

    const project = ops.LAUNCH_PROJECT;
    const found = await api.request(ops.ProjectRunQueues, { entity, projectName: project }, retry);
    if (!found.project) {
      throw new LaunchError(`Error fetching run queues for ${entity} check that you have access to this entity and project`);
    }
    let available = found.project.runQueues.map((q) => ({ id: q.id, name: q.name }));
    if (available.length === 0) {
      const created = (await api.request(ops.CreateRunQueue, { entity, project, queueName: "default", access: "PROJECT" }, retry)).createRunQueue;
      if (!created?.success || !created.queueID) {
        throw new LaunchError(`Unable to create default queue for ${entity}/${project}. No queues for agent to poll`);
      }
      this.#log.info({ entity }, "created the default run queue");
      available = [{ id: created.queueID, name: "default" }];
    }
    const ids = queues.map((name) => available.find((q) => q.name === name)?.id);
    if (ids.some((id) => id === undefined)) {
      throw new LaunchError(
        `Could not start launch agent: Not all of requested queues (${queues.join(", ")}) found. ` +
          `Available queues for this project: ${available.map((q) => q.name).join(",")}`,
      );
    }

    const envVersion = this.#opts.env.WANDB_AGENT_VERSION;
    const version = envVersion && envVersion !== "wandb-launch-agent" ? envVersion : AGENT_VERSION;
    const { project: _dropped, ...sent } = { ...config, entity } as AgentConfig & { project?: unknown };
    const registered = await api.request(ops.CreateLaunchAgent, {
      entity,
      project,
      queues: ids as string[],
      hostname: this.#opts.hostname ?? osHostname(),
      agentConfig: JSON.stringify(sent),
      version,
    }, retry);
    this.#agentId = registered.createLaunchAgent.launchAgentId;

    const team = await api.request(ops.EntityIsTeam, { entity }, retry);
    if (!team.entity) throw new LaunchError(`Error fetching entity ${entity} check that you have access to this entity`);
    if (team.entity.isTeam) {
      this.#log.warn(`Agent is running on team entity (${entity}). Members of this team will be able to run code on this device.`);
    }
    const agent = (await api.request(ops.LaunchAgent, { agentId: this.#agentId }, retry)).launchAgent;
    const identity = { id: this.#agentId, name: agent?.name ?? this.#agentId, entity };
    this.#agentName = identity.name;
    this.#agentRunConfig = sent;
    await this.#ensureAgentRun();
    this.#log.info({ agent: identity.name, entity, queues, baseUrl: api.baseUrl }, "registered with W&B");
    return identity;
  }

  async heartbeat(status: "POLLING" | "RUNNING"): Promise<{ stopPolling: boolean }> {
    const { id } = this.#agent;
    return this.#loopCall("LaunchAgent", async () => {
      const agent = (await this.#api.request(ops.LaunchAgent, { agentId: id }, { maxAttempts: this.#timings.pollAttempts })).launchAgent;
      // The status report rides every second tick, as the official agent does.
      if (this.#heartbeats++ % 2 === 0) await this.#reportStatus(status);
      return { stopPolling: agent?.stopPolling === true };
    });
  }

  async pop(queue: string): Promise<QueueItem | null> {
    const agent = this.#agent;
    const popped = await this.#loopCall("popFromRunQueue", async () =>
      (
        await this.#api.request(
          ops.PopFromRunQueue,
          { entity: agent.entity, project: ops.LAUNCH_PROJECT, queueName: queue, launchAgentId: agent.id },
          { maxAttempts: this.#timings.pollAttempts },
        )
      ).popFromRunQueue,
    );
    if (!popped?.runQueueItemId) return null;
    const runSpec = parseRunSpec(popped.runSpec);
    if (isSchedulerSpec(runSpec) && !schedulerSlotFree(this.#schedulers.size, this.#opts.config.max_schedulers)) {
      // Not acked: W&B hands the item out again after about a minute.
      this.#log.warn(
        { item: popped.runQueueItemId, queue, running: this.#schedulers.size },
        `Skipping sweep scheduler: already running the maximum of ${this.#opts.config.max_schedulers} (max_schedulers)`,
      );
      return null;
    }
    return { id: popped.runQueueItemId, queue, runSpec };
  }

  async ack(item: QueueItem, runId: string): Promise<void> {
    let retried = false;
    const res = (await this.#api.request(ops.AckRunQueueItem, { itemId: item.id, runId: String(runId) }, { onRetry: () => (retried = true) })).ackRunQueueItem;
    if (!res?.success && retried) {
      // An attempt whose answer was lost may have acked it already; the item is leased to us, so
      // "already acknowledged" after a retry is our own ack, not another agent's.
      this.#log.warn({ item: item.id }, "ack was retried and W&B reports the item already acknowledged; assuming the lost attempt acked it");
    } else if (!res?.success) {
      throw new WandbApiError("ackRunQueueItem", "Error acking run queue item. Item may have already been acknowledged by another process");
    }
    if (isSchedulerSpec(item.runSpec)) this.#schedulers.add(item.id);
  }

  async resolveJob(item: QueueItem, runSpec: RunSpec): Promise<ResolvedJob> {
    const store = this.#artifacts;
    if (!store) throw this.#credsError;
    if (runSpec.sweep_id) await this.#checkSweep(runSpec.sweep_id, runSpec);
    if (!runSpec.job) throw new LaunchError(`Queue item ${item.id} names no job; push a job (runSpec.job = entity/project/job-name:alias)`);
    const path = parseArtifactPath(runSpec.job, { entity: runSpec.entity ?? this.#entity, project: runSpec.project ?? "uncategorized" });
    const jobArt = await store.byPath(path, "job");
    const name = `${path.entity}/${path.project}/${path.name}`;
    const work = await mkdtemp(join(this.#opts.workDir ?? tmpdir(), "wandb-job-"));
    const cleanup = () => rm(work, { recursive: true, force: true });
    try {
      const jobDir = join(work, "job");
      const codeDir = join(work, "code");
      await store.download(jobArt, jobDir);
      const jobFilePath = join(jobDir, JOB_FILE_NAME);
      if (!existsSync(jobFilePath)) throw new LaunchError(`Job ${name} has no ${JOB_FILE_NAME}; it is not a launch job artifact`);
      let raw: unknown;
      try {
        raw = JSON.parse(await readFile(jobFilePath, "utf8"));
      } catch {
        throw new LaunchError(`Job ${name}: ${JOB_FILE_NAME} is not valid JSON`);
      }
      const parsed = JobFileSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new LaunchError(`Job ${name}: ${JOB_FILE_NAME} field ${issue?.path.join(".") || "(root)"}: ${issue?.message}`);
      }
      const job = parsed.data;
      let code: ArtifactVersion | undefined;
      if (job.source_type === "artifact") {
        code = await this.#downloadCode(store, name, job.source.artifact, path, codeDir);
      } else {
        await mkdir(codeDir, { recursive: true }); // repo jobs are checked out here; image jobs need none
      }
      const files: ResolvedJob["files"] = {};
      if (existsSync(join(jobDir, "requirements.frozen.txt"))) files.requirementsFrozen = join(jobDir, "requirements.frozen.txt");
      if (existsSync(join(jobDir, "diff.patch"))) files.diffPatch = join(jobDir, "diff.patch");
      const qualified = (a: ArtifactVersion) => `${a.entity}/${a.project}/${a.name}`;
      const artifacts = { job: qualified(jobArt), ...(code ? { code: qualified(code) } : {}) };
      return { name, job, codeDir, sourceString: jobSourceString(jobArt), files, artifacts, cleanup };
    } catch (err) {
      await cleanup();
      throw err;
    }
  }

  async #downloadCode(store: ArtifactStore, jobName: string, ref: string | undefined, jobPath: { entity: string; project: string }, codeDir: string) {
    if (!ref) throw new LaunchError(`Job ${jobName} is an artifact job but its source.artifact is missing`);
    const target = parseArtifactUri(ref);
    let code: ArtifactVersion | null;
    if ("id" in target) code = await store.byId(target.id, "code");
    else code = await store.byPath(parseArtifactPath(target.path, { entity: jobPath.entity, project: jobPath.project }), "code");
    if (!code) throw new LaunchError(`Job ${jobName}: no code artifact found for ${ref}`);
    if (code.state === "DELETED") throw new LaunchError(`Job ${jobName} references deleted code artifact ${code.name}`);
    await store.download(code, codeDir);
    return code;
  }

  async markRunning(item: QueueItem, details: { runId: string; image: string | null }): Promise<void> {
    this.#log.debug({ item: item.id, runId: details.runId }, "run handed to runner");
    await this.#reportStatus("RUNNING");
  }

  async isStopRequested(item: QueueItem, runSpec: RunSpec, runId: string): Promise<boolean> {
    try {
      const data = await this.#api.request(
        ops.RunStoppedStatus,
        { projectName: targetProject(runSpec), entityName: runSpec.entity ?? this.#entity, runId },
        { maxAttempts: this.#timings.pollAttempts },
      );
      return data.project?.run?.stopped === true;
    } catch (err) {
      if (err instanceof WandbAuthError) throw err;
      // Asked again next tick; a missing answer must not stop a healthy run.
      this.#log.debug({ item: item.id, err: errorMessage(err) }, "could not read the run's stop status");
      return false;
    }
  }

  async complete(item: QueueItem, runSpec: RunSpec, runId: string, outcome: RunOutcome): Promise<void> {
    this.#schedulers.delete(item.id);
    switch (outcome.status) {
      case "finished":
        if (!(await this.#runStarted(runSpec, runId))) {
          await this.fail(item, "run", "The submitted job exited successfully but failed to call wandb.init");
        }
        return;
      case "failed":
        if (isSchedulerSpec(runSpec)) await this.#cancelSweep(runSpec, runId);
        await this.fail(item, "run", outcome.message ?? failedMessage(outcome));
        return;
      case "preempted":
        await this.#requeue(item, runSpec, runId);
        return;
      case "stopped":
        return; // the user stopped it: W&B already knows
      case "interrupted":
        // The agent is shutting down and cancelled the run (or never started it). Say so on the item rather
        // than leave it claimed by an agent that is gone (the official agent leaves it).
        await this.fail(item, "agent", outcome.message ?? "the launch agent shut down and cancelled this run; push it again to rerun it");
        return;
    }
  }

  async fail(item: QueueItem, stage: FailureStage, message: string, log?: string): Promise<void> {
    this.#schedulers.delete(item.id);
    const contents = `${new Date().toISOString()} run queue item ${item.id} failed at stage ${stage}\n\n${log ?? message}\n`;
    const filePaths = await this.#attach(item, "error", "error.log", contents);
    const res = await this.#api.request(ops.FailRunQueueItem, { runQueueItemId: item.id, message, stage, filePaths });
    if (!res.failRunQueueItem?.success) this.#log.warn({ item: item.id, stage }, "W&B did not accept the failure report");
  }

  async warn(item: QueueItem, stage: string, message: string): Promise<void> {
    const res = await this.#api.request(ops.UpdateRunQueueItemWarning, { runQueueItemId: item.id, message, stage, filePaths: [] });
    if (!res.updateRunQueueItemWarning?.success) this.#log.warn({ item: item.id, stage }, "W&B did not accept the warning");
  }

  runCredentials(): RunCredentials {
    return this.#creds ? { baseUrl: this.#creds.baseUrl, apiKey: this.#creds.apiKey } : {};
  }

  async shutdown(): Promise<void> {
    // Stop retries in flight (start-up's too) so an outage cannot hold up shutdown; KILLED then gets one attempt.
    this.#transport?.close();
    if (!this.#transport || !this.#agentId) return;
    await this.#reportStatus("KILLED");
  }

  /**
   * The agent's run, as `wandb.init(project="model-registry", id=<agent name>, job_type="sweep-controller")`
   * creates it, with the agent's config. Created at start; a failure only costs the error-log links, so it is
   * logged and tried again when a log is next attached.
   */
  async #ensureAgentRun(): Promise<{ entity: string; project: string; name: string } | null> {
    if (this.#agentRun) return this.#agentRun;
    const entity = this.#entity;
    const name = this.#agentName;
    if (!entity || !name) return null;
    try {
      // W&B run config format: every key wrapped as {desc, value}.
      const config = Object.fromEntries(Object.entries(this.#agentRunConfig).map(([k, v]) => [k, { desc: null, value: v }]));
      const res = await this.#api.request(
        ops.UpsertBucket,
        { name, project: ops.LAUNCH_PROJECT, entity, config: JSON.stringify(config), host: this.#opts.hostname ?? osHostname(), jobType: AGENT_RUN_JOB_TYPE },
        { maxAttempts: this.#timings.pollAttempts },
      );
      const bucket = res.upsertBucket?.bucket;
      if (!bucket) throw new WandbApiError("UpsertBucket", "W&B returned no run");
      this.#agentRun = { entity: bucket.project?.entity.name ?? entity, project: bucket.project?.name ?? ops.LAUNCH_PROJECT, name: bucket.name };
      this.#log.debug({ run: `${entity}/${ops.LAUNCH_PROJECT}/${name}` }, "created the agent's run");
      return this.#agentRun;
    } catch (err) {
      if (err instanceof WandbAuthError) throw err;
      this.#log.warn({ err: errorMessage(err) }, "could not create the agent's W&B run; failed items will not link to an error log until it can be created");
      return null;
    }
  }

  /**
   * Upload `contents` to the agent's run as `<item id>/<kind>/<file>` (the official agent's layout) and return
   * the path for `filePaths`; null when it could not be uploaded (the failure is still reported, without it).
   */
  async #attach(item: QueueItem, kind: "error" | "warning", file: string, contents: string): Promise<string[] | null> {
    try {
      const run = await this.#ensureAgentRun();
      if (!run) return null;
      const path = `${item.id}/${kind}/${file}`;
      const target = { entity: run.entity, project: run.project, run: run.name, files: [path] };
      // Best effort with few attempts: in an outage the failure report itself matters more than its log.
      const brief = { maxAttempts: this.#timings.pollAttempts };
      const created = (await this.#api.request(ops.CreateRunFiles, target, brief)).createRunFiles;
      const url = created?.files.find((f) => f.name === path)?.uploadUrl;
      if (!created || !url) throw new WandbApiError("CreateRunFiles", `W&B gave no upload URL for ${path}`);
      await this.#api.upload(url, Buffer.from(contents, "utf8"), parseUploadHeaders(created.uploadHeaders), path, brief);
      await this.#api.request(ops.MarkRunFilesUploaded, target, brief);
      return [path];
    } catch (err) {
      if (err instanceof WandbAuthError) throw err;
      this.#log.warn({ item: item.id, err: errorMessage(err) }, `could not upload ${file} for the item; reporting it without the file`);
      return null;
    }
  }

  /** A sweep's runs start only while it is RUNNING or PAUSED (reference §7.4 step 4); checked after the ack, as the official agent does. */
  async #checkSweep(sweepId: string, runSpec: RunSpec): Promise<void> {
    let state: string;
    try {
      const data = await this.#api.request(ops.GetSweepState, { entity: runSpec.entity ?? this.#entity, project: runSpec.project ?? null, sweep: sweepId });
      state = data.project?.sweep?.state ?? "not found";
    } catch (err) {
      if (err instanceof WandbAuthError) throw err;
      state = `unknown: ${errorMessage(err)}`;
    }
    if (state !== "RUNNING" && state !== "PAUSED") {
      throw new LaunchError(`Launch agent picked up sweep job, but sweep (${sweepId}) was in a terminal state (${state})`);
    }
  }

  /**
   * A failed sweep scheduler would leave its sweep RUNNING in the UI forever: set it to CANCELED, as the
   * official agent does. The scheduler's run id is its sweep's id.
   */
  async #cancelSweep(runSpec: RunSpec, sweepId: string): Promise<void> {
    const entity = runSpec.entity ?? this.#entity;
    const project = targetProject(runSpec);
    try {
      const sweep = (await this.#api.request(ops.GetSweepState, { entity, project, sweep: sweepId })).project?.sweep;
      if (!sweep) {
        this.#log.warn({ sweep: sweepId, entity, project }, "the failed scheduler's sweep was not found; it was not cancelled");
        return;
      }
      const current = sweep.state.toUpperCase();
      if (!["RUNNING", "PAUSED", "PENDING"].includes(current)) {
        this.#log.info({ sweep: sweepId, state: current }, "the failed scheduler's sweep has already ended");
        return;
      }
      await this.#api.request(ops.UpsertSweep, { id: sweep.id, state: "CANCELED", entityName: entity, projectName: project });
      this.#log.info({ sweep: sweepId }, "sweep scheduler failed; sweep set to CANCELED");
    } catch (err) {
      if (err instanceof WandbAuthError) throw err;
      this.#log.warn({ sweep: sweepId, err: errorMessage(err) }, "could not set the failed scheduler's sweep to CANCELED");
    }
  }

  /** RunState polled with backoff: anything but `pending` means the run called wandb.init. */
  async #runStarted(runSpec: RunSpec, runId: string): Promise<boolean> {
    const entity = runSpec.entity ?? this.#entity;
    const project = targetProject(runSpec);
    if (!entity || !project) return false;
    for (const wait of [0, ...this.#timings.runStateDelaysMs]) {
      if (wait > 0) await this.#timings.sleep(wait);
      try {
        const data = await this.#api.request(ops.RunState, { project, entity, name: runId });
        const state = data.project?.run?.state;
        if (state && state !== "pending") return true;
      } catch (err) {
        if (err instanceof WandbAuthError) throw err;
        this.#log.debug({ runId, err: errorMessage(err) }, "run not visible in W&B yet");
      }
    }
    return false;
  }

  async #requeue(item: QueueItem, runSpec: RunSpec, runId: string): Promise<void> {
    const resumes = runSpec._resume_count ?? 0;
    if (resumes >= MAX_RESUMES) {
      await this.fail(item, "run", `Run ${runId} was preempted again after ${MAX_RESUMES} resumes; not requeueing it`);
      return;
    }
    const { sweep_id: _sweep, ...rest } = runSpec;
    const spec = { ...rest, run_id: runId, _resume_count: resumes + 1 };
    const res = await this.#api.request(ops.PushToRunQueueByName, {
      entityName: this.#agent.entity,
      projectName: ops.LAUNCH_PROJECT,
      queueName: item.queue,
      runSpec: JSON.stringify(spec),
    });
    this.#log.info({ item: item.id, newItem: res.pushToRunQueueByName?.runQueueItemId, runId, resume: resumes + 1 }, "preempted run requeued");
  }

  async #reportStatus(status: "POLLING" | "RUNNING" | "KILLED"): Promise<void> {
    try {
      const res = await this.#api.request(ops.UpdateLaunchAgent, { agentId: this.#agent.id, agentStatus: status }, { maxAttempts: this.#timings.pollAttempts });
      if (!res.updateLaunchAgent?.success) this.#log.warn(`Failed to update agent status to ${status}`);
    } catch (err) {
      if (err instanceof WandbAuthError) throw err;
      this.#log.warn({ err: errorMessage(err) }, `Failed to update agent status to ${status}`);
    }
  }

  /** Loop calls: everything but a rejected key becomes WandbUnavailableError, which the loop rides out. */
  async #loopCall<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof WandbAuthError || isTransientError(err)) throw err;
      throw new WandbUnavailableError(operation, errorMessage(err), { cause: err });
    }
  }
}

/** runSpec arrives as a JSON scalar (object) or, from older servers, a JSON string; a bad string is kept raw for the pipeline to reject. */
export function parseRunSpec(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** wandb-core's form of upload headers: `Name:Value` strings. */
export function parseUploadHeaders(lines: readonly string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}

function targetProject(runSpec: RunSpec): string | null {
  return runSpec.project ? runSpec.project.toLowerCase() : null;
}

function failedMessage(outcome: RunOutcome): string {
  return outcome.exitCode != null ? `The submitted run failed with exit code ${outcome.exitCode}` : "The submitted run failed";
}
