import { mkdir, writeFile } from "node:fs/promises";
import { resolve, join } from "node:path";
import { Command } from "commander";
import { LocalQueueStore, resolveLocalRoot, checkQueueName, type ItemRecord } from "../backend/local/store.js";

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

export async function pushLocal(root: string, opts: PushOptions): Promise<ItemRecord> {
  checkQueueName(opts.queue);
  return new LocalQueueStore(root).push(opts.queue, localRunSpec(opts));
}

function describe(r: ItemRecord): string {
  const parts = [r.id.padEnd(20), r.queue.padEnd(12), r.state.padEnd(11)];
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
      const dir = join(resolveLocalRoot(o.local), checkQueueName(o.queue), "stop");
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, o.item), new Date().toISOString());
      process.stdout.write(`stop requested for ${o.item}\n`);
    });
}
