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
