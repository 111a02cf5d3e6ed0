// A Pulumi engine for the program, built on @pulumi/pulumi's own generated gRPC service definitions: the
// ResourceMonitor the SDK registers resources and invokes data sources on, and the Engine it logs to. It records
// every registration, answers invokes and computes provider state from the shared fixtures (stacks/mocks.ts), and
// fails a registration the way the engine does when the provider's Check rejects it (test/engine/checks.ts).
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import * as grpc from "@grpc/grpc-js";
import type * as engineGrpc from "@pulumi/pulumi/proto/engine_grpc_pb.js";
import type * as enginePb from "@pulumi/pulumi/proto/engine_pb.js";
import type * as providerPb from "@pulumi/pulumi/proto/provider_pb.js";
import type * as resourceGrpc from "@pulumi/pulumi/proto/resource_grpc_pb.js";
import type * as resourcePb from "@pulumi/pulumi/proto/resource_pb.js";
import type * as emptyPb from "google-protobuf/google/protobuf/empty_pb.js";
import { type CallStub, DEFAULT_MOCK_CLOUD, type MockCloud, MockRecorder } from "../../stacks/mocks.js";
import { type CheckFailure, checkResource } from "./checks.js";
import { at, decode, encode, markSecrets, type Obj, UNKNOWN } from "./wire.js";

// The generated modules are CommonJS whose exports ESM cannot see by name: load them as the SDK does.
const requireFromSdk = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi/package.json"));
const resourceRpc = requireFromSdk("./proto/resource_grpc_pb.js") as typeof resourceGrpc;
const resource = requireFromSdk("./proto/resource_pb.js") as typeof resourcePb;
const provider = requireFromSdk("./proto/provider_pb.js") as typeof providerPb;
const engineRpc = requireFromSdk("./proto/engine_grpc_pb.js") as typeof engineGrpc;
const engine = requireFromSdk("./proto/engine_pb.js") as typeof enginePb;
const { Empty } = requireFromSdk("google-protobuf/google/protobuf/empty_pb") as typeof emptyPb;

/** Features the engine reports to the SDK (pkg/resource/deploy/source_eval.go, supportsFeatureID). */
export const ENGINE_FEATURES = [
  "secrets",
  "resourceReferences",
  "outputValues",
  "aliasSpecs",
  "replacementTrigger",
  "deletedWith",
  "replaceWith",
  "transforms",
  "invokeTransforms",
  "parameterization",
  "resourceHooks",
  "errorHooks",
  "sendsOptionsToHooks",
];

/** Invoke results the providers mark secret (their schemas flag these fields as sensitive). */
const SECRET_INVOKE_FIELDS: Record<string, string[]> = {
  "aws:ecr/getAuthorizationToken:getAuthorizationToken": ["authorizationToken", "password"],
  "gcp:organizations/getClientConfig:getClientConfig": ["accessToken"],
  "azure-native:storage:listStorageAccountKeys": ["keys"],
};

export interface Registration {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  /** Parent URN ("" for the root stack). */
  parent: string;
  /** Provider reference (`<urn>::<id>`) when the resource names one. */
  provider: string;
  dependencies: string[];
  propertyDependencies: Record<string, string[]>;
  /** Inputs with secrets unwrapped; unknown values (preview) are `UNKNOWN`. */
  inputs: Obj;
  secretPaths: string[];
  unknownPaths: string[];
  additionalSecretOutputs: string[];
  /** What the engine answered: provider id and state (inputs plus computed properties; empty at preview). */
  id: string;
  state: Obj;
  failures: CheckFailure[];
  /** Outputs a component registered (RegisterResourceOutputs), secrets unwrapped. */
  outputs?: Obj;
  outputSecretPaths?: string[];
}

export interface InvokeRecord {
  token: string;
  args: Obj;
  provider: string;
  /** The reason it failed, if it did. */
  failure?: string;
}

export type Severity = "debug" | "info" | "warning" | "error";
export interface Diagnostic {
  severity: Severity;
  message: string;
  urn: string;
}

export interface FakeEngineOptions {
  project: string;
  stack: string;
  dryRun: boolean;
  /** The working directory the engine runs the program and its providers in (paths in inputs resolve here). */
  cwd: string;
  cloud?: Partial<MockCloud>;
  /** Invoke answers that replace the shared fixtures (e.g. a cluster without an OIDC issuer). */
  calls?: Record<string, CallStub>;
}

const SEVERITY: Record<number, Severity> = { 0: "debug", 1: "info", 2: "warning", 3: "error" };

type Handler<Req, Res> = grpc.handleUnaryCall<Req, Res>;
const fail = (code: grpc.status, details: string): Partial<grpc.StatusObject> => ({ code, details });

