import { mkdir, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { Command } from "commander";
import { LaunchError } from "../errors.js";
import { readJobDirectory } from "../jobs/job-dir.js";
import { imageJobMessage } from "../runners/local-process.js";
import {
  LocalQueueStore,
  resolveLocalRoot,
  checkQueueName,
  checkItemId,
  isProcessAlive,
  FINAL_STATES,
  LOCAL_STOP_CHECK_MS,
  type ItemRecord,
} from "../backend/local/store.js";

/** The resources local runners handle (`local` is the official agent's older name for local-container). */
export const LOCAL_RESOURCES = ["local-process", "local-container", "local"] as const;

export interface PushOptions {
  queue: string;
  job: string;
  resource?: string;
  args?: string[];
  entity?: string;
  project?: string;
}

/** The run spec `local push` writes: the same keys W&B puts on its queue items. */
export function localRunSpec(opts: PushOptions): Record<string, unknown> {
  const spec: Record<string, unknown> = { job: resolve(opts.job), resource: opts.resource ?? "local-process" };
  if (opts.args && opts.args.length > 0) spec.overrides = { args: opts.args };
  if (opts.entity) spec.entity = opts.entity;
  if (opts.project) spec.project = opts.project;
  return spec;
}

/**
 * Check at push time what the agent would otherwise only find when it takes the item: the job
 * directory and its wandb-job.json (the agent's own reader and messages), and a resource a local
 * runner can run. Nothing is queued when this throws.
 */
export async function checkLocalPush(opts: PushOptions): Promise<void> {
  checkQueueName(opts.queue);
  const resource = opts.resource ?? "local-process";
  if (!(LOCAL_RESOURCES as readonly string[]).includes(resource)) {
    throw new LaunchError(
      `--resource ${JSON.stringify(resource)} cannot run from a local queue: local runners run local-process or local-container. ` +
        `Use one of those (kubernetes, sagemaker and vertex runs come from W&B queues).`,
    );
  }
  const { dir, job } = await readJobDirectory(opts.job, "--job");
  if (resource === "local-process" && job.source_type === "image") throw new LaunchError(imageJobMessage(dir));
}

export async function pushLocal(root: string, opts: PushOptions): Promise<ItemRecord> {
  await checkLocalPush(opts);
  return new LocalQueueStore(root).push(opts.queue, localRunSpec(opts));
}

/** Who holds an item: `pid@host`, and whether that agent is gone (checkable on this host only). */
function owner(r: ItemRecord): string {
  if (!r.claimedBy) return "-";
  const gone = r.claimedBy.host === hostname() && !isProcessAlive(r.claimedBy.pid);
  return `${r.claimedBy.pid}@${r.claimedBy.host}${gone && !FINAL_STATES.includes(r.state) ? " (gone)" : ""}`;
}

function describe(r: ItemRecord): string {
  const parts = [r.id.padEnd(20), r.queue.padEnd(12), r.state.padEnd(11), `owner=${owner(r)}`, `attempts=${r.attempts}`];
  if (r.stopRequestedAt) parts.push(`stop requested ${r.stopRequestedAt}`);
  if (r.exitCode !== undefined && r.exitCode !== null) parts.push(`exit=${r.exitCode}`);
  if (r.durationMs !== undefined) parts.push(`${(r.durationMs / 1000).toFixed(1)}s`);
  if (r.message) parts.push(r.message.split("\n")[0]!);
  return parts.join(" ");
}

export function registerLocalCommands(program: Command): void {
  const local = program.command("local").description("the embedded local queue (no W&B account needed)");
  const rootOption = ["--local <dir>", "queue root (default: $LAUNCH_AGENT_LOCAL_DIR, else ~/.local/share/launch-agent/queues)"] as const;

  local
    .command("push")
    .description("put a job on a local queue")
    .requiredOption("-q, --queue <name>", "queue name")
    .requiredOption("--job <dir>", "job directory holding wandb-job.json")
    .option("--resource <resource>", "where to run it: local-process or local-container", "local-process")
    .option("-e, --entity <entity>", "WANDB_ENTITY for the run")
    .option("-p, --project <project>", "WANDB_PROJECT for the run")
    .option(...rootOption)
    .argument("[args...]", "arguments for the job's entrypoint (after --)")
    .action(async (args: string[], o: { queue: string; job: string; resource: string; entity?: string; project?: string; local?: string }) => {
      const root = resolveLocalRoot(o.local);
      const record = await pushLocal(root, { ...o, args });
      process.stdout.write(`queued ${record.id} on ${record.queue} (root ${root})\n`);
    });

  local
    .command("list")
    .description("list items and their states")
    .option("-q, --queue <name>", "only this queue")
    .option("--json", "print JSON")
    .option(...rootOption)
    .action(async (o: { queue?: string; json?: boolean; local?: string }) => {
      const items = await new LocalQueueStore(resolveLocalRoot(o.local)).list(o.queue);
      if (o.json) process.stdout.write(JSON.stringify(items, null, 2) + "\n");
      else process.stdout.write(items.length ? items.map(describe).join("\n") + "\n" : "no items\n");
    });

  local
    .command("stop")
    .description("ask the agent running an item to stop it (it gets stopped_run_timeout to finish)")
    .requiredOption("-q, --queue <name>", "queue name")
    .requiredOption("--item <id>", "item id")
    .option(...rootOption)
    .action(async (o: { queue: string; item: string; local?: string }) => {
      process.stdout.write(`${await stopLocal(resolveLocalRoot(o.local), o.queue, o.item)}\n`);
    });
}

/**
 * `local stop`: a queued item is stopped at once (taken off the queue by the same atomic rename a
 * claim uses); a claimed or running one gets a marker its agent acts on. Unknown queues and items
 * and items that already ended are errors, and nothing is written for them.
 */
export async function stopLocal(root: string, queue: string, id: string, now = new Date()): Promise<string> {
  const store = new LocalQueueStore(root);
  checkQueueName(queue);
  checkItemId(id);
  if (!(await store.queueExists(queue))) {
    throw new LaunchError(`queue ${JSON.stringify(queue)} does not exist in ${root}; 'launch-agent local list --local ${root}' shows the queues and items`);
  }
  const record = await store.get(queue, id);
  if (!record) throw new LaunchError(`item ${id} does not exist on queue ${queue} in ${root}; 'launch-agent local list --local ${root}' shows the items`);
  if (FINAL_STATES.includes(record.state)) throw new LaunchError(`item ${id} already ended (${record.state}); there is nothing to stop`);
  if (record.state === "queued" && (await store.stopQueued(queue, id))) return `stopped ${id}: it was still queued and will not run`;

  await mkdir(dirname(store.stopMarker(queue, id)), { recursive: true });
  await writeFile(store.stopMarker(queue, id), now.toISOString());
  const current = (await store.get(queue, id)) ?? record;
  const by = current.claimedBy;
  if (by && by.host === hostname() && !isProcessAlive(by.pid)) {
    return `stop requested for ${id}: its agent (pid ${by.pid}) is gone; the next agent on queue ${queue} stops the run and marks the item stopped`;
  }
  const grace = by?.stoppedRunTimeoutS;
  const when =
    grace !== undefined
      ? `at about ${new Date(now.getTime() + LOCAL_STOP_CHECK_MS + grace * 1000).toISOString()} (stopped_run_timeout ${grace} s after the agent sees the request)`
      : "stopped_run_timeout seconds after the agent sees the request (its config; default 60 s)";
  const who = by ? ` by agent pid ${by.pid} on ${by.host}` : "";
  return `stop requested for ${id} (${current.state}${who}): the run is cancelled ${when} unless it ends first; the item then ends "stopped"`;
}
