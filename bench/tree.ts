import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The benchmark tree: many small files (source code, configs) plus some large ones (checkpoints, data). */
export interface TreeSpec {
  dirs: number;
  smallPerDir: number;
  smallMax: number;
  large: number;
  largeSize: number;
}

export const DEFAULT_TREE: TreeSpec = { dirs: 500, smallPerDir: 100, smallMax: 8192, large: 1000, largeSize: 1 << 20 };

export function treeFiles(spec: TreeSpec): number {
  return spec.dirs * spec.smallPerDir + spec.large;
}

/** Deterministic bytes: a fixed pool of pseudo-random data, sliced at varying offsets. */
function pool(): Buffer {
  const out = Buffer.alloc(4 << 20);
  let block = createHash("sha256").update("launch-bench").digest();
  for (let i = 0; i < out.length; i += 32) {
    block = createHash("sha256").update(block).digest();
    block.copy(out, i);
  }
  return out;
}

/** Generate the tree under `root` unless a complete one for the same spec is already there. Returns total bytes. */
export async function ensureTree(root: string, spec: TreeSpec = DEFAULT_TREE): Promise<{ files: number; bytes: number; reused: boolean }> {
  const marker = join(root, ".bench-tree.json");
  const want = JSON.stringify(spec);
  if (existsSync(marker)) {
    const saved = JSON.parse(await readFile(marker, "utf8")) as { spec: string; files: number; bytes: number };
    if (saved.spec === want) return { files: saved.files, bytes: saved.bytes, reused: true };
  }
  await rm(root, { recursive: true, force: true });
  const data = pool();
  let bytes = 0;
  let files = 0;
  for (let d = 0; d < spec.dirs; d++) {
    const dir = join(root, `pkg${String(d).padStart(4, "0")}`, "module");
    await mkdir(dir, { recursive: true });
    for (let f = 0; f < spec.smallPerDir; f++) {
      const size = 64 + ((d * 7919 + f * 104729) % spec.smallMax);
      const off = (d * 31 + f * 4099) % (data.length - size);
      await writeFile(join(dir, `file${f}.py`), data.subarray(off, off + size));
      bytes += size;
      files++;
    }
  }
  await mkdir(join(root, "data"), { recursive: true });
  for (let i = 0; i < spec.large; i++) {
    const off = (i * 65537) % (data.length - spec.largeSize);
    await writeFile(join(root, "data", `shard${String(i).padStart(5, "0")}.bin`), data.subarray(off, off + spec.largeSize));
    bytes += spec.largeSize;
    files++;
  }
  await writeFile(marker, JSON.stringify({ spec: want, files, bytes }));
  return { files, bytes, reused: false };
}
