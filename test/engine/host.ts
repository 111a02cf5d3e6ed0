// The Node language host's half of `pulumi preview`/`up`, as pulumi-language-nodejs does it
// (sdk/nodejs/cmd/pulumi-language-nodejs/main.go: Run, execRuntime, constructArguments, constructConfig) with the
// engine's choice of directories (pkg/engine/project.go: getPwdMain): which directory, which node arguments, which
// entry, which environment.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { parse } from "yaml";
import { z } from "zod";

const projectSchema = z.object({
  name: z.string().min(1),
  main: z.string().optional(),
  stackConfigDir: z.string().optional(),
  runtime: z.union([
    z.string(),
    z.object({ name: z.string(), options: z.record(z.string(), z.unknown()).optional() }),
  ]),
});

export interface ProgramInfo {
  /** Where Pulumi.yaml is. */
  root: string;
  project: string;
  /** The working directory of the language host, the program and every provider. */
  pwd: string;
  /** The entry point handed to cmd/run ("." = package.json `main`). */
  main: string;
  nodeargs: string[];
  typescript: boolean;
  tsconfigpath?: string;
  /** Where `Pulumi.<stack>.yaml` files live. */
  stackConfigDir: string;
}

/** pkg/engine/project.go getPwdMain: a `main` naming a file moves the working directory to that file's directory. */
export function getPwdMain(root: string, main: string | undefined): { pwd: string; main: string } {
  if (!main) return { pwd: root, main: "." };
  const abs = isAbsolute(main) ? main : resolve(root, main);
  if (!existsSync(abs)) throw new Error(`project 'main' could not be read: stat ${abs}: no such file or directory`);
  return statSync(abs).isDirectory() ? { pwd: abs, main: "." } : { pwd: dirname(abs), main: basename(abs) };
}

/** Reads Pulumi.yaml like the CLI; `overrides` stand in for edits to the file (tests of other layouts). */
export function readProgramInfo(root: string, overrides: { main?: string } = {}): ProgramInfo {
  const project = projectSchema.parse(parse(readFileSync(join(root, "Pulumi.yaml"), "utf8")));
  const runtime = typeof project.runtime === "string" ? { name: project.runtime, options: {} } : project.runtime;
  if (runtime.name !== "nodejs") throw new Error(`Pulumi.yaml runtime is ${runtime.name}; the harness runs nodejs programs`);
  const options = runtime.options ?? {};
  const { pwd, main } = getPwdMain(root, "main" in overrides ? overrides.main : project.main);
  const { nodeargs, typescript, tsconfig } = options;
  if (nodeargs !== undefined && typeof nodeargs !== "string") throw new Error("nodeargs option must be a string");
  if (typescript !== undefined && typeof typescript !== "boolean") throw new Error("typescript option must be a boolean");
  if (tsconfig !== undefined && typeof tsconfig !== "string") throw new Error("tsconfigpath option must be a string");
  return {
    root,
    project: project.name,
    pwd,
    main,
    // shlex.Split; our nodeargs need no quoting.
    nodeargs: typeof nodeargs === "string" ? nodeargs.split(/\s+/).filter(Boolean) : [],
    // The nodejs runtime's `typescript` option defaults to true.
    typescript: typescript ?? true,
    tsconfigpath: tsconfig,
    stackConfigDir: resolve(root, project.stackConfigDir ?? "."),
  };
}

export interface RunRequest {
  monitor: string;
  engine: string;
  organization: string;
  stack: string;
  dryRun: boolean;
  /** Decrypted config, flat `namespace:key` → string (objects and lists as JSON), as the engine passes it. */
  config: Record<string, string>;
  /** Keys whose values were `secure:` in the stack file. */
  secretKeys: string[];
  /** A directory for the synchronous-invoke pipes (`--sync`). */
  syncDir: string;
}

/** `locateModule`: resolves @pulumi/pulumi/cmd/run from the program directory with node itself. */
export function locateRunModule(programDir: string): string {
  const r = spawnSync(process.execPath, ["-e", "console.log(require.resolve('@pulumi/pulumi/cmd/run'))"], { cwd: programDir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`It looks like the Pulumi SDK has not been installed. Have you run pulumi install? ${r.stderr}`);
  return r.stdout.trim();
}

/** The node command line and environment pulumi-language-nodejs builds for one run. */
export function commandLine(info: ProgramInfo, req: RunRequest, runPath: string): { args: string[]; env: Record<string, string> } {
  const args = [...info.nodeargs, runPath];
  const opt = (k: string, v: string) => v !== "" && args.push(`--${k}`, v);
  opt("monitor", req.monitor);
  opt("engine", req.engine);
  opt("sync", req.syncDir);
  opt("organization", req.organization);
  opt("project", info.project);
  opt("root-directory", info.root);
  opt("stack", req.stack);
  opt("pwd", info.pwd);
  if (req.dryRun) args.push("--dry-run");
  // The CLI's default --parallel is 4 × GOMAXPROCS.
  opt("parallel", String(availableParallelism() * 4));
  args.push(info.main);

  // constructConfig: "<namespace>:<key>" is handed over in the older "<namespace>:config:<key>" form.
  const config: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.config)) {
    const i = k.indexOf(":");
    if (i <= 0) throw new Error(`config key "${k}" has no namespace`);
    config[`${k.slice(0, i)}:config:${k.slice(i + 1)}`] = v;
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    // The CLI's own environment, minus what would leak in from the test runner.
    if (v !== undefined && !k.startsWith("PULUMI_") && !k.startsWith("VITEST") && k !== "NODE_OPTIONS") env[k] = v;
  }
  // Under `npm run mutation`, the program process runs the mutant the test runner has switched on (Stryker's
  // instrumented code reads it from this variable when no mutant is set in-process).
  const activeMutant = (globalThis as { __stryker__?: { activeMutant?: unknown } }).__stryker__?.activeMutant;
  if (activeMutant !== undefined) env.__STRYKER_ACTIVE_MUTANT__ = String(activeMutant);
  env.PULUMI_CONFIG = JSON.stringify(config);
  env.PULUMI_CONFIG_SECRET_KEYS = JSON.stringify(req.secretKeys);
  if (info.typescript) env.PULUMI_NODEJS_TYPESCRIPT = "true";
  if (info.tsconfigpath) env.PULUMI_NODEJS_TSCONFIG_PATH = info.tsconfigpath;
  return { args, env };
}

export interface ProgramExit {
  code: number | null;
  stdout: string;
  stderr: string;
  /** What the language host reports to the engine: "" on success or when the program already logged its error. */
  error: string;
  /** Exit code 32: the program logged a user-actionable error itself (the CLI prints nothing more). */
  bail: boolean;
}

/** Starts the program as execRuntime does (the host's cwd is the program directory) and waits for it. */
export function runNode(info: ProgramInfo, args: string[], env: Record<string, string>, timeoutMs: number): Promise<ProgramExit> {
  return new Promise((resolveExit, reject) => {
    const child = spawn(process.execPath, args, { cwd: info.pwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      stderr += `\n[engine harness] program killed after ${timeoutMs} ms`;
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const bail = code === 32;
      const error = code === 0 || bail ? "" : code === null ? "Program was killed" : `Program exited with non-zero exit code: ${code}`;
      resolveExit({ code, stdout, stderr, error, bail });
    });
  });
}
