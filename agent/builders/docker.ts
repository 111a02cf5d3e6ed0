import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import type { Logger } from "../log.js";
import { createBuildContext, planBuildContext } from "../jobs/context.js";
import { FAILED_PACKAGES_MARKER } from "../jobs/bootstrap.js";
import { destinationOf, imageUri } from "../jobs/plan.js";
import { registryFor, type RegistryOptions } from "../registries/index.js";
import type { Registry } from "../registries/types.js";
import type { Builder, BuildRequest, BuildResult } from "./types.js";
import { runStreaming, succeeds } from "./docker-cli.js";

export interface BuildEvent {
  image: string;
  tag: string;
  /** false when the image already existed and no build ran. */
  built: boolean;
}

export interface DockerBuilderOptions {
  config: AgentConfig;
  logger: Logger;
  /** The docker CLI binary; default `docker` on PATH. */
  docker?: string;
  /** DOCKER_CONFIG for login and push; default the agent's environment. */
  dockerConfigDir?: string;
  /** Options for the destination registry (injected clients in tests). */
  registryOptions?: RegistryOptions;
  /** Called after every build decision; tests count builds with it. */
  onBuild?: (event: BuildEvent) => void;
  /** Override buildx detection (default: `docker buildx version` exits 0). */
  buildx?: boolean;
  /** The image user of generated Dockerfiles; default the agent's OS user (§2.4). */
  user?: string;
}

/**
 * The packages named by the bootstrap script's marker line, or null. The marker must start the line
 * (after BuildKit's `#<step> <seconds>` prefix), so the echo of a RUN command that merely contains it
 * does not count.
 */
