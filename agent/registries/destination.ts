import { LaunchError } from "../errors.js";
import type { RegistryKind } from "./types.js";

/** A `builder.destination` split into what the registry code needs. */
export interface Destination {
  kind: RegistryKind;
  /** Registry host with port, as Docker names it (`docker.io` for Docker Hub). */
  host: string;
  /** OCI repository name: the path after the host. */
  repository: string;
  /** `<host>/<repository>`: what images are tagged with. */
  repositoryUri: string;
}

const ACR_HOST = /^(\w+)\.azurecr\.io$/i;
const ECR_HOST = /^[\w-]+\.dkr\.ecr\.([\w-]+)\.amazonaws\.com$/i;
const GAR_HOST = /^[\w-]+-docker\.pkg\.dev$/i;

/**
 * Classify a destination by host (reference §4.1). The config module validates the same URIs when the
 * agent starts; this only splits an already-accepted value, and refuses the shapes no push can use.
 */
export function parseDestination(uri: string): Destination {
  const raw = uri.trim().replace(/^https:\/\//i, "").replace(/\/+$/, "");
  const slash = raw.indexOf("/");
  const first = slash === -1 ? raw : raw.slice(0, slash);
  // Docker's rule: the first component is a registry host when it has a dot or a port, or is localhost.
  const hasHost = slash !== -1 && (first.includes(".") || first.includes(":") || first === "localhost");
  const host = hasHost ? first : "docker.io";
  let repository = hasHost ? raw.slice(slash + 1) : raw;
  if (!hasHost && !repository.includes("/")) repository = `library/${repository}`;
  if (!repository || /[:@]/.test(repository) || /\s/.test(raw)) {
    throw new LaunchError(
      `builder.destination ${JSON.stringify(uri)} is not a repository to push to: give <registry host>/<repository> without a tag or digest`,
      "build",
    );
  }
  const kind: RegistryKind = ACR_HOST.test(host) ? "acr" : ECR_HOST.test(host) ? "ecr" : GAR_HOST.test(host) ? "gar" : "anonymous";
  return { kind, host, repository, repositoryUri: hasHost ? `${host}/${repository}` : raw };
}

/** ECR region from the registry host. */
export function ecrRegion(host: string): string {
  const m = ECR_HOST.exec(host);
  if (!m) throw new LaunchError(`${host} is not an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com)`, "build");
  return m[1]!;
}

/** Registries reached over plain HTTP: loopback only, as the Docker engine allows by default. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0]!;
  return name === "localhost" || name === "::1" || /^127\.\d+\.\d+\.\d+$/.test(name);
}
