import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { JobFileSchema } from "../../../agent/jobs/job-file.js";
import { notebookToScript } from "../../../agent/jobs/notebook.js";
import { prepareJobSource } from "../../../agent/jobs/sources.js";
import { silentLogger } from "../../../agent/log.js";

const notebook = JSON.stringify({
  cells: [
    { cell_type: "markdown", source: ["# Title\n"] },
    { cell_type: "code", source: ["!pip install wandb\n", "import wandb\n", "%matplotlib inline\n", "print('a')"] },
    { cell_type: "code", source: "x = 1\n  !ls\nprint(x)\n" },
  ],
  metadata: {},
  nbformat: 4,
});

describe("notebook jobs", () => {
  it("keeps code cells, drops shell lines and comments out magics", () => {
    const py = notebookToScript(notebook, "train.ipynb");
    expect(py).toBe(
      "#!/usr/bin/env python\n# Converted from train.ipynb by launch-agent.\n\nimport wandb\n# %matplotlib inline\nprint('a')\n\n\nx = 1\nprint(x)\n",
    );
  });

  it("rejects a file that is not a notebook, naming it", () => {
    expect(() => notebookToScript("{}", "bad.ipynb")).toThrow(/bad.ipynb is not a valid notebook/);
  });

  it("converts the entry notebook of an artifact job and points the entry point at the script", async () => {
    const dir = await mkdtemp(join(tmpdir(), "nb-job-"));
    try {
      await writeFile(join(dir, "train.ipynb"), notebook);
      const job = {
        name: "nb",
        job: JobFileSchema.parse({ source_type: "artifact", source: { entrypoint: ["python", "train.ipynb"], notebook: true } }),
        codeDir: dir,
        sourceString: "nb:v0",
        files: {},
        cleanup: async () => {},
      };
      const ready = await prepareJobSource(job, { logger: silentLogger });
      expect(ready.job.source.entrypoint).toEqual(["python", "train.py"]);
      expect(await readFile(join(dir, "train.py"), "utf8")).toContain("print(x)");
      expect(job.job.source.entrypoint).toEqual(["python", "train.ipynb"]); // the input is not mutated
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
