import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AgentObserver } from "../observer.js";

/** Build and run durations span seconds to hours. */
const DURATION_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600];

/**
 * The agent's state as Prometheus metrics (plus the usual process metrics), and the facts /healthz
 * and /readyz answer from. One registry per agent, so tests can run several.
 */
export class AgentMetrics implements AgentObserver {
  readonly registry = new Registry();
  private lastTick = Date.now();
  private isStarted = false;
  private outageSince: number | null = null;
  private outageMs = 0;
  private readonly items: Counter<"outcome" | "stage">;
  private readonly builds: Counter<"result">;
  private readonly buildSeconds: Histogram<"result">;
  private readonly uploadSeconds: Histogram;
  private readonly runSeconds: Histogram<"status">;
  private readonly backendErrors: Counter;
  private readonly inFlight: Gauge;

  constructor(private readonly now: () => number = Date.now) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.items = new Counter({ name: "launch_agent_items_total", help: "Queue items ended, by outcome and the stage they ended in", labelNames: ["outcome", "stage"], registers });
    this.builds = new Counter({ name: "launch_agent_builds_total", help: "Image builds: built, or skipped because the tag existed", labelNames: ["result"], registers });
    this.buildSeconds = new Histogram({ name: "launch_agent_build_duration_seconds", help: "Time to build and push an image (or find it exists)", labelNames: ["result"], buckets: DURATION_BUCKETS, registers });
    this.uploadSeconds = new Histogram({ name: "launch_agent_context_upload_duration_seconds", help: "Time to upload a build context to the build-context store", buckets: DURATION_BUCKETS, registers });
    this.runSeconds = new Histogram({ name: "launch_agent_run_duration_seconds", help: "Time from submitting a run to its end, by end status", labelNames: ["status"], buckets: DURATION_BUCKETS, registers });
    this.backendErrors = new Counter({ name: "launch_agent_backend_errors_total", help: "Failed calls to the queue backend", registers });
    this.inFlight = new Gauge({ name: "launch_agent_runs_in_flight", help: "Items being built, run or monitored", registers });
    const self = this;
    new Counter({
      name: "launch_agent_backend_outage_seconds_total",
      help: "Time the queue backend has been unreachable, the current outage included",
      registers,
      collect() {
        this.reset();
        this.inc(self.outageSeconds());
      },
    });
    new Gauge({
      name: "launch_agent_backend_up",
      help: "1 while the backend answers and the agent is registered, else 0",
      registers,
      collect() {
        this.set(self.ready() ? 1 : 0);
      },
    });
    new Gauge({
      name: "launch_agent_loop_last_tick_timestamp_seconds",
      help: "When the agent loop last turned",
      registers,
      collect() {
        this.set(self.lastTick / 1000);
      },
    });
  }

  started(): void {
    this.isStarted = true;
    this.lastTick = this.now();
  }
  tick(runsInFlight: number): void {
    this.lastTick = this.now();
    this.inFlight.set(runsInFlight);
  }
  backendOk(): void {
    if (this.outageSince !== null) this.outageMs += this.now() - this.outageSince;
    this.outageSince = null;
  }
  backendError(): void {
    this.backendErrors.inc();
    this.outageSince ??= this.now();
  }
  itemDone(outcome: string, stage: string): void {
    this.items.inc({ outcome, stage });
  }
  build(built: boolean, seconds: number, uploadSeconds?: number): void {
    const result = built ? "built" : "skipped";
    this.builds.inc({ result });
    this.buildSeconds.observe({ result }, seconds);
    if (uploadSeconds !== undefined) this.uploadSeconds.observe(uploadSeconds);
  }
  runEnded(status: string, seconds: number): void {
    this.runSeconds.observe({ status }, seconds);
  }

  outageSeconds(): number {
    return (this.outageMs + (this.outageSince !== null ? this.now() - this.outageSince : 0)) / 1000;
  }
  /** Registered with the backend, and its last call succeeded. */
  ready(): boolean {
    return this.isStarted && this.outageSince === null;
  }
  /** Milliseconds since the loop last turned (or since start, before the first turn). */
  sinceLastTick(): number {
    return this.now() - this.lastTick;
  }
}
