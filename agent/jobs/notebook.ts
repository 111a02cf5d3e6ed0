import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { LaunchError } from "../errors.js";

/**
 * Notebook jobs (reference §2.2): the agent turns the notebook into a script before building. Like
 * the official agent it drops shell lines (`!pip install …`); IPython magics (`%…`) are commented
 * out too, since a plain interpreter cannot run them (the official converter emits IPython calls
 * that fail the same way without IPython).
 */
const NotebookSchema = z.object({
  cells: z.array(
    z.looseObject({
      cell_type: z.string(),
      source: z.union([z.string(), z.array(z.string())]),
    }),
  ),
});

export function notebookToScript(ipynb: string, file = "notebook"): string {
  let json: unknown;
  try {
    json = JSON.parse(ipynb);
  } catch (err) {
    throw new LaunchError(`${file} is not a valid notebook (not JSON: ${(err as Error).message})`, "agent");
  }
  const parsed = NotebookSchema.safeParse(json);
  if (!parsed.success) throw new LaunchError(`${file} is not a valid notebook: it needs a "cells" list with cell_type and source`, "agent");
  const cells = parsed.data.cells
    .filter((c) => c.cell_type === "code")
    .map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source))
    .map((src) =>
      src
        .split("\n")
        .filter((line) => !line.trimStart().startsWith("!"))
        .map((line) => (line.trimStart().startsWith("%") ? `# ${line}` : line))
        .join("\n")
        .trimEnd(),
    )
    .filter((src) => src.length > 0);
  return `#!/usr/bin/env python\n# Converted from ${file} by launch-agent.\n\n${cells.join("\n\n\n")}\n`;
}

/** Convert `<codeDir>/<entry>.ipynb` to `.py` beside it; returns the entry point with the new file name. */
export async function convertNotebookEntrypoint(codeDir: string, entrypoint: readonly string[]): Promise<string[]> {
  const last = entrypoint[entrypoint.length - 1];
  if (!last || !last.endsWith(".ipynb")) return [...entrypoint];
  const script = last.replace(/\.ipynb$/, ".py");
  const text = await readFile(join(codeDir, last), "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new LaunchError(`notebook ${last} (source.entrypoint) is not in the job's code: ${err.code ?? err.message}`, "agent");
  });
  await writeFile(join(codeDir, script), notebookToScript(text, last));
  return [...entrypoint.slice(0, -1), script];
}
