import { LaunchError } from "../errors.js";
import { classifyRegistryUri } from "../config/uris.js";
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

const ECR_HOST = /^[\w-]+\.dkr\.ecr\.([\w-]+)\.amazonaws\.com$/i;

/**
 * Classify a destination by host (reference §4.1), with the config module's rules so the agent
 * validates at start-up exactly what it later pushes to. Throws ConfigError naming builder.destination.
 */
export function parseDestination(uri: string): Destination {
  const r = classifyRegistryUri(uri);
  return { kind: r.kind, host: r.host, repository: r.repository, repositoryUri: r.repositoryUri };
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
