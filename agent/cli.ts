import { Command, Option } from "commander";
import { loadAgentConfig, assertQueuesConfigured, assertJobsCanRun, type CliOverrides } from "./config/index.js";
import { createLogger } from "./log.js";
import { LocalBackend, resolveLocalRoot } from "./backend/local/index.js";
import type { QueueBackend } from "./backend/types.js";
import { composeAgent, runUntilStopped } from "./main.js";
import { LaunchError } from "./errors.js";
import { formatFatalError, verbosityFromArgv } from "./report.js";
import { packageVersion } from "./version.js";
import { registerLocalCommands } from "./commands/local.js";
import { registerDemoCommand } from "./commands/demo.js";
import { registerConfigCommands } from "./commands/config-validate.js";
import { registerDoctorCommand } from "./commands/doctor.js";
import { registerBuildPlanCommand } from "./commands/build-plan.js";

interface AgentFlags {
  queue?: string[];
  entity?: string;
  maxJobs?: string;
  config?: string;
  logFile?: string;
  verbose?: number;
  local?: string | boolean;
  exitWhenIdle?: boolean;
  url?: string;
  healthPort?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const count = (_: string, previous = 0) => previous + 1;

/** Start the agent: resolve the config (stopping on any error before touching anything), pick the backend, loop. */
async function runAgentCommand(flags: AgentFlags): Promise<number> {
  if (flags.url !== undefined) {
    throw new LaunchError("--url is not supported in this version: set WANDB_BASE_URL to choose the W&B host");
  }
  const overrides: CliOverrides = { entity: flags.entity, maxJobs: flags.maxJobs, queues: flags.queue, verbose: flags.verbose };
  const { config, warnings } = await loadAgentConfig({ configPath: flags.config, env: process.env, overrides });
  const logger = createLogger({ verbosity: config.verbosity, file: flags.logFile });
  for (const warning of warnings) logger.warn(warning);
  assertQueuesConfigured(config);
  assertJobsCanRun(config);
  let backend: QueueBackend;
  if (flags.local !== undefined && flags.local !== false) {
    const root = resolveLocalRoot(typeof flags.local === "string" ? flags.local : undefined);
    logger.info({ root }, "using the embedded local queue");
    backend = new LocalBackend({ root, logger, stoppedRunTimeoutS: config.stopped_run_timeout ?? 60 });
  } else {
    const { createWandbBackend } = await import("./backend/wandb/index.js");
    backend = createWandbBackend({ config, env: process.env, logger });
  }
  const health = await startHealth(flags.healthPort ?? process.env.LAUNCH_AGENT_HEALTH_PORT, logger);
  const agent = composeAgent({ config, backend, logger, overrides: { exitWhenIdle: flags.exitWhenIdle, ...(health ? { observer: health.metrics } : {}) } });
  try {
    return await runUntilStopped(agent, logger);
  } finally {
    await health?.close();
  }
}

/** The opt-in health and metrics endpoint; the Prometheus client is loaded only when it is asked for. */
async function startHealth(value: string | undefined, logger: ReturnType<typeof createLogger>) {
  if (value === undefined || value === "") return null;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) {
    throw new LaunchError(`--health-port (or LAUNCH_AGENT_HEALTH_PORT) must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  }
  const { startHealthServer } = await import("./health/server.js");
  const health = await startHealthServer({ port }).catch((err: Error) => {
    throw new LaunchError(`--health-port ${port}: cannot listen (${err.message}); choose a free port`);
  });
  logger.info({ port: health.port }, "health endpoint listening: /healthz, /readyz, /metrics");
  return health;
}

export function buildProgram(): Command {
  const program = new Command("launch-agent")
    .description("A W&B Launch agent: takes jobs from queues, builds their images and runs them.")
    .option("-q, --queue <name>", "queue to poll (repeatable; replaces the config file's queues)", collect)
    .option("-e, --entity <entity>", "entity that owns the queues (default: WANDB_ENTITY, else the config, else your default entity)")
    .option("-j, --max-jobs <n>", "most jobs run at once; -1 for unlimited (default: WANDB_LAUNCH_MAX_JOBS, else the config, else 1)")
    .option("-c, --config <path>", "agent config file (default: ~/.config/wandb/launch-config.yaml)")
    .option("-l, --log-file <path>", "write agent logs to this file ('-' for stderr)")
    .option("-v, --verbose", "more output; repeat for more", count)
    .option("--local [dir]", "use the embedded local queue in DIR (default: $LAUNCH_AGENT_LOCAL_DIR, else ~/.local/share/launch-agent/queues)")
    .option("--exit-when-idle", "exit once every queue is empty and no job runs")
    .option("--health-port <port>", "serve /healthz, /readyz and /metrics (Prometheus) on this port (default: $LAUNCH_AGENT_HEALTH_PORT; off when unset)")
    .addOption(new Option("-u, --url <url>").hideHelp())
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .enablePositionalOptions()
    .showHelpAfterError()
    .action(async (flags: AgentFlags) => {
      process.exitCode = await runAgentCommand(flags);
    });
  registerLocalCommands(program);
  registerDemoCommand(program);
  registerConfigCommands(program);
  registerDoctorCommand(program);
  registerBuildPlanCommand(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (err) {
  // One message with the cause and the fix; the stack only with -vv.
  process.stderr.write(`launch-agent: ${formatFatalError(err, verbosityFromArgv(process.argv.slice(2)))}\n`);
  process.exitCode = 1;
}
