import type { AgentConfig } from "../config/index.js";
import { LaunchError } from "../errors.js";
import { LocalContainerRunner } from "./local-container.js";
import { LocalProcessRunner } from "./local-process.js";
import type { Runner } from "./types.js";

/** The resources this agent can run on, by the names run specs use. */
export const SUPPORTED_RESOURCES = ["local-process", "local-container", "kubernetes", "sagemaker", "vertex", "gcp-vertex"] as const;

export interface RunnerContext {
  config: AgentConfig;
  /** The agent's name, for the labels Kubernetes runs carry. */
  agentName: string;
}

/**
 * A runner for the run spec's `resource`; an unknown one fails the item (stage run), not the agent.
 * The Kubernetes runner (and its client library) is loaded only when a run asks for it.
 */
export async function createRunner(resource: string, ctx: RunnerContext): Promise<Runner> {
  switch (resource) {
    case "local-process":
      return new LocalProcessRunner();
    case "local-container":
    case "local": // the official agent's older name for local-container
      return new LocalContainerRunner();
    case "kubernetes": {
      const { KubernetesRunner } = await import("./kubernetes.js");
      return new KubernetesRunner({ config: ctx.config, agentName: ctx.agentName });
    }
    case "sagemaker": {
      const { SageMakerRunner } = await import("./sagemaker.js");
      return new SageMakerRunner({ config: ctx.config });
    }
    case "vertex":
    case "gcp-vertex": {
      const { VertexRunner } = await import("./vertex.js");
      return new VertexRunner({ config: ctx.config });
    }
    default:
      throw new LaunchError(
        `resource ${JSON.stringify(resource)} is not supported by this agent; supported: ${SUPPORTED_RESOURCES.join(", ")}. ` +
          `Set "resource" in the run spec (launch-agent local push --resource ...).`,
        "run",
      );
  }
}
