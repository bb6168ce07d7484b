// The engine stand-in's diff and dependency handling (no hosts needed): what it runs on the real hosts in
// edge.e2e.test.ts must follow the engine and @pulumi/command 1.x, or the end-to-end results mean nothing.
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_OPTIONS, type RecordedResource } from "../mocks";
import { DIAL_ERROR_LIMIT } from "../../components/remote/ssh";
import { dialWaitsMs, plan, remoteCommands, type DesiredResource, type StackState } from "./engine-standin";

const COMPONENT = "urn:pulumi:dev::p::mynodeone:edge:EdgeHost::edge-a";
const urn = (name: string): string =>
  `urn:pulumi:dev::p::mynodeone:edge:EdgeHost$command:remote:Command::${name}`;

function recorded(
  name: string,
  inputs: Record<string, unknown>,
  dependencies: string[] = [],
): RecordedResource {
  return {
    urn: urn(name),
    type: "command:remote:Command",
    name,
    inputs,
    parent: COMPONENT,
    ...DEFAULT_OPTIONS,
    dependencies,
  };
}

const connection = { host: "10.0.0.1", port: 22, user: "admin", hostKey: "ssh-ed25519 AAAA" };
const desired = (overrides: Partial<DesiredResource["inputs"]> = {}): DesiredResource[] => [
  {
    urn: urn("a-install"),
    inputs: { connection, create: "install v1", delete: "remove", ...overrides },
    dependencies: [],
    protect: false,
    deleteBeforeReplace: false,
  },
];
const stateOf = (resources: DesiredResource[]): StackState => ({
  resources: resources.map((r) => ({ ...r, stdout: "", stderr: "" })),
});

describe("engine stand-in: diff", () => {
  it("creates what is new and runs nothing for unchanged inputs", () => {
    assert.deepEqual(
      plan(desired(), { resources: [] }).map((s) => s.op),
      ["create"],
    );
    assert.deepEqual(plan(desired(), stateOf(desired())), []);
  });

  it("updates in place on a changed command, stdin or connection (pulumi-command 1.x)", () => {
    const before = stateOf(desired());
    for (const change of [
      { create: "install v2" },
      { stdin: "config" },
      { connection: { ...connection, hostKey: "ssh-ed25519 BBBB" } },
      { delete: "remove --all" },
    ]) {
      const [step] = plan(desired(change), before);
      assert.ok(step);
      assert.equal(step.op, "update", JSON.stringify(change));
      assert.deepEqual(step.changed, Object.keys(change));
    }
  });

  it("replaces only on changed triggers", () => {
    const [step] = plan(desired({ triggers: ["x"] }), stateOf(desired()));
    assert.equal(step?.op, "replace");
  });

  it("deletes what the program no longer has, dependents first", () => {
    const two: DesiredResource[] = [
      ...desired(),
      ...desired().map((r) => ({ ...r, urn: urn("a-sync"), dependencies: [urn("a-install")] })),
    ];
    assert.deepEqual(
      plan([], stateOf(two)).map((s) => `${s.op} ${s.urn}`),
      [`delete ${urn("a-sync")}`, `delete ${urn("a-install")}`],
    );
  });

  it("refuses inputs it does not emulate", () => {
    assert.throws(() => plan(desired({ environment: { A: "b" } }), { resources: [] }), /not emulated/);
  });
});

describe("engine stand-in: recorded resources", () => {
  it("unwraps secrets and expands a dependency on a component to the commands under it", () => {
    const secret = { [pulumi.runtime.specialSigKey]: "1b47061264138c4ac30d75fd1eb44270", value: "KEY" };
    const other = "urn:pulumi:dev::p::mynodeone:edge:EdgeHost::edge-b";
    const resources = [
      recorded("a-install", { connection: { ...connection, privateKey: secret }, create: "x" }, [other]),
      { ...recorded("b-install", { connection, create: "y" }), parent: other },
      recorded("k3s", { connection, create: "z" }),
    ];
    const commands = remoteCommands(resources, (r) => r.name !== "k3s");
    assert.deepEqual(
      commands.map((c) => c.urn),
      [urn("a-install"), urn("b-install")],
    );
    const [first] = commands;
    assert.ok(first);
    assert.equal(first.inputs.connection.privateKey, "KEY");
    assert.deepEqual(first.dependencies, [urn("b-install")]);
  });

  it("re-dials a failed handshake with the provider's waits: about a minute for the program's dial limit", () => {
    const waits = dialWaitsMs(DIAL_ERROR_LIMIT);
    assert.equal(waits.length, DIAL_ERROR_LIMIT);
    assert.deepEqual(waits.slice(0, 3), [100, 150, 225]);
    assert.equal(Math.max(...waits), 5000);
    const total = waits.reduce((a, b) => a + b, 0);
    assert.ok(total > 60_000 && total < 62_000, `${total} ms`);
  });
});
