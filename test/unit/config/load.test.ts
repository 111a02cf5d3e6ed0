import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  assertQueuesConfigured,
  concurrencyLimit,
  ConfigError,
  defaultConfigPath,
  loadAgentConfig,
  parseConfigYaml,
  resolveConfigDocument,
  type LoadOptions,
} from "../../../agent/config/index.js";

let dir: string;
let home: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "launch-config-"));
  home = join(dir, "home");
  await mkdir(home);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function defaultFile(text: string): Promise<string> {
  const path = defaultConfigPath(home);
  await mkdir(join(home, ".config", "wandb"), { recursive: true });
  await writeFile(path, text);
  return path;
}

async function loadError(opts: LoadOptions): Promise<ConfigError> {
  try {
    await loadAgentConfig({ homeDir: home, env: {}, ...opts });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error("expected loadAgentConfig to fail");
}

describe("finding the file", () => {
  it("reads ~/.config/wandb/launch-config.yaml when --config is not given", async () => {
    const path = await defaultFile("queues: [from-default]\nmax_jobs: 4\n");
    expect(path).toBe(join(home, ".config", "wandb", "launch-config.yaml"));
    const loaded = await loadAgentConfig({ homeDir: home, env: {} });
    expect(loaded.path).toBe(path);
    expect(loaded.config).toMatchObject({ queues: ["from-default"], max_jobs: 4 });
  });

  it("silently ignores a missing default file and uses the defaults", async () => {
    const loaded = await loadAgentConfig({ homeDir: home, env: {} });
    expect(loaded).toEqual({
      path: null,
      warnings: [],
      config: { max_jobs: 1, max_schedulers: 1, queues: [], registry: {}, builder: {}, verbosity: 0 },
    });
  });

  it("also ignores a default path whose parent is not a directory", async () => {
    await writeFile(join(home, ".config"), "not a directory");
    expect((await loadAgentConfig({ homeDir: home, env: {} })).path).toBeNull();
  });

  it("fails naming the path when the --config file is missing or a directory", async () => {
    const cases: [string, string][] = [
      [join(dir, "nope.yaml"), "Could not find the specified launch config file"],
      [dir, "is a directory, not a file"],
    ];
    for (const [path, says] of cases) {
      const err = await loadError({ configPath: path });
      expect(err.message).toContain(path);
      expect(err.message).toContain(says);
      expect(err.issues).toEqual([{ path: "", message: err.message }]);
    }
  });

  it("prefers --config over the default file", async () => {
    await defaultFile("queues: [from-default]\n");
    const path = await file("explicit.yaml", "queues: [explicit]\n");
    const loaded = await loadAgentConfig({ homeDir: home, env: {}, configPath: path });
    expect(loaded.path).toBe(path);
    expect(loaded.config.queues).toEqual(["explicit"]);
  });
});

describe("parsing", () => {
  it("an empty or comment-only file is {}", async () => {
    for (const text of ["", "# nothing\n", "---\n"]) {
      const loaded = await loadAgentConfig({ homeDir: home, env: {}, configPath: await file("e.yaml", text) });
      expect(loaded.config).toEqual({ max_jobs: 1, max_schedulers: 1, queues: [], registry: {}, builder: {}, verbosity: 0 });
    }
  });

  it("reports YAML syntax errors with file, line and column", async () => {
    const path = await file("bad.yaml", 'queues: [a]\nbuilder:\n  type: "docker\n');
    const err = await loadError({ configPath: path });
    expect(err.message).toMatch(/^Invalid launch agent config: YAML syntax error in .*bad\.yaml at line \d+, column \d+: /);
    expect(err.issues[0]!.path).toBe("");
    expect(() => parseConfigYaml("a: 1\n  b: 2\n", "x.yaml")).toThrow(/x\.yaml at line 1, column 4/);
  });

  it("rejects documents that are not mappings", () => {
    expect(() => parseConfigYaml("- a\n- b\n", "list.yaml")).toThrow(/must be a YAML mapping.*got a list/);
    expect(() => parseConfigYaml("just text\n", "s.yaml")).toThrow(/got 'just text'/);
  });

  it("parses YAML 1.2 scalars and keeps duplicate keys' last value with a warning", () => {
    const r = parseConfigYaml("max_jobs: 2\nmax_jobs: 3\nentity: 'null'\n", "d.yaml");
    expect(r.doc).toEqual({ max_jobs: 3, entity: "null" });
    expect(r.warnings).toEqual([expect.stringMatching(/^Duplicate key in d\.yaml at line 2, column 1/)]);
  });
});

describe("merge and precedence", () => {
  it("merges shallowly: a file builder block replaces the default {}, absent blocks stay {}", () => {
    const { doc } = resolveConfigDocument({ builder: { type: "noop" } });
    expect(doc).toEqual({ max_jobs: 1, max_schedulers: 1, queues: [], registry: {}, builder: { type: "noop" }, verbosity: 0 });
    // An empty builder block still means "none configured" (automatic docker/noop selection).
    expect(resolveConfigDocument({}).doc.builder).toEqual({});
  });

  it("defaults < file < WANDB_ENTITY / WANDB_LAUNCH_MAX_JOBS < flags", async () => {
    const path = await file("p.yaml", "entity: file-entity\nmax_jobs: 2\nqueues: [file-q]\nverbosity: 1\n");
    const base = { homeDir: home, configPath: path };
    expect((await loadAgentConfig({ ...base, env: {} })).config).toMatchObject({ entity: "file-entity", max_jobs: 2, queues: ["file-q"], verbosity: 1 });

    const env = { WANDB_ENTITY: "env-entity", WANDB_LAUNCH_MAX_JOBS: "3" };
    expect((await loadAgentConfig({ ...base, env })).config).toMatchObject({ entity: "env-entity", max_jobs: 3 });

    const flags = await loadAgentConfig({ ...base, env, overrides: { entity: "flag-entity", maxJobs: "-1", queues: ["q1", "q2"], verbose: 2 } });
    expect(flags.config).toMatchObject({ entity: "flag-entity", max_jobs: -1, queues: ["q1", "q2"], verbosity: 2 });
    expect(concurrencyLimit(flags.config.max_jobs)).toBe(Number.POSITIVE_INFINITY);
    expect(concurrencyLimit(4)).toBe(4);

    // No -q and -v 0 leave the file's values; an empty WANDB_ENTITY is ignored.
    const none = await loadAgentConfig({ ...base, env: { WANDB_ENTITY: "" }, overrides: { queues: [], verbose: 0, maxJobs: 5 } });
    expect(none.config).toMatchObject({ entity: "file-entity", queues: ["file-q"], verbosity: 1, max_jobs: 5 });
  });

  it("reads process.env by default", async () => {
    const saved = process.env.WANDB_LAUNCH_MAX_JOBS;
    process.env.WANDB_LAUNCH_MAX_JOBS = "7";
    try {
      expect((await loadAgentConfig({ homeDir: home })).config.max_jobs).toBe(7);
    } finally {
      if (saved === undefined) delete process.env.WANDB_LAUNCH_MAX_JOBS;
      else process.env.WANDB_LAUNCH_MAX_JOBS = saved;
    }
  });

  it("names the env var or flag that is not an integer, and validates merged values", async () => {
    const envErr = await loadError({ env: { WANDB_LAUNCH_MAX_JOBS: "lots" } });
    expect(envErr.issues).toEqual([{ path: "max_jobs", message: expect.stringContaining("WANDB_LAUNCH_MAX_JOBS='lots' is not a whole number") }]);
    const flagErr = await loadError({ overrides: { maxJobs: "2.5" } });
    expect(flagErr.issues[0]!.message).toContain("--max-jobs '2.5' is not a whole number");
    const negative = await loadError({ env: { WANDB_LAUNCH_MAX_JOBS: "-4" } });
    expect(negative.issues[0]!.message).toContain("['max_jobs': -4]. Error: negative value.");
  });

  it("throws one ConfigError with every issue of the file", async () => {
    const path = await file("many.yaml", "base_url: https://x\nbuilder:\n  type: bad\nenvironment:\n  type: aws\n");
    const err = await loadError({ configPath: path });
    expect(err.issues.map((i) => i.path).sort()).toEqual(["base_url", "builder.type", "environment.region"]);
    expect(err.message).toContain(`Invalid launch agent config (${path})`);
    expect(err.message).toContain("Agent config error in field environment.region: Field required");
    expect(err.stage).toBe("agent");
  });

  it("returns warnings from the YAML and the schema", async () => {
    const path = await file("w.yaml", "queues: [a]\nqueues: [b]\nregistry:\n  type: ecr\n  uri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/r\n");
    const loaded = await loadAgentConfig({ homeDir: home, env: {}, configPath: path });
    expect(loaded.config.queues).toEqual(["b"]);
    expect(loaded.warnings).toEqual([expect.stringContaining("Duplicate key"), expect.stringContaining("registry block is deprecated")]);
  });
});

describe("queues required to run", () => {
  it("assertQueuesConfigured uses the official message", () => {
    expect(() => assertQueuesConfigured({ queues: [], max_jobs: 1, max_schedulers: 1, verbosity: 0 })).toThrow(
      "To launch an agent please specify a queue or a list of queues in the configuration file or cli.",
    );
    expect(() => assertQueuesConfigured({ queues: ["q"], max_jobs: 1, max_schedulers: 1, verbosity: 0 })).not.toThrow();
  });
});
