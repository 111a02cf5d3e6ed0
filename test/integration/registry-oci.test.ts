import { beforeAll, describe, expect, it } from "vitest";
import { registryFor } from "../../agent/registries/index.js";
import { LaunchError } from "../../agent/errors.js";
import {
  REGISTRY,
  REGISTRY_PASSWORD,
  pushBusyboxImage,
  requireDocker,
  requireRegistry,
  tempDockerConfig,
  uniqueRepository,
} from "../support/docker.js";

// The existence check against the real registry (Debian docker-registry with htpasswd auth).
let repository: string;
let goodConfig: string;

beforeAll(async () => {
  await requireDocker();
  await requireRegistry();
  goodConfig = await tempDockerConfig({ password: REGISTRY_PASSWORD });
  repository = uniqueRepository("exists");
  await pushBusyboxImage(repository, "present", goodConfig);
});

describe("OCI existence check against the real registry", () => {
  it("finds a pushed tag", async () => {
    const reg = registryFor(`${REGISTRY}/${repository}`, { dockerConfigDir: goodConfig });
    expect(reg.kind).toBe("anonymous");
    expect(reg.repositoryUri).toBe(`${REGISTRY}/${repository}`);
    expect(await reg.exists("present")).toBe(true);
  });

  it("reports an absent tag and an absent repository as absent", async () => {
    const reg = registryFor(`${REGISTRY}/${repository}`, { dockerConfigDir: goodConfig });
    expect(await reg.exists("absent")).toBe(false);
    const other = registryFor(`${REGISTRY}/${uniqueRepository("never-pushed")}`, { dockerConfigDir: goodConfig });
    expect(await other.exists("present")).toBe(false);
  });

  it("fails with the registry's name and the auth failure on a wrong password, without the password", async () => {
    const badConfig = await tempDockerConfig({ password: "not-the-password" });
    const reg = registryFor(`${REGISTRY}/${repository}`, { dockerConfigDir: badConfig });
    const err = await reg.exists("present").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toContain(`registry ${REGISTRY}`);
    expect((err as Error).message).toMatch(/authentication failed, HTTP 401/);
    expect((err as Error).message).not.toContain("not-the-password");
  });

  it("says how to log in when no credentials exist for the registry", async () => {
    const emptyConfig = await tempDockerConfig();
    const reg = registryFor(`${REGISTRY}/${repository}`, { dockerConfigDir: emptyConfig });
    await expect(reg.exists("present")).rejects.toThrow(`registry ${REGISTRY} requires authentication (HTTP 401) and no credentials were found: run docker login ${REGISTRY}`);
  });

  it("reads credentials from the docker config only for the registry's own host", async () => {
    const reg = registryFor(`${REGISTRY}/${repository}`, { dockerConfigDir: goodConfig });
    expect(await reg.credentials()).toEqual({ username: "launch", password: REGISTRY_PASSWORD });
    const elsewhere = registryFor(`127.0.0.1:5999/${repository}`, { dockerConfigDir: goodConfig });
    expect(await elsewhere.credentials()).toBeNull();
  });
});

describe("OCI existence check when nothing listens", () => {
  it("names the registry and the network error", async () => {
    const reg = registryFor("127.0.0.1:5999/launch-test/none", { credentials: null });
    await expect(reg.exists("x")).rejects.toThrow(/could not reach registry 127.0.0.1:5999 at http:\/\/127.0.0.1:5999: ECONNREFUSED/);
  });
});
