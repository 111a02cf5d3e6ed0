import { LaunchError } from "../errors.js";
import type { Builder, BuildRequest, BuildResult } from "./types.js";

/** The builder that never builds (`builder.type: noop`, or no builder and no docker). */
export class NoopBuilder implements Builder {
  readonly type = "noop" as const;

  async build(request: BuildRequest): Promise<BuildResult> {
    throw new LaunchError(
      `job ${request.job.name} needs an image built from its ${request.job.job.source_type === "repo" ? "git repository" : "code artifact"}, ` +
        "but the agent's builder is noop. Set builder.type to docker or kaniko in launch-config.yaml, " +
        "give the job a base image (source.base_image), or run it with resource local-process.",
      "build",
    );
  }
}

/** The image a noop agent runs code jobs on (reference §2.8), unless the queue names one. */
export const NOOP_DEFAULT_BASE_IMAGE = "python:3.12-slim";
