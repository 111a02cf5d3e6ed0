// Shared Pulumi mock helper for every infra test (AWS, GCP, Azure, Kubernetes, stacks). The implementation lives
// in stacks/mocks.ts because `npm run render` uses the same mocks.
//
// Usage (one recorder per test file; vitest runs each file in its own worker):
//   const mocks = await installMocks({ config: { "wandb-launch:cloud": "aws" } });   // in beforeAll
//   const { AwsLaunchEnvironment } = await import("../../components/aws/index.js");  // import AFTER setMocks
//   const env = new AwsLaunchEnvironment("t", {...});
//   const dest = await promiseOf(env.outputs.destination); await settle();
//   mocks.one("aws:ecr/repository:Repository").inputs.imageScanningConfiguration ...
//   mocks.clear();                                                                    // between tests
// Unknown invokes throw; add answers with mocks.stubCall(token, fn) and state with mocks.stubResource(type, fn).
export {
  CALL_STUBS,
  DEFAULT_MOCK_CLOUD,
  installMocks,
  isSecretOutput,
  MockRecorder,
  promiseOf,
  RESOURCE_STUBS,
  settle,
} from "../../stacks/mocks.js";
export type {
  CallStub,
  InstallMocksOptions,
  MockCloud,
  RecordedCall,
  RecordedResource,
  ResourceStub,
} from "../../stacks/mocks.js";