export class FakeEngine {
  readonly registrations: Registration[] = [];
  readonly invokes: InvokeRecord[] = [];
  /** Engine.Log messages from the program plus the engine's own errors (check failures, failed invokes). */
  readonly diagnostics: Diagnostic[] = [];
  readonly featuresAsked = new Set<string>();
  rootUrn = "";
  shutdownSignalled = false;
  private readonly byUrn = new Map<string, Registration>();
  private readonly fixtures: MockRecorder;
  private readonly servers: grpc.Server[] = [];

  constructor(readonly opts: FakeEngineOptions) {
    this.fixtures = new MockRecorder({ ...DEFAULT_MOCK_CLOUD, ...opts.cloud });
    for (const [token, stub] of Object.entries(opts.calls ?? {})) this.fixtures.stubCall(token, stub);
  }

  /** Starts the monitor and the engine servers; returns their addresses. */
  async start(): Promise<{ monitor: string; engine: string }> {
    const monitor = await this.serve((s) => s.addService(resourceRpc.ResourceMonitorService, this.monitorImpl()));
    const engineAddr = await this.serve((s) => s.addService(engineRpc.EngineService, this.engineImpl()));
    return { monitor, engine: engineAddr };
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.tryShutdown(() => r()))));
  }

  /** The resource with this URN. */
  get(urn: string): Registration | undefined {
    return this.byUrn.get(urn);
  }

  private async serve(add: (s: grpc.Server) => void): Promise<string> {
    const server = new grpc.Server();
    add(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.servers.push(server);
    return `127.0.0.1:${port}`;
  }

  private urnOf(type: string, name: string, parent: string): string {
    const parentType = parent ? parent.split("::")[2] : undefined;
    const qualified = parentType && !parentType.endsWith("pulumi:pulumi:Stack") ? `${parentType}$${type}` : type;
    return `urn:pulumi:${this.opts.stack}::${this.opts.project}::${qualified}::${name}`;
  }

  private error(message: string, urn = ""): void {
    this.diagnostics.push({ severity: "error", message, urn });
  }

  private register(req: resourcePb.RegisterResourceRequest): resourcePb.RegisterResourceResponse {
    const type = req.getType();
    const name = req.getName();
    const parent = req.getParent();
    const custom = req.getCustom();
    const urn = this.urnOf(type, name, parent);
    if (this.byUrn.has(urn)) {
      this.error(`Duplicate resource URN '${urn}'; try giving it a unique name`, urn);
      throw fail(grpc.status.INVALID_ARGUMENT, `Duplicate resource URN '${urn}'`);
    }
    if (parent && !this.byUrn.has(parent)) throw fail(grpc.status.INVALID_ARGUMENT, `${type} ${name}: parent ${parent} was never registered`);
    const raw = req.getObject()?.toJavaScript() ?? {};
    const { value: inputs, secretPaths, unknownPaths } = decode(req.getObject());
    const propertyDependencies: Record<string, string[]> = {};
    req.getPropertydependenciesMap().forEach((deps, key) => {
      propertyDependencies[key] = deps.getUrnsList();
    });
    const isProvider = type.startsWith("pulumi:providers:");
    const failures = custom && !isProvider ? checkResource(type, name, inputs, this.opts.cwd) : [];
    const reg: Registration = {
      urn,
      type,
      name,
      custom,
      parent,
      provider: req.getProvider(),
      dependencies: req.getDependenciesList(),
      propertyDependencies,
      inputs,
      secretPaths,
      unknownPaths,
      additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
      id: "",
      state: {},
      failures,
    };
    this.registrations.push(reg);
    this.byUrn.set(urn, reg);
    if (failures.length > 0) {
      // The engine prints each failure (diag 2003/2002) and stops the deployment; the SDK sees the monitor go away.
      for (const f of failures) {
        const v = f.property ? at(inputs, f.property) : undefined;
        const value = typeof v === "string" ? v : v === undefined ? "<nil>" : JSON.stringify(v);
        this.error(f.property ? `${type} resource '${name}': property ${f.property} value {${value}} has a problem: ${f.reason}` : `${type} resource '${name}' has a problem: ${f.reason}`, urn);
      }
      throw fail(grpc.status.UNAVAILABLE, "resource monitor shut down: a resource failed its provider's checks");
    }

    const res = new resource.RegisterResourceResponse();
    res.setUrn(urn);
    let outputs: Obj = {};
    if (custom && this.opts.dryRun) {
      // Preview: the provider plans the resource; inputs flow through, computed properties stay unknown.
      reg.id = isProvider ? UNKNOWN : "";
      outputs = raw;
    } else if (custom) {
      if (unknownPaths.length > 0) throw fail(grpc.status.INVALID_ARGUMENT, `${type} ${name}: unknown inputs outside preview: ${unknownPaths.join(", ")}`);
      const computed = isProvider ? { id: randomUUID(), state: raw } : this.fixtures.newResource({ type, name, inputs: raw, provider: reg.provider, custom: true });
      reg.id = computed.id ?? "";
      reg.state = decode(encode(computed.state)).value;
      outputs = computed.state;
    }
    res.setId(reg.id);
    res.setObject(encode(req.getAcceptsecrets() ? outputs : decode(encode(outputs)).value));
    return res;
  }

  private invoke(req: resourcePb.ResourceInvokeRequest): providerPb.InvokeResponse {
    const token = req.getTok();
    const { value: args } = decode(req.getArgs());
    const record: InvokeRecord = { token, args, provider: req.getProvider() };
    this.invokes.push(record);
    const res = new provider.InvokeResponse();
    try {
      const result = this.fixtures.call({ token, inputs: req.getArgs()?.toJavaScript() ?? {}, provider: record.provider });
      res.setReturn(encode(markSecrets(result, SECRET_INVOKE_FIELDS[token] ?? [])));
    } catch (err) {
      record.failure = err instanceof Error ? err.message : String(err);
      this.error(`${token}: ${record.failure}`);
      const failure = new provider.CheckFailure();
      failure.setProperty("");
      failure.setReason(record.failure);
      res.setFailuresList([failure]);
    }
    return res;
  }

  private monitorImpl(): grpc.UntypedServiceImplementation {
    const unary =
      <Req, Res>(fn: (req: Req) => Res): Handler<Req, Res> =>
      (call, callback) => {
        try {
          callback(null, fn(call.request));
        } catch (err) {
          const status = err !== null && typeof err === "object" && "code" in err ? (err as grpc.StatusObject) : fail(grpc.status.INTERNAL, String(err));
          callback(status as grpc.ServiceError, null);
        }
      };
    const unsupported = (method: string) =>
      unary(() => {
        this.error(`engine harness: the program called ResourceMonitor.${method}, which the harness does not model`);
        throw fail(grpc.status.UNIMPLEMENTED, `ResourceMonitor.${method} is not modelled by the engine harness`);
      });
    const impl: Partial<resourceGrpc.IResourceMonitorServer> = {
      supportsFeature: unary((req: resourcePb.SupportsFeatureRequest) => {
        this.featuresAsked.add(req.getId());
        return new resource.SupportsFeatureResponse().setHassupport(ENGINE_FEATURES.includes(req.getId()));
      }),
      registerResource: unary((req: resourcePb.RegisterResourceRequest) => this.register(req)),
      registerResourceOutputs: unary((req: resourcePb.RegisterResourceOutputsRequest) => {
        const reg = this.byUrn.get(req.getUrn());
        if (!reg) throw fail(grpc.status.INVALID_ARGUMENT, `RegisterResourceOutputs for unknown URN ${req.getUrn()}`);
        const { value, secretPaths } = decode(req.getOutputs());
        reg.outputs = value;
        reg.outputSecretPaths = secretPaths;
        return new Empty();
      }),
      invoke: unary((req: resourcePb.ResourceInvokeRequest) => this.invoke(req)),
      signalAndWaitForShutdown: unary(() => {
        this.shutdownSignalled = true;
        return new Empty();
      }),
    };
    for (const m of ["getDeploymentInfo", "call", "readResource", "registerStackTransform", "registerStackInvokeTransform", "registerResourceHook", "registerErrorHook", "registerPackage"] as const) {
      impl[m] = unsupported(m) as never;
    }
    return impl as grpc.UntypedServiceImplementation;
  }

  private engineImpl(): grpc.UntypedServiceImplementation {
    const impl: Partial<engineGrpc.IEngineServer> = {
      log: (call, cb) => {
        const r = call.request;
        if (!r.getEphemeral()) this.diagnostics.push({ severity: SEVERITY[r.getSeverity()] ?? "info", message: r.getMessage(), urn: r.getUrn() });
        cb(null, new Empty());
      },
      getRootResource: (_call, cb) => cb(null, new engine.GetRootResourceResponse().setUrn(this.rootUrn)),
      setRootResource: (call, cb) => {
        this.rootUrn = call.request.getUrn();
        cb(null, new engine.SetRootResourceResponse());
      },
      requirePulumiVersion: (_call, cb) => cb(null, new engine.RequirePulumiVersionResponse()),
      startDebugging: (_call, cb) => cb(fail(grpc.status.UNIMPLEMENTED, "no debugger in the engine harness") as grpc.ServiceError, null),
    };
    return impl as grpc.UntypedServiceImplementation;
  }
}
