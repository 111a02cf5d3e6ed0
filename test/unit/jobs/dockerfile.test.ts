import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  pythonJsonList,
  renderDockerfile,
  validateAcceleratorBaseImage,
  type DockerfileInputs,
  type InstallPrefix,
  type RequirementsBranch,
} from "../../../agent/jobs/dockerfile.js";
import { LaunchError } from "../../../agent/errors.js";

// Golden files were rendered once with the official agent's own Python templates and glue (§2.4–§2.6)
// for the inputs in cases.json; our renderer must match them byte for byte so tags agree (§3.1).
const here = dirname(fileURLToPath(import.meta.url));
interface GoldenCase {
  name: string;
  py: string;
  req: RequirementsBranch["kind"];
  prefix: InstallPrefix;
  user: string;
  uid: number | string;
  resource: string;
  acc?: string;
  entrypoint: string[];
}
const cases = JSON.parse(readFileSync(join(here, "golden", "cases.json"), "utf8")) as GoldenCase[];

function inputs(c: GoldenCase): DockerfileInputs {
  return {
    pythonVersion: c.py,
    requirements: { kind: c.req },
    prefix: c.prefix,
    user: c.user,
    uid: c.uid,
    resource: c.resource,
    acceleratorBaseImage: c.acc ?? null,
    entrypoint: c.entrypoint,
  };
}

describe("generated Dockerfile", () => {
  it("covers every requirements branch with both prefixes", () => {
    const seen = new Set(cases.map((c) => `${c.req}/${c.prefix}`));
    for (const req of ["requirements", "pyproject", "frozen", "none"]) {
      for (const prefix of ["buildx", "no-cache"]) expect(seen).toContain(`${req}/${prefix}`);
    }
  });

  for (const c of cases) {
    it(`matches the official rendering: ${c.name}`, () => {
      const golden = readFileSync(join(here, "golden", `${c.name}.Dockerfile`), "utf8");
      expect(renderDockerfile(inputs(c))).toBe(golden);
    });
  }

  it("uses buster below 3.12 and bookworm from 3.12", () => {
    const base = inputs(cases[0]!);
    expect(renderDockerfile({ ...base, pythonVersion: "3.11" })).toContain("FROM python:3.11-buster as base");
    expect(renderDockerfile({ ...base, pythonVersion: "3.12" })).toContain("FROM python:3.12-bookworm as base");
  });

  it("rejects a Python version that is not X.Y, naming the job's runtime", () => {
    expect(() => renderDockerfile({ ...inputs(cases[0]!), pythonVersion: "3" })).toThrow(/"3" is not of the form X.Y.*runtime/);
  });

  it("writes the entry point as Python's json.dumps does", () => {
    expect(pythonJsonList(["python", "a b", "é", "\u007f"])).toBe('["python", "a b", "\\u00e9", "\\u007f"]');
  });
});

describe("accelerator base image", () => {
  it("accepts image references and sha256 digests", () => {
    expect(validateAcceleratorBaseImage("nvidia/cuda:12.2.0-runtime-ubuntu22.04")).toBe("nvidia/cuda:12.2.0-runtime-ubuntu22.04");
    const digest = `registry.example.com:5000/cuda@sha256:${"a".repeat(64)}`;
    expect(validateAcceleratorBaseImage(digest)).toBe(digest);
  });

  it.each([
    ["a newline that would add a Dockerfile line", "cuda\nRUN curl evil", /whitespace or '#'/],
    ["a comment", "cuda#x", /whitespace or '#'/],
    ["a short digest", "cuda@sha256:abc", /sha256:<64 hex characters>/],
    ["an upper-case repository path", "nvidia/CUDA", /not a valid image reference/],
  ])("rejects %s", (_what, image, message) => {
    let err: unknown;
    try {
      validateAcceleratorBaseImage(image);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LaunchError);
    expect((err as LaunchError).stage).toBe("build");
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain("accelerator.base_image");
  });
});
