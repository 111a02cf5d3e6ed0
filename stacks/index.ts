// Pulumi entry point (package.json `main`; Pulumi.yaml names none, so the engine runs the program and its
// providers in the project root). Every top-level export becomes a stack output:
// `pulumi stack output launchConfig` shows the generated launch-config.yaml.
import * as pulumi from "@pulumi/pulumi";
import { StackConfigError } from "./config.js";
import { runProgram, type StackOutputs } from "./program.js";
import { guardStackTraces } from "./stack-traces.js";

guardStackTraces();

let out: StackOutputs;
try {
  out = runProgram();
} catch (err) {
  // A RunError is shown by `pulumi preview`/`up` as its message alone, without a stack trace.
  throw err instanceof StackConfigError ? new pulumi.RunError(err.message) : err;
}

export const cloud = out.cloud;
export const registry = out.registry;
export const bucket = out.bucket;
export const identity = out.identity;
export const namespace = out.namespace;
export const serviceAccount = out.serviceAccount;
export const agentImage = out.agentImage;
export const launchConfig = out.launchConfig;
