// Pulumi entry point (Pulumi.yaml `main`). Every top-level export becomes a stack output:
// `pulumi stack output launchConfig` shows the generated launch-config.yaml.
import { runProgram } from "./program.js";

const out = runProgram();

export const cloud = out.cloud;
export const registry = out.registry;
export const bucket = out.bucket;
export const identity = out.identity;
export const namespace = out.namespace;
export const serviceAccount = out.serviceAccount;
export const agentImage = out.agentImage;
export const launchConfig = out.launchConfig;
