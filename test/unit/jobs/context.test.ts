import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ResolvedJob } from "../../../agent/backend/types.js";
import { JobFileSchema, type JobFile } from "../../../agent/jobs/job-file.js";
import { RunSpecSchema, type RunSpec } from "../../../agent/jobs/run-spec.js";
import {
  agentUserName,
  createBuildContext,
  imageUid,
  planBuildContext,
  type BuildEnvironment,
} from "../../../agent/jobs/context.js";
import { imageTag } from "../../../agent/jobs/tag.js";
import { projectDependencies } from "../../../agent/jobs/pyproject.js";
import { BOOTSTRAP_FILE_NAME } from "../../../agent/jobs/bootstrap.js";

let code: string;
const env: BuildEnvironment = { builder: "docker", buildx: false, user: "launch_agent" };

function job(file: Partial<JobFile> & { source?: JobFile["source"] }, files: ResolvedJob["files"] = {}): ResolvedJob {
  const parsed = JobFileSchema.parse({ source_type: "artifact", source: { entrypoint: ["python", "train.py"] }, ...file });
  return { name: "ent/proj/job:latest", job: parsed, codeDir: code, sourceString: "job:latest:vv1", files, cleanup: async () => {} };
}
const spec = (s: Record<string, unknown> = {}): RunSpec => RunSpecSchema.parse(s);

beforeEach(async () => {
  code = await mkdtemp(join(tmpdir(), "ctx-code-"));
  await writeFile(join(code, "train.py"), "print('train')\n");
});
afterEach(async () => {
  await rm(code, { recursive: true, force: true });
});

describe("Dockerfile choice order (§2.3)", () => {
  it("takes overrides.dockerfile first, hashing its text", async () => {
    await writeFile(join(code, "Custom.Dockerfile"), "FROM custom:3.8");
    await writeFile(join(code, "Dockerfile.wandb"), "FROM other");
    const plan = await planBuildContext(job({ source: { entrypoint: ["python", "train.py"], dockerfile: "Dockerfile.wandb" } }), spec({ overrides: { dockerfile: "Custom.Dockerfile" } }), env);
    expect(plan.source).toBe("override");
    expect(plan.dockerfile).toBe("FROM custom:3.8");
    expect(plan.tag).toBe(imageTag("job:latest:vv1", "FROM custom:3.8"));
  });

  it("names the missing Dockerfile and the key that asked for it", async () => {
    await expect(planBuildContext(job({}), spec({ overrides: { dockerfile: "nope" } }), env)).rejects.toThrow(
      `Dockerfile does not exist at ${join(code, "nope")} (overrides.dockerfile in the run spec)`,
    );
    await expect(planBuildContext(job({ source: { entrypoint: ["python", "train.py"], dockerfile: "gone" } }), spec(), env)).rejects.toThrow(
      /source.dockerfile in wandb-job.json/,
    );
  });

  it("then the job's source.dockerfile, inside source.build_context", async () => {
    await mkdir(join(code, "ctx"));
    await writeFile(join(code, "ctx", "Dockerfile"), "FROM job");
    const plan = await planBuildContext(job({ source: { entrypoint: ["python", "train.py"], dockerfile: "Dockerfile", build_context: "ctx" } }), spec(), env);
    expect(plan.source).toBe("job");
    expect(plan.root).toBe(join(code, "ctx"));
  });

  it("then Dockerfile.wandb beside the entry file, using that directory and the file's base name", async () => {
    await mkdir(join(code, "sub"));
    await writeFile(join(code, "sub", "run.py"), "");
    await writeFile(join(code, "sub", "Dockerfile.wandb"), "FROM scratch\n");
    const plan = await planBuildContext(job({ source: { entrypoint: ["python3", "sub/run.py"] } }), spec(), env);
    expect(plan.source).toBe("entrypoint-dir");
    expect(plan.root).toBe(join(code, "sub"));
    expect(plan.command).toEqual(["python3", "run.py"]);
  });

  it("otherwise generates one, with Python X.Y from the job's runtime", async () => {
    const plan = await planBuildContext(job({ runtime: "3.10.4" }), spec(), env);
    expect(plan.source).toBe("generated");
    expect(plan.dockerfile).toContain("FROM python:3.10 as build");
    expect(plan.dockerfile).toContain("RUN mkdir -p env/");
    expect(plan.dockerfile).toContain("--uid 1000     launch_agent");
    expect(plan.tag).toBe(imageTag("job:latest:vv1", plan.dockerfile));
  });

  it("uses Python 3.13 (the official agent image's interpreter) when the job has no runtime", async () => {
    const plan = await planBuildContext(job({}), spec(), env);
    expect(plan.dockerfile).toContain("FROM python:3.13 as build");
    expect(plan.dockerfile).toContain("FROM python:3.13-bookworm as base");
  });

  it("prefers the run spec's entry point in the generated ENTRYPOINT", async () => {
    const plan = await planBuildContext(job({}), spec({ overrides: { entry_point: ["python", "other.py"] } }), env);
    expect(plan.dockerfile).toContain('ENTRYPOINT ["python", "other.py"]');
  });

  it("fails a job with no entry point, naming both places to set one", async () => {
    await expect(planBuildContext(job({ source: {} }), spec(), env)).rejects.toThrow(/source.entrypoint in wandb-job.json or overrides.entry_point/);
  });
});

