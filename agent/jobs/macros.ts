/**
 * `${macro}` substitution in resource args (reference §7.9). The run's own values come first, then
 * the agent's environment, which — as in W&B's agent — may override them.
 */
export interface MacroValues {
  project_name?: string | null;
  entity_name?: string | null;
  run_id?: string | null;
  run_name?: string | null;
  image_uri?: string | null;
  author?: string | null;
}

/** Same word characters as Python's `\w` in a str pattern (letters, digits, underscore, any script). */
const MACRO = /\$\{([\p{L}\p{N}\p{Mn}\p{Pc}]+)\}/gu;

/** The lookup table: run values overlaid with the agent's environment. */
export function macroTable(values: MacroValues, env: NodeJS.ProcessEnv): Map<string, string> {
  const table = new Map<string, string>();
  for (const [k, v] of Object.entries(values)) if (typeof v === "string") table.set(k, v);
  for (const [k, v] of Object.entries(env)) if (typeof v === "string") table.set(k, v);
  return table;
}

/** Substitute known macros in one string; unknown (or valueless) ones are left exactly as written. */
export function substituteMacros(text: string, table: ReadonlyMap<string, string>): string {
  return text.replace(MACRO, (whole, name: string) => table.get(name) ?? whole);
}

/**
 * Substitute macros in every string leaf of a parsed JSON/YAML value; keys and non-strings are
 * unchanged. Returns a new value and never mutates the input.
 */
export function fillMacros<T>(value: T, values: MacroValues, env: NodeJS.ProcessEnv): T {
  const table = macroTable(values, env);
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return substituteMacros(v, table);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(value) as T;
}

/** The run macros of reference §7.9 (anything else is an environment variable or plain text). */
export const RUN_MACROS: readonly (keyof MacroValues)[] = ["project_name", "entity_name", "run_id", "run_name", "image_uri", "author"];

/**
 * Where a run macro has no value (e.g. `${author}` on a run without author): `{ macro, path }` per
 * occurrence, paths like `metadata.labels.owner`. Filling would leave `${author}` in the object (an
 * invalid label or name the API server rejects); the official agent writes `None` instead.
 */
export function missingRunMacros(value: unknown, values: MacroValues, env: NodeJS.ProcessEnv): { macro: string; path: string }[] {
  const table = macroTable(values, env);
  const out: { macro: string; path: string }[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v === "string") {
      for (const m of v.matchAll(MACRO)) {
        const name = m[1] as keyof MacroValues;
        if (RUN_MACROS.includes(name) && !table.has(name)) out.push({ macro: m[0], path });
      }
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${path}[${i}]`));
    else if (v !== null && typeof v === "object") for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, path ? `${path}.${k}` : k);
  };
  walk(value, "");
  return out;
}
