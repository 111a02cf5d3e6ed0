import { randomBytes } from "node:crypto";
import type { AgentConfig } from "./config/index.js";
import { errorMessage, errorStage, LaunchError } from "./errors.js";
import type { Logger } from "./log.js";
import type { AgentIdentity, QueueBackend, QueueItem, ResolvedJob, RunOutcome } from "./backend/types.js";
import type { Builder } from "./builders/types.js";
import { NOOP_DEFAULT_BASE_IMAGE } from "./builders/noop.js";
import type { RunHandle, Runner } from "./runners/types.js";
import { DEFAULT_RESOURCE, RunSpecSchema, type RunSpec } from "./jobs/run-spec.js";
import { buildRunEnv } from "./jobs/run-env.js";
import { fillMacros, missingRunMacros } from "./jobs/macros.js";
import { formatZodIssues } from "./jobs/zod-format.js";
import { quietObserver, type AgentObserver } from "./observer.js";

/** What the agent gives each queue item's task. Every network effect is behind one of these. */
export interface ItemDeps {
  backend: QueueBackend;
  config: AgentConfig;
  identity: AgentIdentity;
  logger: Logger;
  selectBuilder(config: AgentConfig): Promise<Builder>;
  createRunner(resource: string, identity: AgentIdentity): Runner | Promise<Runner>;
  /** Fetches git sources etc. into the job's code directory (image builds module). */
  prepareJobSource(job: ResolvedJob, logger: Logger): Promise<ResolvedJob>;
  /** How often a running item asks the backend whether a user stopped it. */
  stopCheckIntervalMs?: number;
  /** Told of builds, runs and item ends (the metrics endpoint). */
  observer?: AgentObserver;
}

/** Run ids are 8 characters of [a-z0-9], like W&B's. */
export function newRunId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join("");
}

/** Why an item ended, for the agent's bookkeeping and tests. */
export type ItemResult = { item: QueueItem; runId?: string; outcome?: RunOutcome; error?: string; stage?: string };

/**
 * One queue item from pop to report: validate → ack → fetch job → image → run → monitor → report.
 * Whatever goes wrong fails only this item, with a message, and never escapes to the loop.
 */
export class ItemTask {
  readonly done: Promise<ItemResult>;
  private handle: RunHandle | null = null;
  private interrupted = false;
  private readonly log: Logger;
  private readonly observer: AgentObserver;

  constructor(
    readonly item: QueueItem,
    private readonly deps: ItemDeps,
  ) {
    this.log = deps.logger.child({ queue: item.queue, item: item.id });
    this.observer = deps.observer ?? quietObserver;
    this.done = this.execute().then((result) => {
      this.observer.itemDone(result.outcome?.status ?? (result.stage ? "failed" : "not_acknowledged"), result.stage ?? (result.outcome ? "run" : "ack"));
      return result;
    });
  }

  /** The agent is shutting down: stop the run (or do not start it) and report the item interrupted. */
  async interrupt(): Promise<void> {
    this.interrupted = true;
    await this.handle?.cancel("interrupted");
  }

  private async execute(): Promise<ItemResult> {
    const { backend } = this.deps;
    const parsed = RunSpecSchema.safeParse(this.item.runSpec);
    if (!parsed.success) {
      const detail = this.item.runSpec === null || typeof this.item.runSpec !== "object" ? "runSpec must be a JSON object" : formatZodIssues(parsed.error);
      return this.failed(`invalid run spec: ${detail}`, "agent");
    }
    const runSpec = parsed.data;
    const runId = runSpec.run_id ?? newRunId();
    try {
      await backend.ack(this.item, runId);
    } catch (err) {
      // Someone else owns it (or the backend refused): it is not ours to fail.
      this.log.warn({ err: errorMessage(err) }, "could not acknowledge item; leaving it");
      return { item: this.item, runId, error: errorMessage(err) };
    }
    let job: ResolvedJob | null = null;
    try {
      job = await backend.resolveJob(this.item, runSpec);
      job = await this.deps.prepareJobSource(job, this.log);
      if (this.interrupted) return this.report(runSpec, runId, { status: "interrupted", message: "the agent shut down before the run started" });
      const outcome = await this.launch(runSpec, runId, job);
      return this.report(runSpec, runId, outcome);
    } catch (err) {
      if (this.interrupted) return this.report(runSpec, runId, { status: "interrupted", message: `the agent shut down: ${errorMessage(err)}` });
      return this.failed(errorMessage(err), errorStage(err), runId, errorLog(err));
    } finally {
      await job?.cleanup().catch((err) => this.log.warn({ err: errorMessage(err) }, "could not remove job files"));
    }
  }

