/** Credentials for `docker login` / the registry API. The password is a secret: never log it. */
export interface RegistryCredentials {
  username: string;
  password: string;
}

export type RegistryKind = "ecr" | "gar" | "acr" | "anonymous";

/** A container registry repository that images are pushed to (`builder.destination`). */
export interface Registry {
  readonly kind: RegistryKind;
  /** Registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`. */
  readonly host: string;
  /** Repository URI without tag and without `https://`: `<host>/<name>`. */
  readonly repositoryUri: string;
  /** Credentials for push, or null when the registry needs none (anonymous without a docker config entry). */
  credentials(): Promise<RegistryCredentials | null>;
  /** Whether `<repositoryUri>:<tag>` exists (OCI `HEAD /v2/<name>/manifests/<tag>`). */
  exists(tag: string): Promise<boolean>;
}
