import type { AgentConfig } from "./config/index.js";
import type { Logger } from "./log.js";
import type { QueueBackend } from "./backend/types.js";
import { LaunchAgent, type AgentOptions } from "./agent.js";
import { selectBuilder } from "./builders/select.js";
import { createRunner } from "./runners/select.js";
import { prepareJobSource } from "./jobs/sources.js";
import { LOCAL_STOP_CHECK_MS } from "./backend/local/store.js";

export interface ComposeOptions {
  config: AgentConfig;
  backend: QueueBackend;
  logger: Logger;
  overrides?: Partial<AgentOptions>;
}

/** Wires the production parts of the agent together; tests override what they need. */
export function composeAgent(opts: ComposeOptions): LaunchAgent {
  const { config, backend, logger } = opts;
  return new LaunchAgent({
    config,
    backend,
    logger,
    selectBuilder: (cfg) => selectBuilder(cfg, { logger }),
    createRunner: (resource, identity) => createRunner(resource, { config, agentName: identity.name }),
    prepareJobSource: (job, log) => prepareJobSource(job, { logger: log }),
    pollIntervalMs: backend.kind === "local" ? 1_000 : 10_000,
    // A marker file is cheap to check; W&B's RunStoppedStatus is asked every 10 s.
    ...(backend.kind === "local" ? { stopCheckIntervalMs: LOCAL_STOP_CHECK_MS } : {}),
    ...opts.overrides,
  });
}

/** Runs an agent until it stops; SIGINT/SIGTERM start a graceful shutdown, a second one exits at once. */
export async function runUntilStopped(agent: LaunchAgent, logger: Logger): Promise<number> {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now");
      process.exit(130);
    }
    agent.stop(`received ${signal}`);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    return await agent.run();
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
