import type { RegistryCredentials } from "./types.js";
import type { Destination } from "./destination.js";
import { dockerConfigCredentials } from "./docker-config.js";
import { OciRegistry, type OciRegistryOptions } from "./oci.js";

export interface AnonymousRegistryOptions extends OciRegistryOptions {
  /** Credentials given directly (tests, or a caller that has them); else the docker config's `auths`. */
  credentials?: RegistryCredentials | null;
  /** Directory of the docker config (default `$DOCKER_CONFIG` or `~/.docker`). */
  dockerConfigDir?: string;
}

/** Any other OCI registry: anonymous, or basic auth from the docker config. */
export class AnonymousRegistry extends OciRegistry {
  readonly kind = "anonymous" as const;
  constructor(
    dest: Destination,
    private readonly opts: AnonymousRegistryOptions = {},
  ) {
    super(dest, opts);
  }

  async credentials(): Promise<RegistryCredentials | null> {
    if (this.opts.credentials !== undefined) return this.opts.credentials;
    return dockerConfigCredentials(this.host, this.opts.dockerConfigDir);
  }

  protected credentialHint(): string {
    return `check the user and password for ${this.host} (docker login ${this.host}, or the "auths" entry in the docker config)`;
  }
}
