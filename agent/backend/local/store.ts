import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, writeFile } from "node:fs/promises";
import { hostname, homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";

/**
 * The embedded queue: a directory per queue, a directory per item state, one JSON file per item.
 *
 *   <root>/<queue>/queued/<id>.json → claimed/ → running/ → finished/ | failed/ | interrupted/
 *
 * An item moves by rename(2), which is atomic within a file system: when several agents race for the
 * same queued file exactly one rename succeeds and the others get ENOENT, so no item runs twice.
 * Updates are written to a temp file and renamed over the item, so a reader never sees half a record.
 */
export const ITEM_STATES = ["queued", "claimed", "running", "finished", "failed", "interrupted"] as const;
export type ItemState = (typeof ITEM_STATES)[number];

export const ItemRecordSchema = z.object({
  id: z.string(),
  queue: z.string(),
  state: z.enum(ITEM_STATES),
  runSpec: z.unknown(),
  createdAt: z.string(),
  claimedBy: z.object({ agent: z.string(), pid: z.number(), host: z.string() }).optional(),
  runId: z.string().optional(),
  image: z.string().nullish(),
  exitCode: z.number().nullish(),
  durationMs: z.number().optional(),
  message: z.string().optional(),
  warnings: z.array(z.object({ stage: z.string(), message: z.string() })).default([]),
  history: z.array(z.object({ state: z.enum(ITEM_STATES), at: z.string() })).default([]),
});
export type ItemRecord = z.infer<typeof ItemRecordSchema>;

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Where the queue root is: `--local DIR`, else $LAUNCH_AGENT_LOCAL_DIR, else ~/.local/share/launch-agent/queues. */
export function resolveLocalRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.LAUNCH_AGENT_LOCAL_DIR) return resolve(env.LAUNCH_AGENT_LOCAL_DIR);
  return join(homedir(), ".local", "share", "launch-agent", "queues");
}

export function checkQueueName(queue: string): string {
  if (!QUEUE_NAME.test(queue)) {
    throw new Error(
      `queue name ${JSON.stringify(queue)} is not valid for the local backend: use letters, digits, '.', '_' and '-' (at most 128 characters, not starting with a separator)`,
    );
  }
  return queue;
}

