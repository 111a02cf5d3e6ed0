/**
 * What the agent loop and its items report as they go, for the health endpoint and its metrics
 * (agent/health/). The loop calls these whether or not anyone listens; the default does nothing,
 * so the Prometheus client is loaded only when `--health-port` asks for it.
 */
export interface AgentObserver {
  /** The backend accepted the agent: it was reached and its credentials verified. */
  started(): void;
  /** One turn of the loop began. */
  tick(runsInFlight: number): void;
  /** A call to the backend succeeded (ends an outage). */
  backendOk(): void;
  /** A call to the backend failed (starts or continues an outage). */
  backendError(): void;
  /** An item ended: its outcome (finished, failed, stopped, …) and the stage it ended in. */
  itemDone(outcome: string, stage: string): void;
  /** An image build ended: built, or skipped because the tag existed; upload of its context when there was one. */
  build(built: boolean, seconds: number, uploadSeconds?: number): void;
  /** A run ended with this status after so long. */
  runEnded(status: string, seconds: number): void;
}

export const quietObserver: AgentObserver = {
  started() {},
  tick() {},
  backendOk() {},
  backendError() {},
  itemDone() {},
  build() {},
  runEnded() {},
};
