// Runs the whole program (index.ts) under the shared mocks in its own process and writes what it registered
// to MYNODEONE_TEST_OUT as JSON. The config comes in through PULUMI_CONFIG, set by the parent (see run.ts),
// exactly as the engine would pass it. One process per run: Node's module cache registers a program once.
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, resources, settle } from "../mocks";
import { installProgramFakes } from "./fakes";

async function main(): Promise<void> {
  const out = process.env["MYNODEONE_TEST_OUT"];
  const stack = process.env["MYNODEONE_TEST_STACK"] ?? "dev";
  if (out === undefined) {
    throw new Error("MYNODEONE_TEST_OUT is not set");
  }
  installMocks("mynodeone", stack);
  installProgramFakes();
  let result: Record<string, unknown> = {};
  let error: string | undefined;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require("../../index") as () => Promise<Record<string, unknown>>;
    const outputs = await program();
    for (const [name, output] of Object.entries(outputs)) {
      const wrapped: pulumi.Output<unknown> = pulumi.output(output);
      const value = await new Promise((resolve) => wrapped.apply(resolve));
      result[name] = { value, secret: await pulumi.isSecret(wrapped) };
    }
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    result = {};
  }
  await settle();
  fs.writeFileSync(out, JSON.stringify({ error, outputs: result, resources: resources() }, null, 1));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