describe("requirements branch (§2.6)", () => {
  it("requirements.txt wins over pyproject.toml and frozen requirements", async () => {
    await writeFile(join(code, "requirements.txt"), "wandb\n");
    await writeFile(join(code, "pyproject.toml"), '[project]\ndependencies = ["numpy"]\n');
    await writeFile(join(code, "requirements.frozen.txt"), "wandb==0.1\n");
    expect((await planBuildContext(job({}), spec(), env)).requirements).toEqual({ kind: "requirements" });
  });

  it("pyproject.toml dependencies come next, and are written as src/requirements.txt", async () => {
    await writeFile(join(code, "pyproject.toml"), '[project]\nname = "x"\ndependencies = [\n  "numpy>=1", # math\n  \'wandb\',\n]\n[tool.x]\ndependencies = ["no"]\n');
    const j = job({ runtime: "3.12" });
    const plan = await planBuildContext(j, spec(), env);
    expect(plan.requirements).toEqual({ kind: "pyproject" });
    const ctx = await createBuildContext(plan, j);
    try {
      expect(await readFile(join(ctx.dir, "src", "requirements.txt"), "utf8")).toBe("numpy>=1\nwandb");
    } finally {
      await ctx.cleanup();
    }
  });

  it("a pyproject.toml without dependencies falls through to the job's frozen requirements", async () => {
    await writeFile(join(code, "pyproject.toml"), '[project]\nname = "x"\n');
    const frozenDir = await mkdtemp(join(tmpdir(), "frozen-"));
    await writeFile(join(frozenDir, "requirements.frozen.txt"), "wandb==0.19.0\n");
    const j = job({}, { requirementsFrozen: join(frozenDir, "requirements.frozen.txt") });
    const plan = await planBuildContext(j, spec(), env);
    expect(plan.requirements).toEqual({ kind: "frozen" });
    const ctx = await createBuildContext(plan, j);
    try {
      expect(await readFile(join(ctx.dir, "src", "requirements.frozen.txt"), "utf8")).toBe("wandb==0.19.0\n");
      expect(existsSync(join(ctx.dir, BOOTSTRAP_FILE_NAME))).toBe(true);
    } finally {
      await ctx.cleanup();
      await rm(frozenDir, { recursive: true });
    }
  });

  it("parses the narrow TOML that dependency lists use", () => {
    expect(projectDependencies('[project]\ndependencies = ["a", "b[x]>=1; python_version<\\"3.12\\""]')).toEqual(["a", 'b[x]>=1; python_version<"3.12"']);
    expect(projectDependencies("[tool.poetry]\ndependencies = []\n")).toEqual([]);
    expect(projectDependencies("[project]\ndependencies = [1]\n")).toBeNull();
  });
});

describe("image user", () => {
  it("defaults the uid to 1000 and takes docker.user_id, falling back to the euid when it is falsy", () => {
    expect(imageUid(spec())).toBe("1000");
    expect(imageUid(spec({ docker: { user_id: 2000 } }))).toBe("2000");
    expect(imageUid(spec({ docker: { user_id: 0 } }))).toBe(String(process.geteuid!()));
  });

  it("finds the user name as Python's getpass does: LOGNAME, USER, LNAME, USERNAME", () => {
    expect(agentUserName({ USER: "u", LOGNAME: "l" })).toBe("l");
    expect(agentUserName({ USERNAME: "n" })).toBe("n");
  });
});

describe("build context directory", () => {
  it("lays out the generated context and removes it on cleanup", async () => {
    await mkdir(join(code, "pkg"));
    await writeFile(join(code, "pkg", "m.py"), "x = 1\n");
    await writeFile(join(code, "fsmonitor--daemon.ipc"), "");
    const j = job({ runtime: "3.11.2" });
    const plan = await planBuildContext(j, spec(), env);
    const ctx = await createBuildContext(plan, j);
    expect(await readFile(join(ctx.dir, "src", "pkg", "m.py"), "utf8")).toBe("x = 1\n");
    expect(await readFile(join(ctx.dir, "src", "runtime.txt"), "utf8")).toBe("python-3.11.2");
    expect(existsSync(join(ctx.dir, "src", "fsmonitor--daemon.ipc"))).toBe(false);
    expect(await readFile(ctx.dockerfile, "utf8")).toBe(plan.dockerfile);
    await ctx.cleanup();
    expect(existsSync(ctx.dir)).toBe(false);
  });
});
