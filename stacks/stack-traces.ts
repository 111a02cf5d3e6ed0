// Node 20.20's util.inspect(err, { colors: true }) never returns when a stack line holds a path such as
// node_modules/@pulumi/resource.ts (a scope directory directly followed by a file), and that is where the Pulumi
// SDK's source maps ("../resource.ts" from @pulumi/pulumi/resource.js) place its own frames. The SDK formats every
// uncaught error that way before reporting it, so any error thrown through an SDK frame (a config error, a failed
// lookup inside an apply) would hang `pulumi preview` instead of failing it; test/engine/ caught this. Frames are
// pointed at the package directory instead, which is where those sources belong.
const SDK_FRAME = /([/\\]node_modules[/\\]@pulumi)([/\\])(?=[^/\\\s()]+:\d+)/g;

export function guardStackTraces(): void {
  const prepare = Error.prepareStackTrace;
  if (prepare === undefined) return;
  Error.prepareStackTrace = (err, frames) => {
    const text: unknown = prepare(err, frames);
    return typeof text === "string" ? text.replace(SDK_FRAME, "$1$2pulumi$2") : text;
  };
}
