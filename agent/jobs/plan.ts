import type { ResolvedJob } from "../backend/types.js";
import type { BuilderType } from "../builders/types.js";
import type { AgentConfig } from "../config/index.js";
import { parseDestination } from "../registries/destination.js";
import type { RunSpec } from "./run-spec.js";
import { planBuildContext, type BuildEnvironment, type ContextPlan } from "./context.js";
import { sanitizedImageName } from "./tag.js";

/** What a build would do for a job, without doing it (`launch-agent build-plan`). */
export interface BuildPlan {
  /** The Dockerfile text the tag hashes; null when the job is never built. */
  dockerfile: string | null;
  sourceString: string;
  tag: string | null;
  /** The image the run uses: `<destination>:<tag>`, `<job name>:<tag>` without a destination, the job's image, or null. */
  image: string | null;
  /** The builder that would run, or `none` when the job needs no build. */
  builder: BuilderType | "none";
  /** Why the job is not built, when it is not. */
  reason?: string;
  /** The command the run starts (after the §2.3 entry-point rewrite). */
  command: string[] | null;
  context: ContextPlan | null;
}

export interface BuildPlanOptions {
  config: AgentConfig;
  builder: BuilderType;
  /** Whether `docker buildx` works (docker builder only). */
  buildx: boolean;
  user?: string;
  defaultPythonVersion?: string;
}

/** Where built images go: `builder.destination`, else the legacy `registry.uri` (§1.5.3); null when neither. */
export function destinationOf(config: AgentConfig): string | null {
  const dest = config.builder?.destination;
  if (typeof dest === "string" && dest) return dest;
  const legacy = config.registry?.uri;
  if (typeof legacy === "string" && legacy) return legacy;
  return null;
}

/** The image URI for a tag: `<repository uri>:<tag>`, or the sanitized job name when nothing is configured (§2.7). */
export function imageUri(config: AgentConfig, job: ResolvedJob, tag: string): string {
  const dest = destinationOf(config);
  const repo = dest ? parseDestination(dest).repositoryUri : sanitizedImageName(job.name);
  return `${repo}:${tag}`;
}

export async function buildPlan(job: ResolvedJob, runSpec: RunSpec, opts: BuildPlanOptions): Promise<BuildPlan> {
  const source = job.job.source;
  const none = (image: string | null, reason: string, command: string[] | null): BuildPlan => ({
    dockerfile: null,
    sourceString: job.sourceString,
    tag: null,
    image,
    builder: "none",
    reason,
    command,
    context: null,
  });
  const command = runSpec.overrides?.entry_point ?? source.entrypoint ?? null;
  if (job.job.source_type === "image") return none(source.image ?? null, "image jobs run their image and are never built", command);
  if (source.base_image) return none(source.base_image, "jobs with source.base_image run that image with the code mounted", command);
  if (opts.builder === "noop") {
    return none(null, "the noop builder never builds (set builder.type to docker or kaniko)", command);
  }
  const env: BuildEnvironment = {
    builder: opts.builder,
    buildx: opts.buildx,
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.defaultPythonVersion !== undefined ? { defaultPythonVersion: opts.defaultPythonVersion } : {}),
  };
  const context = await planBuildContext(job, runSpec, env);
  return {
    dockerfile: context.dockerfile,
    sourceString: context.sourceString,
    tag: context.tag,
    image: imageUri(opts.config, job, context.tag),
    builder: opts.builder,
    command: context.command,
    context,
  };
}
