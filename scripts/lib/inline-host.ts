// Runs one Pulumi CLI command with this project's program (index.ts) served from this process, the way the
// Automation API runs an inline program: a LanguageRuntime gRPC server on 127.0.0.1 hosts the program, and the
// CLI is given `--client=<address>` instead of starting the Node.js language host (pulumi-language-nodejs).
// Everything else is the CLI's own: Pulumi.yaml, stack-config validation, the plan, providers and state.
//
// For machines whose Pulumi CLI comes without the Node.js language host (built from Go modules where that
// module is not served: docs/toolchain.md); scripts/lib/pulumi.sh picks it only then.
//
// Usage: node -r ts-node/register/transpile-only scripts/lib/inline-host.ts <pulumi> <preview|up|destroy|refresh> [args...]
// Exit status: the CLI's. Standard output and error are the CLI's (so `--json` output can be redirected).
import { spawn } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";

/** Commands that run the program, and so accept `--client`. */
const PROGRAM_COMMANDS = new Set(["preview", "up", "update", "destroy", "refresh"]);

interface GrpcServer {
  addService(service: unknown, implementation: unknown): void;
  bindAsync(address: string, credentials: unknown, callback: (err: Error | null, port: number) => void): void;
  forceShutdown(): void;
}
interface Grpc {
  Server: new (options?: Record<string, unknown>) => GrpcServer;
  ServerCredentials: { createInsecure(): unknown };
}
interface LanguageServerInstance {
  onPulumiExit(hasError: boolean): void;
}

/** Modules of @pulumi/pulumi's own Automation API (internal paths, resolved from the installed SDK). */
function sdkModules(): {
  grpc: Grpc;
  grpcOptions: Record<string, unknown>;
  LanguageServer: new (program: () => Promise<unknown>) => LanguageServerInstance;
  languageService: unknown;
} {
  const sdkDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
  /* eslint-disable @typescript-eslint/no-require-imports -- the SDK's internals, resolved at run time */
  const grpc = require(require.resolve("@grpc/grpc-js", { paths: [sdkDir] })) as Grpc;
  const server = require(path.join(sdkDir, "automation", "server.js")) as {
    LanguageServer: new (program: () => Promise<unknown>) => LanguageServerInstance;
  };
  const proto = require(path.join(sdkDir, "proto", "language_grpc_pb.js")) as {
    LanguageRuntimeService: unknown;
  };
  const settings = require(path.join(sdkDir, "runtime", "settings.js")) as {
    grpcChannelOptions: Record<string, unknown>;
  };
  /* eslint-enable @typescript-eslint/no-require-imports */
  return {
    grpc,
    grpcOptions: settings.grpcChannelOptions,
    LanguageServer: server.LanguageServer,
    languageService: proto.LanguageRuntimeService,
  };
}

/** The project's program: index.ts's default export, loaded once (each run calls it anew). */
function projectProgram(): () => Promise<Record<string, unknown>> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- ts-node compiles index.ts on load
  return require(path.join(__dirname, "..", "..", "index")) as () => Promise<Record<string, unknown>>;
}

async function main(argv: string[]): Promise<number> {
  const [cli, command, ...rest] = argv;
  if (cli === undefined || command === undefined || !PROGRAM_COMMANDS.has(command)) {
    console.error(
      "usage: inline-host.ts <pulumi> <preview|up|destroy|refresh> [args...] (a command that runs the program)",
    );
    return 64;
  }
  const { grpc, grpcOptions, LanguageServer, languageService } = sdkModules();
  const languageServer = new LanguageServer(projectProgram());
  // The channel options the SDK's own inline runs use.
  const server = new grpc.Server(grpcOptions);
  server.addService(languageService, languageServer);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, boundPort) => {
      if (err) {
        reject(err);
      } else {
        resolve(boundPort);
      }
    });
  });
  const args = [command, ...rest, `--client=127.0.0.1:${port}`, "--exec-kind", "auto.inline"];
  const status = await new Promise<number>((resolve) => {
    const child = spawn(cli, args, { stdio: "inherit" });
    // This process hosts the program the CLI is running: it stays until the CLI ends. A Ctrl-C reaches the CLI
    // from the terminal (which then cancels gracefully); other signals are passed on to it.
    process.on("SIGINT", () => undefined);
    for (const signal of ["SIGTERM", "SIGHUP"] as const) {
      process.on(signal, () => {
        child.kill(signal);
      });
    }
    child.on("error", (err) => {
      console.error(`inline-host: cannot run ${cli}: ${err.message}`);
      resolve(127);
    });
    child.on("exit", (code, signal) => {
      resolve(code ?? 128 + (signal ? os.constants.signals[signal] : 0));
    });
  });
  languageServer.onPulumiExit(status !== 0);
  server.forceShutdown();
  return status;
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