export function failedPackagesIn(line: string): string | null {
  // Plain docker build colours stderr lines; strip the escapes first.
  const body = line.replace(/\x1b\[[0-9;]*m/g, "").replace(/^#\d+ \d+(?:\.\d+)? /, "");
  if (!body.startsWith(FAILED_PACKAGES_MARKER)) return null;
  return body.slice(FAILED_PACKAGES_MARKER.length).replace(/\. During automated build process\.?\s*$/, "").trim();
}

/** `docker [buildx] build` arguments (reference §2.7). Pure. */
export function dockerBuildArgs(o: { buildx: boolean; platform?: string | undefined; image: string; dockerfile: string; context: string }): string[] {
  const args = o.buildx ? ["buildx", "build"] : ["build"];
  // BuildX keeps images in its own cache unless told to load them; a multi-platform result cannot be loaded.
  if (o.buildx && !(o.platform ?? "").includes(",")) args.push("--load");
  if (o.platform) args.push("--platform", o.platform);
  args.push("-t", o.image, "-f", o.dockerfile, o.context);
  return args;
}

export const DOCKER_MISSING =
  "Could not find Docker executable. Ensure Docker is installed as per the instructions at https://docs.docker.com/install/overview/, or set builder.type to noop or kaniko";

/**
 * Builds job images with the local docker CLI (reference §2.7): tag by source hash, skip when the
 * registry already has the tag, otherwise log in (password on stdin), build (BuildX with --load when
 * present), and push. Contexts are removed after every build.
 */
export class DockerBuilder implements Builder {
  readonly type = "docker" as const;
  /** Builds actually run by this builder (skips not counted). */
  builds = 0;
  private readonly docker: string;
  private buildxKnown: Promise<boolean> | null = null;

  constructor(private readonly opts: DockerBuilderOptions) {
    this.docker = opts.docker ?? "docker";
  }

  private get env(): NodeJS.ProcessEnv {
    return this.opts.dockerConfigDir ? { ...process.env, DOCKER_CONFIG: this.opts.dockerConfigDir } : process.env;
  }

  async verify(): Promise<void> {
    if (!(await succeeds(this.docker, ["--version"]))) throw new LaunchError(DOCKER_MISSING, "build");
  }

  buildx(): Promise<boolean> {
    if (this.opts.buildx !== undefined) return Promise.resolve(this.opts.buildx);
    this.buildxKnown ??= succeeds(this.docker, ["buildx", "version"], this.env);
    return this.buildxKnown;
  }

  /** The destination registry, or null when images stay local (no destination configured). */
  registry(): Registry | null {
    const dest = destinationOf(this.opts.config);
    if (!dest) return null;
    return registryFor(dest, {
      ...(this.opts.dockerConfigDir ? { dockerConfigDir: this.opts.dockerConfigDir } : {}),
      ...this.opts.registryOptions,
    });
  }

  async build(request: BuildRequest): Promise<BuildResult> {
    const { job, runSpec, logger } = request;
    if (job.job.source_type === "image") {
      throw new LaunchError(`job ${job.name} is an image job and is never built; run its image ${job.job.source.image ?? ""}`, "build");
    }
    await this.verify();
    const buildx = await this.buildx();
    if (!buildx) logger.warn("Docker BuildX is not installed; building with plain docker build (no pip cache mount)");
    const plan = await planBuildContext(job, runSpec, {
      builder: "docker",
      buildx,
      ...(this.opts.user !== undefined ? { user: this.opts.user } : {}),
    });
    const image = imageUri(this.opts.config, job, plan.tag);
    const registry = this.registry();
    const log = logger.child({ image });

    if (await this.imageExists(registry, image, plan.tag)) {
      log.info({ dockerfile: plan.source }, "image already exists; skipping the build");
      this.opts.onBuild?.({ image, tag: plan.tag, built: false });
      return { image, built: false, tag: plan.tag, command: plan.command };
    }

    if (registry) await this.login(registry);
    const context = await createBuildContext(plan, job);
    try {
      const args = dockerBuildArgs({ buildx, platform: this.opts.config.builder?.platform, image, dockerfile: context.dockerfile, context: context.dir });
      log.info({ dockerfile: plan.source, context: context.dir }, "building image");
      const failedPackages: string[] = [];
      const result = await runStreaming(this.docker, args, {
        env: this.env,
        ...(request.signal ? { signal: request.signal } : {}),
        onLine: (line) => {
          log.info({ build: true }, line);
          const packages = failedPackagesIn(line);
          if (packages) failedPackages.push(packages);
        },
      });
      if (result.code !== 0) {
        throw new LaunchError(`docker build of ${image} failed (exit ${result.code ?? result.signal}):\n${result.tail.join("\n")}`, "build");
      }
      this.builds++;
      if (failedPackages.length > 0) {
        await request.warn(`Some packages were not successfully installed during the build: ${failedPackages.join("; ")}`);
      }
      if (registry) await this.push(image, registry, log, request.signal);
      this.opts.onBuild?.({ image, tag: plan.tag, built: true });
      return { image, built: true, tag: plan.tag, command: plan.command };
    } finally {
      await context.cleanup();
    }
  }

  private async imageExists(registry: Registry | null, image: string, tag: string): Promise<boolean> {
    if (registry) return registry.exists(tag);
    // No registry: images live only in the local engine (official "local registry" behaviour).
    return succeeds(this.docker, ["image", "inspect", image], this.env);
  }

  private async login(registry: Registry): Promise<void> {
    const creds = await registry.credentials();
    if (!creds) return; // anonymous registry without credentials: push as the docker config allows
    const result = await runStreaming(this.docker, ["login", "--username", creds.username, "--password-stdin", registry.host], {
      env: this.env,
      input: creds.password,
    });
    if (result.code !== 0) {
      const why = result.tail.filter((l) => !l.includes(creds.password)).join(" ").trim();
      throw new LaunchError(`docker login to registry ${registry.host} failed (authentication failed): ${why}`, "build");
    }
  }

  private async push(image: string, registry: Registry, log: Logger, signal?: AbortSignal): Promise<void> {
    log.info("pushing image");
    const result = await runStreaming(this.docker, ["push", image], {
      env: this.env,
      ...(signal ? { signal } : {}),
      onLine: (line) => log.info({ push: true }, line),
    });
    if (result.code !== 0) {
      throw new LaunchError(`Failed to push image ${image} to registry ${registry.host}:\n${result.tail.join("\n")}`, "build");
    }
  }
}
