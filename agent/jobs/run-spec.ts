import { z } from "zod";

/**
 * A queue item's `runSpec`, as W&B (or `launch-agent local push`) stores it. Unknown keys are kept:
 * the official agent tolerates them and so do we. See reference §7.9.
 */
export const RunSpecSchema = z.looseObject({
  job: z.string().optional(),
  uri: z.string().nullish(),
  entity: z.string().nullish(),
  project: z.string().nullish(),
  name: z.string().nullish(),
  author: z.string().nullish(),
  run_id: z.string().nullish(),
  sweep_id: z.string().nullish(),
  resource: z.string().optional(),
  resource_args: z.record(z.string(), z.unknown()).optional(),
  docker: z
    .looseObject({ docker_image: z.string().nullish(), user_id: z.union([z.number(), z.string()]).nullish() })
    .optional(),
  image_uri: z.string().nullish(),
  overrides: z
    .looseObject({
      args: z.array(z.string()).optional(),
      run_config: z.record(z.string(), z.unknown()).optional(),
      artifacts: z.record(z.string(), z.unknown()).optional(),
      files: z.record(z.string(), z.unknown()).optional(),
      entry_point: z.array(z.string()).nullish(),
      dockerfile: z.string().nullish(),
      working_dir: z.string().nullish(),
    })
    .optional(),
  python_version: z.string().nullish(),
  _wandb_api_key: z.string().nullish(),
  _resume_count: z.number().int().nonnegative().optional(),
  /** Kubernetes objects to start beside the run (`[{ config: <manifest> }]`), reference §8.3. */
  additional_services: z.array(z.unknown()).nullish(),
});

export type RunSpec = z.infer<typeof RunSpecSchema>;

/** The resource a run spec targets when it names none (the official agent's default). */
export const DEFAULT_RESOURCE = "local-container";
