import { execFile } from "node:child_process";
import { copyFile, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { ResolvedJob } from "../backend/types.js";
import { LaunchError } from "../errors.js";
import type { Logger } from "../log.js";
import { convertNotebookEntrypoint } from "./notebook.js";
import { LOCAL_SOURCE_PREFIX } from "./digest.js";

/**
 * Job sources (reference §2.2): `image` jobs need nothing; `artifact` jobs arrive with their code in
 * `codeDir`; `repo` jobs are fetched here from git, hardened against remotes that would run commands
 * or read local files, then get the job's diff.patch and requirements.frozen.txt. Notebook jobs of
 * either code kind get their notebook converted to a script (written into `codeDir`, which the
 * backends hand over as a private copy).
 */

const run = promisify(execFile);

/** Transports a repository is served over; everything else (file://, ext::, fd::, git://, http://, paths) is refused. */
const SCP_LIKE = /^[\w.+-]+@[\w.-]+:.+/;
/** Pinned on every fetch, including recursive submodule fetches whose URLs come from .gitmodules. */
const HARDENING = ["-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never"];

export interface PrepareOptions {
  logger: Logger;
  /** Where to check a repo out; default the job's codeDir (must be empty). */
  workDir?: string;
  /** Environment for git (credential helpers, SSH keys, CA bundles); default the agent's. */
  env?: NodeJS.ProcessEnv;
}

/** Remove `user:password@` from a URL before it goes into a message or a log. */
export function redactRemote(uri: string): string {
  return uri.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, "$1***@");
}

/** Throws unless the remote is https://, ssh:// or git@host:path (current official rule, PR #12221). */
export function checkGitRemote(uri: string): string {
  const s = uri.trim();
  const ok = !s.startsWith("-") && (/^https:\/\//i.test(s) || /^ssh:\/\//i.test(s) || SCP_LIKE.test(s));
  if (!ok) {
    throw new LaunchError(
      `Refusing to fetch git remote ${JSON.stringify(redactRemote(uri))}: only https://, ssh://, and git@host:path remotes are allowed (source.git.remote in wandb-job.json)`,
      "agent",
    );
  }
  return s;
}

export async function prepareJobSource(job: ResolvedJob, opts: PrepareOptions): Promise<ResolvedJob> {
  if (job.job.source_type === "image") return job;
  const ready = job.job.source_type === "repo" ? await fetchRepo(job, opts) : job;
  return ready.job.source.notebook ? convertNotebook(ready) : ready;
}

/** Notebook jobs run a script made from the notebook (§2.2); the job's entry point is rewritten to it. */
async function convertNotebook(job: ResolvedJob): Promise<ResolvedJob> {
  const entrypoint = job.job.source.entrypoint;
  if (!entrypoint || entrypoint.length === 0) return job;
  const converted = await convertNotebookEntrypoint(job.codeDir, entrypoint);
  return { ...job, job: { ...job.job, source: { ...job.job.source, entrypoint: converted } } };
}

async function fetchRepo(job: ResolvedJob, opts: PrepareOptions): Promise<ResolvedJob> {
  const git = job.job.source.git;
  if (!git?.remote) {
    throw new LaunchError(`job ${job.name} has source_type "repo" but no source.git.remote in wandb-job.json`, "agent");
  }
  const remote = checkGitRemote(git.remote);
  const dir = opts.workDir ?? job.codeDir;
  await mkdir(dir, { recursive: true });
  if ((await readdir(dir)).length > 0) {
    throw new LaunchError(`cannot check out ${redactRemote(remote)} into ${dir}: the directory is not empty`, "agent");
  }
  const env = { ...(opts.env ?? process.env), GIT_TERMINAL_PROMPT: "0" };
  const log = opts.logger.child({ remote: redactRemote(remote) });
  const gitIn = (args: string[]) => runGit(args, dir, env, remote);

  log.info({ commit: git.commit ?? null }, "fetching git repository");
  await gitIn(["init", "-q"]);
  await gitIn(["remote", "add", "origin", "--", remote]);
  await gitIn([...HARDENING, "fetch", "-q", "origin"]).catch((err) => {
    throw new LaunchError(`Unable to fetch from git remote repository ${redactRemote(remote)}: ${(err as Error).message}`, "agent");
  });

  const commit = git.commit ?? null;
  if (commit) {
    if (await succeeds(gitIn(["show-ref", "--verify", "--quiet", `refs/remotes/origin/${commit}`]))) {
      await gitIn(["checkout", "-q", "-B", commit, `origin/${commit}`]);
    } else {
      // A commit no branch or tag points at any more: ask for it by id.
      if (!(await succeeds(gitIn(["cat-file", "-e", `${commit}^{commit}`])))) {
        await gitIn([...HARDENING, "fetch", "-q", "origin", commit]).catch(() => {
          throw new LaunchError(`commit ${commit} (source.git.commit) was not found in ${redactRemote(remote)}`, "agent");
        });
      }
      await gitIn(["checkout", "-q", "--detach", commit]);
    }
  } else {
    let branch: string | null = null;
    for (const b of ["main", "master"]) {
      if (await succeeds(gitIn(["show-ref", "--verify", "--quiet", `refs/remotes/origin/${b}`]))) {
        branch = b;
        break;
      }
    }
    if (!branch) throw new LaunchError(`Unable to determine branch or commit to checkout from ${redactRemote(remote)}: set source.git.commit`, "agent");
    await gitIn(["checkout", "-q", "-B", branch, `origin/${branch}`]);
  }
  await gitIn([...HARDENING, "submodule", "update", "-q", "--init", "--recursive"]).catch((err) => {
    throw new LaunchError(`Unable to update submodules for git repository ${redactRemote(remote)}: ${(err as Error).message}`, "agent");
  });

  if (job.files.diffPatch) {
    try {
      await run("patch", ["-s", `--directory=${dir}`, "-p1", "-i", job.files.diffPatch], { env });
    } catch (err) {
      throw new LaunchError(`Failed to apply diff.patch associated with run: ${lastLines(err)}`, "agent");
    }
  }
  if (job.files.requirementsFrozen) await copyFile(job.files.requirementsFrozen, join(dir, "requirements.frozen.txt"));

  // A local repo job names a branch or tag as often as a commit, and a branch moves without its job
  // directory changing: its source string must carry the commit actually checked out. (W&B jobs keep
  // the official source string, so tags stay compatible; their job version pins the commit.)
  const head = (await gitIn(["rev-parse", "HEAD"])).trim();
  const sourceString = job.sourceString.startsWith(LOCAL_SOURCE_PREFIX) ? `${job.sourceString}:git:${head}` : job.sourceString;
  const ownDir = opts.workDir !== undefined && opts.workDir !== job.codeDir;
  return {
    ...job,
    sourceString,
    codeDir: dir,
    cleanup: async () => {
      if (ownDir) await rm(dir, { recursive: true, force: true });
      await job.cleanup();
    },
  };
}

async function runGit(args: string[], cwd: string, env: NodeJS.ProcessEnv, remote: string): Promise<string> {
  try {
    const { stdout } = await run("git", args, { cwd, env, maxBuffer: 8 * 1024 * 1024, timeout: 10 * 60_000 });
    return stdout;
  } catch (err) {
    // git may echo the remote with its credentials; never let them into a message.
    const text = lastLines(err).split(remote).join(redactRemote(remote));
    throw new Error(text);
  }
}

function lastLines(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  const text = (e.stderr?.trim() || e.message || String(err)).split("\n").slice(-8).join("\n");
  return text;
}

async function succeeds(p: Promise<unknown>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch {
    return false;
  }
}
