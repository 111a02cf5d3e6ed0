/** The `uri` W&B puts in the run spec of a sweep scheduler (reference §7.3.3). */
export const SCHEDULER_PLACEHOLDER_URI = "placeholder-uri-scheduler";

/**
 * Whether a raw run spec is a sweep scheduler: the placeholder uri, and for local-process either a
 * job or an entry point `wandb scheduler <sweep>`. Works on unvalidated specs, before the ack.
 */
export function isSchedulerSpec(runSpec: unknown): boolean {
  if (typeof runSpec !== "object" || runSpec === null) return false;
  const spec = runSpec as Record<string, unknown>;
  if (spec.uri !== SCHEDULER_PLACEHOLDER_URI) return false;
  if (spec.resource !== "local-process") return true;
  if (spec.job) return true;
  const overrides = spec.overrides as { entry_point?: unknown } | undefined;
  const cmd = Array.isArray(overrides?.entry_point) ? overrides.entry_point : [];
  return cmd.length >= 3 && cmd[0] === "wandb" && cmd[1] === "scheduler";
}

/** Room for another scheduler under `max_schedulers` (-1 = unlimited). */
export function schedulerSlotFree(running: number, maxSchedulers: number): boolean {
  return maxSchedulers < 0 || running < maxSchedulers;
}
