import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rename, stat, writeFile } from "node:fs/promises";
import { hostname, homedir } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { LaunchError } from "../../errors.js";
import { prepareQueueRoot } from "./root.js";

/**
 * The embedded queue: a directory per queue, a directory per item state, one JSON file per item.
 *
 *   <root>/<queue>/queued/<id>.json → claimed/ → running/ → finished/ | failed/ | interrupted/ | stopped/
 *
 * An item moves by rename(2), which is atomic within a file system: when several agents race for the
 * same queued file exactly one rename succeeds and the others get ENOENT, so no item runs twice.
 * Updates are written to a temp file and renamed over the item, so a reader never sees half a record.
 */
export const ITEM_STATES = ["queued", "claimed", "running", "finished", "failed", "interrupted", "stopped"] as const;
/** States an item never leaves. */
export const FINAL_STATES: readonly ItemState[] = ["finished", "failed", "interrupted", "stopped"];
export type ItemState = (typeof ITEM_STATES)[number];

export const ItemRecordSchema = z.object({
  id: z.string(),
  queue: z.string(),
  state: z.enum(ITEM_STATES),
  runSpec: z.unknown(),
  createdAt: z.string(),
  /** The agent holding the item: an agent on the same host recovers it when this process is gone. */
  claimedBy: z.object({ agent: z.string(), pid: z.number(), host: z.string(), stoppedRunTimeoutS: z.number().optional() }).optional(),
  /** How many times an agent has claimed the item (recovered items are claimed again, up to a bound). */
  attempts: z.number().int().nonnegative().default(0),
  /** The launched run, so a recovering agent can stop it when its agent died: a process group or a container. */
  run: z.object({ resource: z.string(), pid: z.number().optional(), container: z.string().optional() }).optional(),
  /** When the owning agent saw a `local stop` request. */
  stopRequestedAt: z.string().optional(),
  runId: z.string().optional(),
  image: z.string().nullish(),
  exitCode: z.number().nullish(),
  durationMs: z.number().optional(),
  message: z.string().optional(),
  warnings: z.array(z.object({ stage: z.string(), message: z.string() })).default([]),
  history: z.array(z.object({ state: z.enum(ITEM_STATES), at: z.string() })).default([]),
});
export type ItemRecord = z.infer<typeof ItemRecordSchema>;

/** How often an agent looks for `local stop` markers of its runs on a local queue. */
export const LOCAL_STOP_CHECK_MS = 1_000;

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Where the queue root is: `--local DIR`, else $LAUNCH_AGENT_LOCAL_DIR, else ~/.local/share/launch-agent/queues. */
export function resolveLocalRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.LAUNCH_AGENT_LOCAL_DIR) return resolve(env.LAUNCH_AGENT_LOCAL_DIR);
  return join(homedir(), ".local", "share", "launch-agent", "queues");
}

export function checkQueueName(queue: string): string {
  if (!QUEUE_NAME.test(queue)) {
    throw new LaunchError(
      `queue name ${JSON.stringify(queue)} is not valid for the local backend: use letters, digits, '.', '_' and '-' (at most 128 characters, not starting with a separator)`,
    );
  }
  return queue;
}

/**
 * Item ids become file names: only one path component of safe characters (no `/`, no leading `.`),
 * so `--item ../../x` can never reach outside the queue root.
 */
export function checkItemId(id: string): string {
  if (!QUEUE_NAME.test(id)) {
    throw new LaunchError(
      `item id ${JSON.stringify(id)} is not valid: ids are letters, digits, '.', '_' and '-' (as 'launch-agent local list' shows them)`,
    );
  }
  return id;
}

let lastIdTime = 0;

/**
 * Sortable ids: creation time first so a directory listing is FIFO, then randomness so ids never collide.
 * Within one process the time part strictly increases, so two pushes in the same millisecond keep their order.
 */
