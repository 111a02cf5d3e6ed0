// Pulumi entry point (package.json `main`; Pulumi.yaml names none, so the engine runs the program and its
// providers in the project root). Every top-level export becomes a stack output:
// `pulumi stack output launchConfig` shows the generated launch-config.yaml.
import * as pulumi from "@pulumi/pulumi";
import { StackConfigError } from "./config.js";
import { runProgram, type StackOutputs } from "./program.js";

/** A RunError: `pulumi preview`/`up` show its message alone. */
function configError(message: string): pulumi.RunError {
  const err = new pulumi.RunError(message);
  // The SDK still formats every uncaught error with util.inspect (for tracing); on Node 20.20 that loops forever on
  // a source-mapped frame under node_modules/@pulumi/, and the program hangs instead of failing (test/engine found
  // it). The stack is never shown for a RunError, so leave only the message.
  err.stack = `${err.name}: ${message}`;
  return err;
}

let out: StackOutputs;
try {
  out = runProgram();
} catch (err) {
  throw err instanceof StackConfigError ? configError(err.message) : err;
}

export const cloud = out.cloud;
export const registry = out.registry;
export const bucket = out.bucket;
export const identity = out.identity;
export const namespace = out.namespace;
export const serviceAccount = out.serviceAccount;
export const agentImage = out.agentImage;
export const launchConfig = out.launchConfig;
