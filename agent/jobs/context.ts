import { cp, lstat, mkdtemp, readFile, rm, stat, writeFile, copyFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { basename, dirname, join, posix } from "node:path";
import { LaunchError } from "../errors.js";
import type { ResolvedJob } from "../backend/types.js";
import { DEFAULT_RESOURCE, type RunSpec } from "./run-spec.js";
import { renderDockerfile, type InstallPrefix, type RequirementsBranch } from "./dockerfile.js";
import { BOOTSTRAP_FILE_NAME, BOOTSTRAP_SCRIPT } from "./bootstrap.js";
import { IGNORED_NAMES } from "./digest.js";
import { projectDependencies } from "./pyproject.js";
import { imageTag } from "./tag.js";

/**
 * Build context and Dockerfile choice (reference §2.3): which directory becomes the context, which
 * Dockerfile it uses, and the tag. Planning reads the job's files but writes nothing, so
 * `build-plan` can show it; `createBuildContext` lays the plan out in a fresh directory.
 */

export const WANDB_DOCKERFILE = "Dockerfile.wandb";
/**
 * Python `X.Y` for jobs whose wandb-job.json has no `runtime`. The official agent uses its own
 * interpreter's version there; its published image runs Python 3.13, so this choice gives the same
 * tags as that image for such jobs.
 */
export const DEFAULT_PYTHON_VERSION = "3.13";

export type BuilderKind = "docker" | "kaniko";

export interface BuildEnvironment {
  builder: BuilderKind;
  /** Docker with BuildX: the requirements step gets a pip cache mount. Ignored for kaniko. */
  buildx: boolean;
  /** The agent's OS user name; default as Python's getpass.getuser() finds it. */
  user?: string;
  /** Python `X.Y` for jobs without a runtime; default DEFAULT_PYTHON_VERSION. */
  defaultPythonVersion?: string;
}

export type DockerfileSource = "override" | "job" | "entrypoint-dir" | "generated";

export interface ContextPlan {
  source: DockerfileSource;
  /** Directory copied as the context (generated: copied to `<context>/src`). */
  root: string;
  /** The Dockerfile's own path (not for generated). */
  dockerfilePath: string | null;
  dockerfile: string;
  /** Generated only: which requirements file drives the install. */
  requirements: RequirementsBranch | null;
  /** Generated only: dependencies from pyproject.toml, written as src/requirements.txt. */
  pyprojectDependencies: string[] | null;
  /** The command the run starts: overrides.entry_point, else the job's (basename-rewritten for §2.3 case 3). */
  command: string[];
  sourceString: string;
  tag: string;
}

export interface BuildContext {
  dir: string;
  /** Path of the Dockerfile inside the context (always `Dockerfile.wandb`). */
  dockerfile: string;
  cleanup(): Promise<void>;
}

/** The OS user name as Python's getpass.getuser() reports it: env first, then the password database. */
export function agentUserName(env: NodeJS.ProcessEnv = process.env): string {
  for (const key of ["LOGNAME", "USER", "LNAME", "USERNAME"]) {
    const v = env[key];
    if (v) return v;
  }
  try {
    return userInfo().username;
  } catch {
    // No passwd entry for our uid (e.g. an arbitrary uid on OpenShift): use the official image's user.
    return FALLBACK_USER;
  }
}

/** The user of the official agent image, and ours when the OS cannot name the process's user. */
export const FALLBACK_USER = "launch_agent";

/** `docker.user_id` with the official defaults: absent → 1000, falsy → the agent's euid (§2.4). */
export function imageUid(runSpec: RunSpec): string {
  const docker = runSpec.docker;
  if (!docker || !("user_id" in docker) || docker.user_id === undefined) return "1000";
  const v = docker.user_id;
  if (v === null || v === 0 || v === "") return String(process.geteuid?.() ?? 0);
  return String(v);
}

/** `resource_args.<resource>.builder.accelerator.base_image`, or the legacy `.cuda.base_image`. */
export function acceleratorBaseImage(runSpec: RunSpec, resource: string): string | null {
  const args = runSpec.resource_args?.[resource];
  const builder = isRecord(args) ? args.builder : undefined;
  if (!isRecord(builder)) return null;
  for (const key of ["accelerator", "cuda"]) {
    const block = builder[key];
    const image = isRecord(block) ? block.base_image : undefined;
    if (image === undefined || image === null || image === "") continue;
    if (typeof image !== "string") {
      throw new LaunchError(
        `resource_args.${resource}.builder.${key}.base_image must be an image reference string, got ${typeof image}`,
        "build",
      );
    }
    return image;
  }
  return null;
}

export function pythonVersionOf(runtime: string | undefined, fallback = DEFAULT_PYTHON_VERSION): string {
  if (!runtime) return fallback;
  return runtime.split(".").slice(0, 2).join(".");
}

/** The entry file named by a command (`python x.py` → `x.py`, `./run.sh` → itself), as the official agent reads it. */
function entryFile(command: readonly string[]): string | null {
  if (command.length === 0) return null;
  if (command[0]!.endsWith(".py") || command[0]!.endsWith(".sh")) return command[0]!;
  return command[1] ?? null;
}

export async function planBuildContext(job: ResolvedJob, runSpec: RunSpec, env: BuildEnvironment): Promise<ContextPlan> {
  const source = job.job.source;
  const jobEntry = source.entrypoint && source.entrypoint.length > 0 ? [...source.entrypoint] : null;
  const overrideEntry = runSpec.overrides?.entry_point && runSpec.overrides.entry_point.length > 0 ? [...runSpec.overrides.entry_point] : null;
  if (!jobEntry && !overrideEntry) {
    throw new LaunchError(
      `job ${job.name} has no entry point: set source.entrypoint in wandb-job.json or overrides.entry_point in the run spec`,
      "build",
    );
  }
  let root = job.codeDir;
  if (source.build_context) {
    root = join(job.codeDir, source.build_context);
    if (!(await isDir(root))) {
      throw new LaunchError(`Build context does not exist at ${root} (source.build_context in wandb-job.json)`, "build");
    }
  }
  const finish = (p: Omit<ContextPlan, "sourceString" | "tag">): ContextPlan => ({
    ...p,
    sourceString: job.sourceString,
    tag: imageTag(job.sourceString, p.dockerfile),
  });
  const command = overrideEntry ?? jobEntry!;

  for (const [kind, rel, key] of [
    ["override", runSpec.overrides?.dockerfile, "overrides.dockerfile in the run spec"],
    ["job", source.dockerfile, "source.dockerfile in wandb-job.json"],
  ] as const) {
    if (!rel) continue;
    const path = join(root, rel);
    if (!(await isFile(path))) throw new LaunchError(`Dockerfile does not exist at ${path} (${key})`, "build");
    return finish({
      source: kind,
      root,
      dockerfilePath: path,
      dockerfile: await readFile(path, "utf8"),
      requirements: null,
      pyprojectDependencies: null,
      command,
    });
  }

  // Dockerfile.wandb beside the entry file: that directory alone is the context.
  const entryName = jobEntry ? jobEntry[jobEntry.length - 1]! : entryFile(overrideEntry!);
  if (entryName) {
    const entryDir = posix.dirname(entryName) === "." ? "" : posix.dirname(entryName);
    const path = join(root, entryDir, WANDB_DOCKERFILE);
    if (await isFile(path)) {
      let runCommand = command;
      if (entryDir && jobEntry && !overrideEntry && jobEntry.length === 2 && (jobEntry[0]!.startsWith("python") || jobEntry[0] === "bash")) {
        // The context is the entry file's directory, so the image sees the file at its base name.
        runCommand = [jobEntry[0]!, posix.basename(entryName)];
      }
      return finish({
        source: "entrypoint-dir",
        root: dirname(path),
        dockerfilePath: path,
        dockerfile: await readFile(path, "utf8"),
        requirements: null,
        pyprojectDependencies: null,
        command: runCommand,
      });
    }
  }

  const { branch, deps } = await requirementsBranch(job);
  const resource = runSpec.resource ?? DEFAULT_RESOURCE;
  const prefix: InstallPrefix = env.builder === "docker" && env.buildx ? "buildx" : "no-cache";
  const dockerfile = renderDockerfile({
    pythonVersion: pythonVersionOf(job.job.runtime, env.defaultPythonVersion),
    requirements: branch,
    prefix,
    user: env.user ?? agentUserName(),
    uid: imageUid(runSpec),
    resource,
    acceleratorBaseImage: acceleratorBaseImage(runSpec, resource),
    entrypoint: command,
  });
  return finish({
    source: "generated",
    root: job.codeDir,
    dockerfilePath: null,
    dockerfile,
    requirements: branch,
    pyprojectDependencies: deps,
    command,
  });
}

async function requirementsBranch(job: ResolvedJob): Promise<{ branch: RequirementsBranch; deps: string[] | null }> {
  const code = job.codeDir;
  if (await isFile(join(code, "requirements.txt"))) return { branch: { kind: "requirements" }, deps: null };
  const pyproject = join(code, "pyproject.toml");
  if (await isFile(pyproject)) {
    const deps = projectDependencies(await readFile(pyproject, "utf8"));
    if (deps && deps.length > 0) return { branch: { kind: "pyproject" }, deps };
  }
  if ((await isFile(join(code, "requirements.frozen.txt"))) || job.files.requirementsFrozen) {
    return { branch: { kind: "frozen" }, deps: null };
  }
  return { branch: { kind: "none" }, deps: null };
}

/** Lay the plan out in a fresh temp directory. The caller must call `cleanup()` (contexts are not kept). */
export async function createBuildContext(plan: ContextPlan, job: ResolvedJob): Promise<BuildContext> {
  const dir = await mkdtemp(join(tmpdir(), "launch-context-"));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    if (plan.source === "generated") {
      const src = join(dir, "src");
      await copyTree(plan.root, src);
      if (plan.pyprojectDependencies) await writeFile(join(src, "requirements.txt"), plan.pyprojectDependencies.join("\n"));
      if (plan.requirements?.kind === "frozen" && !existsSync(join(src, "requirements.frozen.txt")) && job.files.requirementsFrozen) {
        await copyFile(job.files.requirementsFrozen, join(src, "requirements.frozen.txt"));
      }
      if (job.job.runtime) await writeFile(join(src, "runtime.txt"), `python-${job.job.runtime}`);
      await writeFile(join(dir, BOOTSTRAP_FILE_NAME), BOOTSTRAP_SCRIPT);
    } else {
      await copyTree(plan.root, dir);
    }
    await writeFile(join(dir, WANDB_DOCKERFILE), plan.dockerfile);
    return { dir, dockerfile: join(dir, WANDB_DOCKERFILE), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Copy a tree keeping symlinks as links, leaving out sockets, FIFOs and the git fsmonitor socket. */
async function copyTree(from: string, to: string): Promise<void> {
  await cp(from, to, {
    recursive: true,
    verbatimSymlinks: true,
    filter: async (src) => {
      if (IGNORED_NAMES.has(basename(src))) return false;
      const st = await lstat(src);
      return st.isDirectory() || st.isFile() || st.isSymbolicLink();
    },
  });
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isFile() ?? false;
}
async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}
function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
