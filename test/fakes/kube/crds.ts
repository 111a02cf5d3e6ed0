import { readFileSync } from "node:fs";
import type { CrdFixture } from "../kube-api.js";

/** A CRD schema fixture from test/fixtures/crds/ (real CRDs' openAPIV3Schema; origin and license inside). */
export function crdFixture(file: "volcano-job.json" | "jobset.json" | "pytorchjob.json"): CrdFixture {
  return JSON.parse(readFileSync(new URL(`../../fixtures/crds/${file}`, import.meta.url), "utf8")) as CrdFixture;
}

export const ALL_CRDS = (): CrdFixture[] => [crdFixture("volcano-job.json"), crdFixture("jobset.json"), crdFixture("pytorchjob.json")];
