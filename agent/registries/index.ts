import type { Registry } from "./types.js";
import { parseDestination } from "./destination.js";
import { AcrRegistry, type AcrRegistryOptions } from "./acr.js";
import { AnonymousRegistry, type AnonymousRegistryOptions } from "./anonymous.js";
import { EcrRegistry, type EcrRegistryOptions } from "./ecr.js";
import { GarRegistry, type GarRegistryOptions } from "./gar.js";

export type RegistryOptions = AnonymousRegistryOptions & EcrRegistryOptions & GarRegistryOptions & AcrRegistryOptions;

/** The registry behind a `builder.destination`, chosen by its host (reference §4.1). */
export function registryFor(destination: string, opts: RegistryOptions = {}): Registry {
  const dest = parseDestination(destination);
  switch (dest.kind) {
    case "ecr":
      return new EcrRegistry(dest, opts);
    case "gar":
      return new GarRegistry(dest, opts);
    case "acr":
      return new AcrRegistry(dest, opts);
    case "anonymous":
      return new AnonymousRegistry(dest, opts);
  }
}

export { parseDestination };
export type { Registry };
