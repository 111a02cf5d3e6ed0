// moto (a Python AWS emulator, preinstalled on CI machines: `python3 -m moto.server`) on 127.0.0.1
// with a port the kernel picks. It implements STS, SageMaker CreateTrainingJob/DescribeTrainingJob
// and CloudWatch Logs; its training jobs are "Completed" at once and StopTrainingJob answers 500.
import { spawn, type ChildProcess } from "node:child_process";

/** moto's default account; any access key works. */
export const MOTO_ACCOUNT = "123456789012";
export const MOTO_CREDENTIALS = { accessKeyId: "testing", secretAccessKey: "testing" };

export interface RunningMoto {
  endpoint: string;
  /** Client config for a region against this server. */
  clientConfig(region?: string): { region: string; endpoint: string; credentials: typeof MOTO_CREDENTIALS };
  stop(): Promise<void>;
}

export async function startMoto(): Promise<RunningMoto> {
  const child: ChildProcess = spawn("python3", ["-m", "moto.server", "-H", "127.0.0.1", "-p", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const endpoint = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`moto did not start within 30 s; its output:\n${output}`)), 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /Running on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(
        new Error(
          `moto is not available (python3 -m moto.server exited with ${code}). CI machines have moto 5.2 preinstalled; install it with \`pip install 'moto[server]==5.2.1'\`.\n${output}`,
        ),
      );
    });
    child.on("error", (err) => reject(new Error(`cannot start python3 for moto: ${err.message}`)));
  });
  return {
    endpoint,
    clientConfig: (region = "us-east-1") => ({ region, endpoint, credentials: MOTO_CREDENTIALS }),
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
