import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";
import type { RegistryAuth } from "../types.js";

export type ImagePlatform = "linux/amd64" | "linux/arm64";

export interface AgentImageArgs {
  /** Repository to push to, without tag (the launch environment's `destination`). */
  readonly repository: pulumi.Input<string>;
  /** Push credentials for the repository's registry (a secret). */
  readonly registryAuth: pulumi.Input<RegistryAuth>;
  /**
   * Directory holding the Dockerfile and the sources, relative to the working directory Pulumi starts the program
   * and its providers in (the project root: Pulumi.yaml has no `main`). Relative, so the state is the same on
   * every machine.
   */
  readonly context: string;
  /** Tag to push. Default `launch-agent`; the Deployment pins the pushed digest, so pods roll on every change. */
  readonly tag?: string;
  /** Target platforms. Default `linux/amd64`. */
  readonly platforms?: ImagePlatform[];
}

/**
 * Builds this repository's Dockerfile and pushes it to the launch environment's registry, so `pulumi up` needs no
 * published agent image. The tag is mutable; `ref` is `<repository>@sha256:…`, which is what the Deployment uses.
 */
export class AgentImage extends pulumi.ComponentResource {
  /** `<repository>@<digest>` of the pushed image. */
  readonly ref: pulumi.Output<string>;

  constructor(name: string, args: AgentImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("wandb-launch:kubernetes:AgentImage", name, {}, opts);
    const auth = pulumi.output(args.registryAuth);
    const image = new dockerBuild.Image(
      `${name}-image`,
      {
        context: { location: args.context },
        dockerfile: { location: `${args.context}/Dockerfile` },
        platforms: args.platforms ?? ["linux/amd64"],
        tags: [pulumi.interpolate`${args.repository}:${args.tag ?? "launch-agent"}`],
        push: true,
        // Build and push on `pulumi up` only: a preview must not need a Docker daemon (the provider's default is to
        // build on every preview). The Dockerfile is still checked at preview.
        buildOnPreview: false,
        registries: [
          {
            address: auth.address,
            username: auth.username,
            password: pulumi.secret(auth.password),
          },
        ],
      },
      { parent: this },
    );
    this.ref = image.ref;
    this.registerOutputs({ ref: this.ref });
  }
}
