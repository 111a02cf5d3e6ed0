import { cp } from "node:fs/promises";
import { basename, join } from "node:path";
import type { V1Container, V1EnvVar } from "@kubernetes/client-node";
import { LaunchError } from "../errors.js";
import type { ResolvedJob } from "../backend/types.js";
import { API_KEY_ENV, forcedSecurityContext } from "./kubernetes-manifest.js";
import { podTemplates } from "./kubernetes-custom.js";

/**
 * Base-image runs on Kubernetes (reference §2.8, §8.3): no image is built; the run's pods get the
 * job's code the way the official agent supplies it — an emptyDir at /mnt/wandb that an init
 * container fills by downloading the code artifact (or cloning the repository at the job's commit)
 * with the official agent image's Python SDK. With the noop builder's default base image the run's
 * command first installs the job's requirements. Pure: the manifest is changed in place.
 */

export const CODE_MOUNT_DIR = "/mnt/wandb";
export const CODE_VOLUME = "wandb-source-code-volume";
export const CODE_INIT_CONTAINER = "wandb-source-code-init";
/** The image the official agent's init container runs (its own release, with Python and the wandb SDK). */
export const CODE_INIT_IMAGE = "wandb/launch-agent:0.25.1";

type Obj = Record<string, unknown>;

/** POSIX-shell quoting as Python's shlex.quote does it (so the scripts match the official agent's). */
export function shellQuote(s: string): string {
  if (s === "") return "''";
  if (/^[\w@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'"'"'`)}'`;
}

/** A Python string literal as Python's repr() writes one. */
export function pyRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  const body = s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t");
  return quote + (quote === "'" ? body.replace(/'/g, "\\'") : body) + quote;
}

export interface CodeMountInput {
  job: ResolvedJob;
  /** `overrides.working_dir`, relative to the code. */
  workingDir?: string | null;
  /** The noop builder picked the base image: install the job's requirements before the command. */
  installDeps: boolean;
  /** WANDB_BASE_URL for the init container. */
  baseUrl: string;
}

/** The init container's script: fetch the code (and the job artifact for its frozen requirements). */
export function codeFetchScript(input: CodeMountInput): string {
  const { job } = input;
  const jobDir = `${CODE_MOUNT_DIR}/.job`;
  const download = (artifact: string, to: string) => `python -c ${shellQuote(`import wandb; wandb.Api().artifact(${pyRepr(artifact)}).download(${pyRepr(to)})`)}`;
  const fetchJob = input.installDeps && job.artifacts?.job ? ` && ${download(job.artifacts.job, jobDir)}` : "";
  const chmod = ` && chmod -R a+w ${CODE_MOUNT_DIR}/* || true && chmod -R a+w ${CODE_MOUNT_DIR}/.* || true`;
  if (job.job.source_type === "artifact") {
    const code = job.artifacts?.code;
    if (!code) throw new LaunchError(`job ${job.name} runs on a base image but names no W&B code artifact the pod could download; build it with builder.type kaniko instead`, "run");
    return download(code, CODE_MOUNT_DIR) + fetchJob + chmod;
  }
  if (job.job.source_type === "repo") {
    const git = job.job.source.git;
    if (!git?.remote || !git.commit) throw new LaunchError(`job ${job.name} runs on a base image but its source names no git remote and commit to clone`, "run");
    return (
      `git clone ${shellQuote(git.remote)} ${CODE_MOUNT_DIR} && git config --global --add safe.directory ${CODE_MOUNT_DIR} && cd ${CODE_MOUNT_DIR} && git checkout ${shellQuote(git.commit)}` +
      fetchJob +
      chmod
    );
  }
  throw new LaunchError(`job ${job.name} has source type ${job.job.source_type}: only artifact and repo jobs run with their code mounted`, "run");
}

/** Wrap a container's command so it installs requirements first (user files, else the job's frozen list). */
function withDepInstall(c: Obj, workingDir: string): void {
  const original = [...((c.command as string[] | undefined) ?? []), ...((c.args as string[] | undefined) ?? [])].map(shellQuote).join(" ");
  if (!original) return;
  const frozen = `${CODE_MOUNT_DIR}/.job/requirements.frozen.txt`;
  const req = `${workingDir}/requirements.txt`;
  const pyproject = `${workingDir}/pyproject.toml`;
  const install =
    `if [ -f ${shellQuote(req)} ]; then pip install -r ${shellQuote(req)};` +
    ` elif [ -f ${shellQuote(pyproject)} ]; then pip install ${shellQuote(workingDir)};` +
    ` elif [ -f ${shellQuote(frozen)} ]; then pip install -r ${shellQuote(frozen)};` +
    ` else echo 'No requirements file found'; fi`;
  c.command = ["/bin/sh", "-c"];
  c.args = [`${install} && exec ${original}`];
}

/** Add the code volume, its mounts, the working directory and the fetching init container to every pod template. */
export function applyCodeMount(manifest: Obj, input: CodeMountInput): void {
  if (input.job.name.startsWith("/") || !input.job.artifacts?.job) {
    throw new LaunchError(
      `job ${input.job.name} would run on a base image with its code mounted, but it is not a W&B job the pod can download; configure builder.type kaniko (or docker) so the agent builds an image for it`,
      "run",
    );
  }
  const script = codeFetchScript(input);
  const workingDir = input.workingDir ? `${CODE_MOUNT_DIR}/${input.workingDir}` : CODE_MOUNT_DIR;
  for (const pod of podTemplates(manifest)) {
    const spec = pod.spec as Obj;
    spec.volumes = [...(Array.isArray(spec.volumes) ? spec.volumes : []), { name: CODE_VOLUME, emptyDir: {} }];
    let apiKeyEnv: V1EnvVar | undefined;
    for (const c of spec.containers as Obj[]) {
      c.volumeMounts = [...(Array.isArray(c.volumeMounts) ? c.volumeMounts : []), { name: CODE_VOLUME, mountPath: CODE_MOUNT_DIR }];
      c.workingDir = workingDir;
      if (input.installDeps) withDepInstall(c, workingDir);
      apiKeyEnv ??= ((c.env as V1EnvVar[] | undefined) ?? []).find((e) => e.name === API_KEY_ENV);
    }
    const init: V1Container = {
      name: CODE_INIT_CONTAINER,
      image: CODE_INIT_IMAGE,
      volumeMounts: [{ name: CODE_VOLUME, mountPath: CODE_MOUNT_DIR }],
      env: [{ name: "WANDB_BASE_URL", value: input.baseUrl }, ...(apiKeyEnv ? [apiKeyEnv] : [])],
      command: ["/bin/sh", "-c", script],
      securityContext: forcedSecurityContext(),
    };
    spec.initContainers = [...(Array.isArray(spec.initContainers) ? spec.initContainers : []), init];
  }
}

/** The official agent's other way: a PersistentVolumeClaim the agent has mounted (WANDB_LAUNCH_CODE_PVC_NAME/_MOUNT_PATH). */
export interface CodePvc {
  claimName: string;
  /** Where the claim is mounted in the agent. */
  mountPath: string;
}

export function codePvcFrom(env: NodeJS.ProcessEnv): CodePvc | null {
  const claimName = env.WANDB_LAUNCH_CODE_PVC_NAME;
  const mountPath = env.WANDB_LAUNCH_CODE_PVC_MOUNT_PATH;
  return claimName && mountPath ? { claimName, mountPath } : null;
}

/** Copy the job's code onto the claim under its source string (a cache shared by runs of the same job version). */
export async function copyCodeToPvc(job: ResolvedJob, pvc: CodePvc): Promise<string> {
  const target = join(pvc.mountPath, job.sourceString);
  try {
    await cp(job.codeDir, target, { recursive: true, force: true, verbatimSymlinks: true, filter: (src) => ![".git", "fsmonitor--daemon.ipc"].includes(basename(src)) });
  } catch (err) {
    throw new LaunchError(`could not copy job ${job.name}'s code to ${target} on PVC ${pvc.claimName} (WANDB_LAUNCH_CODE_PVC_MOUNT_PATH): ${(err as Error).message}`, "run", { cause: err });
  }
  return job.sourceString;
}

/** PVC variant: every pod template mounts the claim's `<source string>` directory at /mnt/wandb; no init container. */
export function applyCodeMountPvc(manifest: Obj, input: { claimName: string; subPath: string; workingDir?: string | null; installDeps: boolean }): void {
  const workingDir = input.workingDir ? `${CODE_MOUNT_DIR}/${input.workingDir}` : CODE_MOUNT_DIR;
  for (const pod of podTemplates(manifest)) {
    const spec = pod.spec as Obj;
    for (const c of spec.containers as Obj[]) {
      c.volumeMounts = [...(Array.isArray(c.volumeMounts) ? c.volumeMounts : []), { name: CODE_VOLUME, mountPath: CODE_MOUNT_DIR, subPath: input.subPath }];
      c.workingDir = workingDir;
      if (input.installDeps) withDepInstall(c, workingDir);
    }
    spec.volumes = [...(Array.isArray(spec.volumes) ? spec.volumes : []), { name: CODE_VOLUME, persistentVolumeClaim: { claimName: input.claimName } }];
  }
}