  private async launch(spec: RunSpec, runId: string, job: ResolvedJob): Promise<RunOutcome> {
    let runSpec = spec;
    const { backend, config } = this.deps;
    const resource = runSpec.resource ?? DEFAULT_RESOURCE;
    const runner = await this.deps.createRunner(resource, this.deps.identity);
    // Checked before any build: starting the run without the services it asked for would fail later, or worse, not.
    const services = runSpec.additional_services;
    if (Array.isArray(services) && services.length > 0 && !runner.additionalServices) {
      throw new LaunchError(
        `the run spec asks for additional_services (${services.length}), which only the kubernetes runner starts (as with the official agent), not ${resource}: remove them from the run spec or launch it on a kubernetes queue; the run was not started`,
        "run",
      );
    }
    runner.check?.(runSpec);
    const { image, mountCode, command, autoBaseImage } = await this.chooseImage(runSpec, runId, job, resource);
    if (this.interrupted) return { status: "interrupted", message: "the agent shut down before the run started" };
    runSpec = withMacrosFilled(runSpec, resource, runId, image);
    const credentials = backend.runCredentials();
    const env = buildRunEnv({
      runSpec,
      runId,
      queue: this.item.queue,
      agentEntity: this.deps.identity.entity,
      itemId: this.item.id,
      baseUrl: credentials.baseUrl,
      apiKey: credentials.apiKey,
      dockerImage: job.job.source_type === "image" ? image : null,
      jobName: job.name,
      ...(runner.envShardLimit !== undefined ? { shardLimit: runner.envShardLimit } : {}),
    });
    // As in the official agent: an empty override is no override, and arguments come only from the
    // run spec (a job's `source.args` are what the UI pre-fills into overrides.args, never used directly).
    const entrypoint = command ?? nonEmpty(runSpec.overrides?.entry_point) ?? job.job.source.entrypoint ?? [];
    const args = nonEmpty(runSpec.overrides?.args) ?? [];
    this.log.info({ runId, resource, image }, "starting run");
    const runStarted = Date.now();
    const handle = await runner.run({
      runId,
      runSpec,
      job,
      image,
      entrypoint,
      args,
      env,
      mountCode,
      autoBaseImage,
      logger: this.log,
      warn: (message) => backend.warn(this.item, "Kubernetes", message),
    });
    this.handle = handle;
    if (this.interrupted) await handle.cancel("interrupted");
    await backend.markRunning(this.item, { runId, image, resource, ...(handle.process ? { process: handle.process } : {}) });
    const outcome = await this.monitor(handle, runSpec, runId, config.stopped_run_timeout ?? 60);
    this.observer.runEnded(outcome.status, (Date.now() - runStarted) / 1000);
    return outcome;
  }

  /** Image jobs run their image; base-image jobs and local processes need none built; the rest build (§2.2, §2.8). */
  private async chooseImage(
    runSpec: RunSpec,
    runId: string,
    job: ResolvedJob,
    resource: string,
  ): Promise<{ image: string | null; mountCode: boolean; command?: string[]; autoBaseImage?: boolean }> {
    const source = job.job.source;
    if (job.job.source_type === "image") {
      if (!source.image) throw new LaunchError(`job ${job.name} is an image job without source.image: add the image to its wandb-job.json`);
      return { image: source.image, mountCode: false };
    }
    if (resource === "local-process") return { image: null, mountCode: false };
    if (source.base_image) return { image: source.base_image, mountCode: true };
    const builder = await this.deps.selectBuilder(this.deps.config);
    if (builder.type === "noop") {
      const image = queueBaseImage(runSpec, resource) ?? NOOP_DEFAULT_BASE_IMAGE;
      await this.deps.backend.warn(this.item, "build", `No builder configured. Using base image: ${image}`);
      return { image, mountCode: true, autoBaseImage: true };
    }
    const buildStarted = Date.now();
    const result = await builder.build({
      runId,
      runSpec,
      job,
      resource,
      logger: this.log,
      warn: (message) => this.deps.backend.warn(this.item, "build", message),
    });
    this.observer.build(result.built, (Date.now() - buildStarted) / 1000, result.uploadMs === undefined ? undefined : result.uploadMs / 1000);
    this.log.info({ image: result.image, built: result.built }, result.built ? "image built and pushed" : "image exists; build skipped");
    return { image: result.image, mountCode: false, command: result.command };
  }

