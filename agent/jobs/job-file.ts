import { z } from "zod";

/**
 * `wandb-job.json`, the file inside a W&B job artifact (and inside a local job directory).
 * Only the keys the agent reads are typed; everything else is kept as written.
 */
export const GitSourceSchema = z.looseObject({
  remote: z.string().min(1, "git.remote must name the repository to fetch"),
  commit: z.string().nullish(),
});

export const JobSourceSchema = z.looseObject({
  entrypoint: z.array(z.string()).optional(),
  notebook: z.boolean().optional(),
  dockerfile: z.string().nullish(),
  build_context: z.string().nullish(),
  base_image: z.string().nullish(),
  args: z.array(z.string()).optional(),
  git: GitSourceSchema.optional(),
  artifact: z.string().optional(),
  image: z.string().optional(),
});

export const JobFileSchema = z.looseObject({
  source_type: z.enum(["repo", "artifact", "image"], {
    error: (issue) =>
      `source_type ${JSON.stringify(issue.input)} is not a job source type; use "artifact" (code directory), "repo" (git) or "image"`,
  }),
  source: JobSourceSchema,
  runtime: z.string().optional(),
  input_types: z.unknown().optional(),
  output_types: z.unknown().optional(),
  _partial: z.unknown().optional(),
});

export type JobFile = z.infer<typeof JobFileSchema>;
export type JobSource = z.infer<typeof JobSourceSchema>;

export const JOB_FILE_NAME = "wandb-job.json";
