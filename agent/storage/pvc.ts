import { constants, createWriteStream } from "node:fs";
import { access, rm, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { LaunchError } from "../errors.js";
import { assertContextDir, contextTarball } from "./tarball.js";
import type { ContextStore } from "./types.js";

/** Where the build pod mounts the claim (the official agent's fixed path). */
export const KANIKO_PVC_CONTEXT_DIR = "/context";

/**
 * kaniko's PVC mode (reference §6.3), as the official agent supports it: with
 * WANDB_LAUNCH_KANIKO_PVC_NAME set, the agent writes the context tarball to the claim it has
 * mounted at WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH (default /kaniko), and the build pod mounts the same
 * claim at /context and reads `tar:///context/<run id>.tgz`. No bucket is involved.
 */
export class PvcContextStore implements ContextStore {
  readonly kind = "pvc" as const;

  constructor(
    readonly claimName: string,
    readonly mountPath: string,
  ) {}

  async uploadContext(dir: string, objectName: string, signal?: AbortSignal): Promise<string> {
    await assertContextDir(dir);
    const target = join(this.mountPath, objectName);
    try {
      await pipeline(contextTarball(dir).stream, createWriteStream(target, { mode: 0o644 }), ...(signal ? [{ signal }] : []));
    } catch (err) {
      await rm(target, { force: true });
      if (err instanceof LaunchError) throw err;
      throw new LaunchError(`could not write the build context to ${target} on PVC ${this.claimName}: ${(err as Error).message}`, "build", { cause: err });
    }
    return `tar://${KANIKO_PVC_CONTEXT_DIR}/${objectName}`;
  }

  async deleteContext(uri: string): Promise<void> {
    await rm(join(this.mountPath, basename(uri)), { force: true });
  }

  async verify(): Promise<void> {
    try {
      if (!(await stat(this.mountPath)).isDirectory()) throw new Error("not a directory");
      await access(this.mountPath, constants.W_OK);
    } catch (err) {
      throw new LaunchError(
        `WANDB_LAUNCH_KANIKO_PVC_NAME is ${this.claimName}, but its mount path ${this.mountPath} is not a writable directory in the agent (${(err as Error).message}): mount the claim there, or set WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH to where it is mounted`,
        "build",
        { cause: err },
      );
    }
  }
}

/** The PVC store the environment asks for, or null (WANDB_LAUNCH_KANIKO_PVC_NAME unset). */
export function pvcContextStoreFrom(env: NodeJS.ProcessEnv): PvcContextStore | null {
  const claim = env.WANDB_LAUNCH_KANIKO_PVC_NAME;
  if (!claim) return null;
  return new PvcContextStore(claim, (env.WANDB_LAUNCH_KANIKO_PVC_MOUNT_PATH || "/kaniko").replace(/(.)\/+$/, "$1"));
}