/** Sortable ids: creation time first so a directory listing is FIFO, then randomness so ids never collide. */
export function newItemId(now = Date.now()): string {
  return `${now.toString(36).padStart(9, "0")}-${randomBytes(5).toString("hex")}`;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

export class LocalQueueStore {
  constructor(readonly root: string) {}

  private dir(queue: string, state: ItemState): string {
    return join(this.root, checkQueueName(queue), state);
  }

  private file(queue: string, state: ItemState, id: string): string {
    return join(this.dir(queue, state), `${id}.json`);
  }

  async ensureQueue(queue: string): Promise<void> {
    await Promise.all(ITEM_STATES.map((s) => mkdir(this.dir(queue, s), { recursive: true })));
  }

  async listQueues(): Promise<string[]> {
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && QUEUE_NAME.test(e.name)).map((e) => e.name).sort();
    } catch (err) {
      if (isMissing(err)) return [];
      throw err;
    }
  }

  async push(queue: string, runSpec: unknown): Promise<ItemRecord> {
    await this.ensureQueue(queue);
    const now = new Date().toISOString();
    const record: ItemRecord = {
      id: newItemId(),
      queue,
      state: "queued",
      runSpec,
      createdAt: now,
      warnings: [],
      history: [{ state: "queued", at: now }],
    };
    const target = this.file(queue, "queued", record.id);
    await this.writeAtomically(target, record);
    return record;
  }

  /**
   * Claim the oldest queued item, or return null. Each candidate is taken by renaming it into
   * `claimed/`; losing a race (ENOENT) just moves on to the next file.
   */
  async claim(queue: string, agent: string): Promise<{ record: ItemRecord | null; raw: string; id: string } | null> {
    await this.ensureQueue(queue);
    const names = (await readdir(this.dir(queue, "queued"))).filter((n) => n.endsWith(".json")).sort();
    for (const name of names) {
      const id = name.slice(0, -".json".length);
      const claimedPath = this.file(queue, "claimed", id);
      try {
        await rename(join(this.dir(queue, "queued"), name), claimedPath);
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      const raw = await readFile(claimedPath, "utf8");
      const record = parseRecord(raw);
      if (record) {
        const now = new Date().toISOString();
        record.state = "claimed";
        record.claimedBy = { agent, pid: process.pid, host: hostname() };
        record.history.push({ state: "claimed", at: now });
        await this.writeAtomically(claimedPath, record);
      }
      return { record, raw, id };
    }
    return null;
  }

  /** Rewrite an item in place (same state), e.g. to add a warning. */
  async update(queue: string, id: string, state: ItemState, patch: (r: ItemRecord) => void): Promise<ItemRecord> {
    const path = this.file(queue, state, id);
    const record = await this.readRecord(path);
    patch(record);
    await this.writeAtomically(path, record);
    return record;
  }

  /** Move an item to `to`, recording the change: update in place first, then one atomic rename. */
  async move(queue: string, id: string, from: ItemState, to: ItemState, patch?: (r: ItemRecord) => void): Promise<ItemRecord> {
    const fromPath = this.file(queue, from, id);
    const record = await this.readRecord(fromPath).catch((err) => {
      // A malformed item has no record to update; give it a minimal one so its fate is visible.
      if (err instanceof MalformedItemError) return err.fallback(queue, id, from);
      throw err;
    });
    record.state = to;
    record.history.push({ state: to, at: new Date().toISOString() });
    patch?.(record);
    await this.writeAtomically(fromPath, record);
    await mkdir(this.dir(queue, to), { recursive: true });
    await rename(fromPath, this.file(queue, to, id));
    return record;
  }

  async list(queue?: string): Promise<ItemRecord[]> {
    const queues = queue ? [checkQueueName(queue)] : await this.listQueues();
    const out: ItemRecord[] = [];
    for (const q of queues) {
      for (const state of ITEM_STATES) {
        let names: string[];
        try {
          names = (await readdir(this.dir(q, state))).filter((n) => n.endsWith(".json"));
        } catch (err) {
          if (isMissing(err)) continue;
          throw err;
        }
        for (const name of names) {
          const path = join(this.dir(q, state), name);
          try {
            out.push(await this.readRecord(path));
          } catch (err) {
            if (isMissing(err)) continue; // moved while we listed
            if (err instanceof MalformedItemError) {
              out.push(err.fallback(q, name.slice(0, -5), state));
              continue;
            }
            throw err;
          }
        }
      }
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(queue: string, id: string): Promise<ItemRecord | null> {
    for (const state of ITEM_STATES) {
      try {
        return await this.readRecord(this.file(queue, state, id));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
    }
    return null;
  }

  private async readRecord(path: string): Promise<ItemRecord> {
    const raw = await readFile(path, "utf8");
    const record = parseRecord(raw);
    if (!record) throw new MalformedItemError(path, raw);
    return record;
  }

  private async writeAtomically(path: string, record: ItemRecord): Promise<void> {
    const tmp = `${path}.${process.pid}.${randomBytes(3).toString("hex")}.tmp`;
    await writeFile(tmp, JSON.stringify(record, null, 2) + "\n");
    await rename(tmp, path);
  }
}

function parseRecord(raw: string): ItemRecord | null {
  try {
    const parsed = ItemRecordSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** A file in a queue directory that is not an item record (hand-edited, truncated, not JSON). */
export class MalformedItemError extends Error {
  constructor(
    readonly path: string,
    readonly raw: string,
  ) {
    super(`queue item ${path} is not a valid item record`);
  }

  fallback(queue: string, id: string, state: ItemState): ItemRecord {
    return {
      id,
      queue,
      state,
      runSpec: null,
      createdAt: new Date(0).toISOString(),
      warnings: [],
      history: [],
      message: `the item file is not a valid item record (first bytes: ${JSON.stringify(this.raw.slice(0, 80))})`,
    };
  }
}