  /** Wait for the run; if a user stops it, give it `stopped_run_timeout` seconds, then cancel it. */
  private async monitor(handle: RunHandle, runSpec: RunSpec, runId: string, stoppedRunTimeoutS: number): Promise<RunOutcome> {
    const every = this.deps.stopCheckIntervalMs ?? 10_000;
    let settled = false;
    let cancelTimer: NodeJS.Timeout | undefined;
    const stopWatching = new AbortController();
    const watcher = (async () => {
      while (!settled) {
        await sleep(every, stopWatching.signal);
        if (settled || cancelTimer) continue;
        const stop = await this.deps.backend.isStopRequested(this.item, runSpec, runId).catch(() => false);
        if (stop && !settled) {
          this.log.info({ runId, stoppedRunTimeoutS }, "stop requested; cancelling the run after stopped_run_timeout");
          cancelTimer = setTimeout(() => void handle.cancel("stopped"), stoppedRunTimeoutS * 1000);
        }
      }
    })();
    try {
      return await handle.wait();
    } finally {
      settled = true;
      clearTimeout(cancelTimer);
      stopWatching.abort();
      await watcher;
    }
  }

  private async report(runSpec: RunSpec, runId: string, outcome: RunOutcome): Promise<ItemResult> {
    try {
      await this.deps.backend.complete(this.item, runSpec, runId, outcome);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, "could not report the run's end to the backend");
    }
    const level = outcome.status === "finished" ? "info" : "warn";
    this.log[level]({ runId, status: outcome.status, exitCode: outcome.exitCode, durationMs: outcome.durationMs, message: outcome.message }, `run ${outcome.status}`);
    return { item: this.item, runId, outcome };
  }

  private async failed(message: string, stage: ReturnType<typeof errorStage>, runId?: string, log?: string): Promise<ItemResult> {
    this.log.error({ stage, runId }, message);
    try {
      await this.deps.backend.fail(this.item, stage, message, log);
    } catch (err) {
      this.log.error({ err: errorMessage(err) }, "could not report the failure to the backend");
    }
    return { item: this.item, runId, error: message, stage };
  }
}

/** An item's error log: the error's stack and its causes (the official agent uploads its traceback). */
export function errorLog(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? (e.stack ?? `${e.name}: ${e.message}`) : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join("\nCaused by: ");
}

/** Names of agent environment variables that are never substituted into resource args: a queue user must not be able to copy the agent's credentials into a job. */
const SECRET_ENV_NAME = /KEY|SECRET|TOKEN|PASSWORD|CREDENTIAL/i;

const VERTEX_RESOURCES = ["vertex", "gcp-vertex"];

/** The run spec with `${macro}`s in `resource_args.<resource>` and `additional_services` filled (reference §7.9). */
function withMacrosFilled(runSpec: RunSpec, resource: string, runId: string, image: string | null): RunSpec {
  // Vertex reads resource_args.vertex, else resource_args.gcp-vertex, whichever resource name the spec uses.
  const key = VERTEX_RESOURCES.includes(resource) ? VERTEX_RESOURCES.find((k) => runSpec.resource_args?.[k]) ?? resource : resource;
  const args = runSpec.resource_args?.[key];
  const services = runSpec.additional_services;
  const hasServices = Array.isArray(services) && services.length > 0;
  if (args === undefined && !hasServices) return runSpec;
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !SECRET_ENV_NAME.test(name)));
  const values = {
    project_name: runSpec.project?.toLowerCase() ?? null,
    entity_name: runSpec.entity ?? null,
    run_id: runId,
    run_name: runSpec.name ?? null,
    image_uri: image,
    author: runSpec.author ?? null,
  };
  const missing = [
    ...(args === undefined ? [] : missingRunMacros(args, values, env).map((m) => `${m.macro} at resource_args.${key}${m.path ? `.${m.path}` : ""}`)),
    ...(hasServices ? missingRunMacros(services, values, env).map((m) => `${m.macro} at additional_services${m.path ? (m.path.startsWith("[") ? m.path : `.${m.path}`) : ""}`) : []),
  ];
  if (missing.length > 0) {
    throw new LaunchError(`the run has no value for ${missing.join(", ")}: set it on the run (e.g. its author or name) or remove the macro from the queue's resource args or the run's additional_services`, "agent");
  }
  return {
    ...runSpec,
    ...(args === undefined ? {} : { resource_args: { ...runSpec.resource_args, [key]: fillMacros(args, values, env) } }),
    ...(hasServices ? { additional_services: fillMacros(services, values, env) as unknown[] } : {}),
  };
}

function nonEmpty<T>(list: T[] | null | undefined): T[] | undefined {
  return list && list.length > 0 ? list : undefined;
}

/** `resource_args.<resource>.builder.base_image` (or the accelerator/cuda spelling) from the queue. */
function queueBaseImage(runSpec: RunSpec, resource: string): string | undefined {
  const args = runSpec.resource_args?.[resource];
  if (!args || typeof args !== "object") return undefined;
  const builder = (args as Record<string, unknown>).builder;
  if (!builder || typeof builder !== "object") return undefined;
  const value = (builder as Record<string, unknown>).base_image;
  return typeof value === "string" && value ? value : undefined;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
