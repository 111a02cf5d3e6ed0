// The engine-contract harness: runs the Pulumi program the way `pulumi preview` / `pulumi up` do — a separate node
// process started by the language host's rules (host.ts) against a gRPC resource monitor and engine (monitor.ts) —
// and returns what that engine saw. `npm run render` and test/engine/*.test.ts both use it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CallStub, MockCloud } from "../../stacks/mocks.js";
import { commandLine, locateRunModule, type ProgramExit, type ProgramInfo, readProgramInfo, runNode } from "./host.js";
import { type Diagnostic, FakeEngine, type InvokeRecord, type Registration } from "./monitor.js";
import type { Obj } from "./wire.js";

export const REPO_ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

export interface EngineRunOptions {
  stack: string;
  /** Flat decrypted config (`wandb-launch:cloud` → `aws`; lists and objects as JSON text). */
  config: Record<string, string>;
  /** Config keys set with `--secret`. */
  secretKeys?: string[];
  /** true = `pulumi preview`, false = `pulumi up`. */
  dryRun: boolean;
  /** Project root (where Pulumi.yaml is). Default: this repository. */
  root?: string;
  /** Replaces Pulumi.yaml's `main` (a key present with `undefined` removes it). */
  project?: { main?: string };
  /** The cloud account the fixtures answer for. */
  cloud?: Partial<MockCloud>;
  /** Invoke answers that replace the shared fixtures. */
  calls?: Record<string, CallStub>;
  organization?: string;
  timeoutMs?: number;
}

export interface EngineRun {
  info: ProgramInfo;
  /** The node command line (after `node`) and the PULUMI_* environment the program got. */
  args: string[];
  pulumiEnv: Record<string, string>;
  exit: ProgramExit;
  registrations: Registration[];
  invokes: InvokeRecord[];
  diagnostics: Diagnostic[];
  featuresAsked: string[];
  /** The root stack resource, with the program's exports as its outputs. */
  stackResource: Registration | undefined;
  /** What `pulumi preview`/`up` would print as errors (engine and program diagnostics, then the host's verdict). */
  errors: string[];
  ok: boolean;
}

/** Runs the program once; never throws for program errors (they are in `errors`). */
export async function runEngine(opts: EngineRunOptions): Promise<EngineRun> {
  const root = opts.root ?? REPO_ROOT;
  const info = readProgramInfo(root, opts.project);
  const fake = new FakeEngine({ project: info.project, stack: opts.stack, dryRun: opts.dryRun, cwd: info.pwd, cloud: opts.cloud, calls: opts.calls });
  const addresses = await fake.start();
  const syncDir = await mkdtemp(join(tmpdir(), "pulumi-sync-"));
  try {
    const runPath = locateRunModule(info.pwd);
    const { args, env } = commandLine(
      info,
      {
        ...addresses,
        organization: opts.organization ?? "organization",
        stack: opts.stack,
        dryRun: opts.dryRun,
        config: opts.config,
        secretKeys: opts.secretKeys ?? [],
        syncDir,
      },
      runPath,
    );
    const exit = await runNode(info, args, env, opts.timeoutMs ?? 120_000);
    const errors = fake.diagnostics.filter((d) => d.severity === "error").map((d) => d.message);
    if (exit.error) errors.push(exit.error);
    if (exit.code === 0 && !fake.shutdownSignalled) errors.push("the program exited without signalling shutdown to the monitor");
    const pulumiEnv = Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith("PULUMI_")));
    return {
      info,
      args,
      pulumiEnv,
      exit,
      registrations: fake.registrations,
      invokes: fake.invokes,
      diagnostics: fake.diagnostics,
      featuresAsked: [...fake.featuresAsked].sort(),
      stackResource: fake.get(fake.rootUrn),
      errors,
      ok: errors.length === 0 && exit.code === 0,
    };
  } finally {
    await fake.stop();
    await rm(syncDir, { recursive: true, force: true });
  }
}

/** A readable account of a run for assertion messages. */
export function explain(run: EngineRun): string {
  return [`errors:\n  ${run.errors.join("\n  ") || "(none)"}`, `exit ${run.exit.code}`, `stderr:\n${run.exit.stderr.slice(-4000)}`].join("\n");
}

/** The registrations of one type. */
export const ofType = (run: EngineRun, type: string): Registration[] => run.registrations.filter((r) => r.type === type);

/** Stack outputs (the program's exports) with secrets unwrapped, and which were secret. */
export function stackOutputs(run: EngineRun): { outputs: Obj; secret: string[] } {
  return { outputs: run.stackResource?.outputs ?? {}, secret: run.stackResource?.outputSecretPaths ?? [] };
}
