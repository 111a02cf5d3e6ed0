import { cp, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import type { Command } from "commander";
import type { ResolvedJob } from "../backend/types.js";
import type { BuilderType } from "../builders/types.js";
import { succeeds } from "../builders/docker-cli.js";
import { loadAgentConfig, type AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import { localSourceString } from "../jobs/digest.js";
import { readJobDirectory } from "../jobs/job-dir.js";
import { buildPlan, destinationOf, type BuildPlan } from "../jobs/plan.js";
import { RunSpecSchema, type RunSpec } from "../jobs/run-spec.js";
import { prepareJobSource } from "../jobs/sources.js";
import { silentLogger } from "../log.js";
import { registryFor } from "../registries/index.js";

/**
 * `launch-agent build-plan --job DIR`: what a build of a local job would do, without building. It
 * answers "why was my image (not) rebuilt?": the Dockerfile the tag hashes, the source string, the
 * tag, the image URI and the builder. `--check` also asks the registry whether the tag exists.
 */

export interface BuildPlanFlags {
  job: string;
  config?: string;
  runSpec?: string;
  json?: boolean;
  check?: boolean;
}

/** A local job directory as the local backend lays it out, read in place (no copy: nothing is built). */
export async function readLocalJob(dir: string): Promise<{ job: ResolvedJob; cleanup: () => Promise<void> }> {
  const { dir: jobDir, job: jobFile, files } = await readJobDirectory(dir, "--job");
  let codeDir = jobDir;
  let cleanup = async () => {};
  if (jobFile.source_type === "repo" || jobFile.source.notebook) {
    // Repo jobs are checked out, and notebooks converted, in a scratch directory: never in the user's.
    const work = await mkdtemp(join(tmpdir(), "build-plan-"));
    if (jobFile.source_type !== "repo") await cp(jobDir, work, { recursive: true, verbatimSymlinks: true });
    codeDir = work;
    cleanup = () => rm(work, { recursive: true, force: true });
  }
  const job: ResolvedJob = {
    name: basename(jobDir),
    job: jobFile,
    codeDir,
    sourceString: await localSourceString(jobDir),
    files,
    cleanup,
  };
  return { job, cleanup };
}

/** The builder the agent would pick (reference §2.1), and whether BuildX is available for it. */
export async function detectBuilder(config: AgentConfig, docker = "docker"): Promise<{ builder: BuilderType; buildx: boolean }> {
  const type = config.builder?.type;
  const builder: BuilderType = type ?? ((await succeeds(docker, ["--version"])) ? "docker" : "noop");
  const buildx = builder === "docker" && (await succeeds(docker, ["buildx", "version"]));
  return { builder, buildx };
}

export async function planForJobDir(flags: BuildPlanFlags): Promise<{ plan: BuildPlan; exists?: boolean | null; config: AgentConfig }> {
  const { config } = await loadAgentConfig(flags.config !== undefined ? { configPath: flags.config } : {});
  let runSpec: RunSpec = RunSpecSchema.parse({});
  if (flags.runSpec) {
    const text = await readFile(flags.runSpec, "utf8").catch((err: Error) => {
      throw new LaunchError(`--run-spec ${flags.runSpec}: ${err.message}`);
    });
    const parsed = RunSpecSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new LaunchError(`--run-spec ${flags.runSpec} is not a valid run spec: ${parsed.error.message}`);
    runSpec = parsed.data;
  }
  const { job, cleanup } = await readLocalJob(flags.job);
  try {
    const ready = await prepareJobSource(job, { logger: silentLogger });
    const { builder, buildx } = await detectBuilder(config);
    const plan = await buildPlan(ready, runSpec, { config, builder, buildx });
    if (!flags.check) return { plan, config };
    const dest = destinationOf(config);
    const exists = plan.tag && dest ? await registryFor(dest).exists(plan.tag) : null;
    return { plan, exists, config };
  } finally {
    await cleanup();
  }
}

export function formatPlan(plan: BuildPlan, exists?: boolean | null): string {
  const lines = [
    `builder:        ${plan.builder}`,
    `dockerfile:     ${plan.context ? describeSource(plan) : "none"}`,
    `source string:  ${plan.sourceString}`,
    `tag:            ${plan.tag ?? "none"}`,
    `image:          ${plan.image ?? "none"}`,
  ];
  if (plan.command) lines.push(`command:        ${JSON.stringify(plan.command)}`);
  if (plan.reason) lines.push(`no build:       ${plan.reason}`);
  if (exists !== undefined) {
    lines.push(`in registry:    ${exists === null ? "no destination configured" : exists ? "yes — the build would be skipped" : "no — the image would be built"}`);
  }
  if (plan.dockerfile !== null) lines.push("", "----- Dockerfile.wandb -----", plan.dockerfile.replace(/\n$/, ""), "----------------------------");
  return lines.join("\n") + "\n";
}

function describeSource(plan: BuildPlan): string {
  const c = plan.context!;
  switch (c.source) {
    case "override":
      return `${c.dockerfilePath} (overrides.dockerfile)`;
    case "job":
      return `${c.dockerfilePath} (source.dockerfile)`;
    case "entrypoint-dir":
      return `${c.dockerfilePath} (Dockerfile.wandb beside the entry point)`;
    case "generated":
      return `generated (requirements: ${c.requirements?.kind ?? "none"})`;
  }
}

export function registerBuildPlanCommand(program: Command): void {
  program
    .command("build-plan")
    .description("show the Dockerfile, source string, tag, image and builder a job's build would use, without building")
    .requiredOption("--job <dir>", "job directory holding wandb-job.json")
    .option("-c, --config <path>", "agent config file (default: ~/.config/wandb/launch-config.yaml)")
    .option("--run-spec <file>", "a run spec (JSON) with overrides, resource and docker.user_id")
    .option("--check", "also ask the destination registry whether the tag exists")
    .option("--json", 'print {"dockerfile","sourceString","tag","image","builder"} as JSON')
    .action(async (flags: BuildPlanFlags) => {
      const { plan, exists } = await planForJobDir(flags);
      if (flags.json) {
        const out: Record<string, unknown> = {
          dockerfile: plan.dockerfile,
          sourceString: plan.sourceString,
          tag: plan.tag,
          image: plan.image,
          builder: plan.builder,
        };
        if (exists !== undefined) out.exists = exists;
        process.stdout.write(JSON.stringify(out, null, 2) + "\n");
      } else {
        process.stdout.write(formatPlan(plan, exists));
      }
    });
}
