import type { Logger } from "../log.js";
import type { ResolvedJob } from "../backend/types.js";
import type { RunSpec } from "../jobs/run-spec.js";

export type BuilderType = "docker" | "kaniko" | "noop";

export interface BuildRequest {
  runId: string;
  runSpec: RunSpec;
  job: ResolvedJob;
  /** The resource the image will run on (changes the generated Dockerfile for sagemaker). */
  resource: string;
  logger: Logger;
  /** Posts a warning on the queue item (e.g. packages that failed to install). */
  warn(message: string): Promise<void>;
  signal?: AbortSignal;
}

export interface BuildResult {
  /** The image URI to run, `<destination>:<tag>`. */
  image: string;
  /** false when the tag already existed in the registry and the build was skipped. */
  built: boolean;
  tag: string;
  /** The command to start in the image when it differs from the job's (a `Dockerfile.wandb` beside an entry file in a subdirectory moves that file to the image's working directory, §2.3). */
  command?: string[];
  /** How long uploading the build context took, for builders that upload one (kaniko). */
  uploadMs?: number;
}

export interface Builder {
  readonly type: BuilderType;
  build(request: BuildRequest): Promise<BuildResult>;
}
