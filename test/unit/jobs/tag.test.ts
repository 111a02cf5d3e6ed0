import { describe, expect, it } from "vitest";
import { imageTag, sanitizedImageName } from "../../../agent/jobs/tag.js";

describe("image tag", () => {
  it("reproduces the official agent's test vectors (§3.1)", () => {
    expect(imageTag("image_source", "FROM custom:3.8")).toBe("6390dc92");
    expect(imageTag("image_source", "FROM custom:3.8 # dockerfile.wandb")).toBe("74fc4318");
  });

  it("changes with either input and is 8 lowercase hex characters", () => {
    const a = imageTag("job-x:latest:vv3", "FROM scratch\n");
    expect(a).toMatch(/^[0-9a-f]{8}$/);
    expect(imageTag("job-x:v3:vv3", "FROM scratch\n")).not.toBe(a);
    expect(imageTag("job-x:latest:vv3", "FROM scratch \n")).not.toBe(a);
  });
});

describe("image name without a destination (§2.7)", () => {
  it("sanitizes a W&B job name", () => {
    expect(sanitizedImageName("entity/project/job-name:latest")).toBe("entity__project__job-name");
    expect(sanitizedImageName("Ent/My Project/job:v1")).toBe("ent__my__project__job");
    expect(sanitizedImageName("/tmp/jobs/hello")).toBe("tmp__jobs__hello");
  });
});

import { failedPackagesIn } from "../../../agent/builders/docker.js";

describe("failed-packages marker (§2.6)", () => {
  it("is recognised at the start of a line, also behind BuildKit's step prefix", () => {
    expect(failedPackagesIn("ERROR: Failed to install: torch,foo. During automated build process.")).toBe("torch,foo");
    expect(failedPackagesIn("#9 12.34 ERROR: Failed to install: a. During automated build process.")).toBe("a");
  });
  it("is not recognised inside an echoed command", () => {
    expect(failedPackagesIn("Step 3/3 : RUN echo 'ERROR: Failed to install: x'")).toBeNull();
  });
});

describe("failed-packages marker in coloured output", () => {
  it("strips the colour escapes plain docker build adds to stderr", () => {
    expect(failedPackagesIn("\u001b[91mERROR: Failed to install: torch. During automated build process.")).toBe("torch");
  });
});

import { dockerBuildArgs } from "../../../agent/builders/docker.js";

describe("docker build arguments (§2.7)", () => {
  const base = { image: "r/app:1234abcd", dockerfile: "/ctx/Dockerfile.wandb", context: "/ctx" };
  it("uses buildx with --load, and --platform when configured", () => {
    expect(dockerBuildArgs({ ...base, buildx: true, platform: "linux/arm64" })).toEqual([
      "buildx", "build", "--load", "--platform", "linux/arm64", "-t", "r/app:1234abcd", "-f", "/ctx/Dockerfile.wandb", "/ctx",
    ]);
  });
  it("does not --load a multi-platform build", () => {
    expect(dockerBuildArgs({ ...base, buildx: true, platform: "linux/amd64,linux/arm64" })).not.toContain("--load");
  });
  it("falls back to plain docker build without buildx", () => {
    expect(dockerBuildArgs({ ...base, buildx: false })).toEqual(["build", "-t", "r/app:1234abcd", "-f", "/ctx/Dockerfile.wandb", "/ctx"]);
  });
});