export function newItemId(now = Date.now()): string {
  const time = Math.max(now, lastIdTime + 1);
  lastIdTime = time;
  return `${time.toString(36).padStart(9, "0")}-${randomBytes(5).toString("hex")}`;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

export class LocalQueueStore {
  private rootReady = false;
  constructor(readonly root: string) {}

  private dir(queue: string, state: ItemState): string {
    return join(this.root, checkQueueName(queue), state);
  }

  private file(queue: string, state: ItemState, id: string): string {
    return join(this.dir(queue, state), `${checkItemId(id)}.json`);
  }

  /** The directory of `local stop` markers of a queue. */
  stopMarker(queue: string, id: string): string {
    return join(this.root, checkQueueName(queue), "stop", checkItemId(id));
  }

  /** Check the root is a writable directory (once per store), then create the queue's directories. */
  async ensureQueue(queue: string): Promise<void> {
    checkQueueName(queue);
    if (!this.rootReady) {
      await prepareQueueRoot(this.root);
      this.rootReady = true;
    }
    await Promise.all(ITEM_STATES.map((s) => mkdir(this.dir(queue, s), { recursive: true })));
  }

  async queueExists(queue: string): Promise<boolean> {
    const st = await stat(join(this.root, checkQueueName(queue))).catch(() => null);
    return st?.isDirectory() === true;
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
      attempts: 0,
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
  async claim(queue: string, agent: string, stoppedRunTimeoutS?: number): Promise<{ record: ItemRecord | null; raw: string; id: string } | null> {
    await this.ensureQueue(queue);
    const names = (await readdir(this.dir(queue, "queued"))).filter(isItemFileName).sort();
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
        record.claimedBy = { agent, pid: process.pid, host: hostname(), ...(stoppedRunTimeoutS !== undefined ? { stoppedRunTimeoutS } : {}) };
        record.attempts++;
        record.history.push({ state: "claimed", at: now });
        await this.writeAtomically(claimedPath, record);
      }
      return { record, raw, id };
    }
    return null;
  }

  /** Take a queued item off the queue as `stopped` (the claim's atomic rename: no agent can take it meanwhile); false if it was claimed first. */
  async stopQueued(queue: string, id: string): Promise<boolean> {
    try {
      await rename(this.file(queue, "queued", id), this.file(queue, "claimed", id));
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
    await this.move(queue, id, "claimed", "stopped", (r) => {
      r.stopRequestedAt = new Date().toISOString();
      r.message = "stopped before it started (launch-agent local stop)";
    });
    return true;
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
          names = (await readdir(this.dir(q, state))).filter(isItemFileName);
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

  /**
   * Items in claimed/ or running/ held by an agent process on this host that no longer exists, and
   * items a recovering agent left half-moved (`<id>.json.recover-<pid>`, that agent gone too).
   * Items of agents on other hosts are never touched: their liveness cannot be checked from here.
   */
  async orphans(queue: string): Promise<{ id: string; state: ItemState; file: string; record: ItemRecord }[]> {
    const out: { id: string; state: ItemState; file: string; record: ItemRecord }[] = [];
    const host = hostname();
    for (const state of ["claimed", "running"] as const) {
      let names: string[];
      try {
        names = await readdir(this.dir(queue, state));
      } catch (err) {
        if (isMissing(err)) continue;
        throw err;
      }
      for (const name of names) {
        const m = /^(.+)\.json(?:\.recover-(\d+))?$/.exec(name);
        if (!m || !QUEUE_NAME.test(m[1]!)) continue;
        const file = join(this.dir(queue, state), name);
        let record: ItemRecord;
        try {
          record = await this.readRecord(file);
        } catch (err) {
          if (isMissing(err) || err instanceof MalformedItemError) continue;
          throw err;
        }
        const holder = m[2] !== undefined ? Number(m[2]) : record.claimedBy?.pid;
        const holderHost = m[2] !== undefined ? host : record.claimedBy?.host;
        if (holder === undefined || holderHost !== host || holder === process.pid || isProcessAlive(holder)) continue;
        out.push({ id: m[1]!, state, file, record });
      }
    }
    return out;
  }

  /**
   * Take over an orphan and move it to `to`. The first step is one atomic rename to a name only this
   * process uses, so when several agents recover the same item exactly one of them does it; returns
   * null when another agent got there first.
   */
  async recover(queue: string, orphan: { id: string; state: ItemState; file: string }, to: ItemState, patch: (r: ItemRecord) => void): Promise<ItemRecord | null> {
    const mine = join(this.dir(queue, orphan.state), `${checkItemId(orphan.id)}.json.recover-${process.pid}`);
    try {
      await rename(orphan.file, mine);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    const record = await this.readRecord(mine);
    record.state = to;
    record.history.push({ state: to, at: new Date().toISOString() });
    if (to === "queued") delete record.claimedBy;
    delete record.run;
    patch(record);
    await this.writeAtomically(mine, record);
    await rename(mine, this.file(queue, to, orphan.id));
    return record;
  }

  async get(queue: string, id: string): Promise<ItemRecord | null> {
    checkItemId(id);
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

/** Whether a process with this pid exists on this host (a zombie counts as gone). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    // Linux: a dead child not yet reaped is still signalable; its state letter is Z.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** `<id>.json` with a valid id; temp files and stray names are not items. */
function isItemFileName(name: string): boolean {
  return name.endsWith(".json") && QUEUE_NAME.test(name.slice(0, -".json".length));
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
      attempts: 0,
      warnings: [],
      history: [],
      message: `the item file is not a valid item record (first bytes: ${JSON.stringify(this.raw.slice(0, 80))})`,
    };
  }
}
