import { describe, expect, it } from "vitest";
import { fillMacros, substituteMacros, macroTable } from "../../../agent/jobs/macros.js";

const values = { project_name: "proj", entity_name: "ent", run_id: "r123", run_name: "nice-run", image_uri: "reg/img:abc", author: "alice" };

describe("resource-arg macros (reference §7.9)", () => {
  it("substitutes the run macros and agent env vars in every string leaf, leaving keys and non-strings alone", () => {
    const args = {
      "${run_id}": "key-stays",
      metadata: { name: "job-${run_id}", labels: { project: "${project_name}", who: "${author}" } },
      spec: { containers: [{ image: "${image_uri}", env: [{ name: "E", value: "${entity_name}/${run_name}" }], args: ["--region=${AWS_REGION}"] }] },
      replicas: 2,
      enabled: true,
      nothing: null,
    };
    const out = fillMacros(args, values, { AWS_REGION: "eu-west-1" });
    expect(out).toEqual({
      "${run_id}": "key-stays",
      metadata: { name: "job-r123", labels: { project: "proj", who: "alice" } },
      spec: { containers: [{ image: "reg/img:abc", env: [{ name: "E", value: "ent/nice-run" }], args: ["--region=eu-west-1"] }] },
      replicas: 2,
      enabled: true,
      nothing: null,
    });
    expect(args.metadata.name).toBe("job-${run_id}"); // input untouched
  });

  it("leaves unknown macros, macros without a value and other dollar forms exactly as written", () => {
    const table = macroTable({ ...values, run_name: null }, {});
    expect(substituteMacros("${nope} ${run_name} $run_id ${run-id} ${} $${run_id}", table)).toBe("${nope} ${run_name} $run_id ${run-id} ${} $r123");
  });

  it("lets the agent's environment override a run macro, as W&B's agent does", () => {
    expect(fillMacros("${project_name}", values, { project_name: "from-env" })).toBe("from-env");
  });
});
