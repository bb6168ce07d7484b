// The one shared Pulumi mocks module for every test in this process.
//
// Pulumi's public mock interface hides resource options (dependsOn, protect, retainOnDelete, ...), which are
// exactly what several tests must assert. So the mock monitor's registerResource is wrapped to record the raw
// request's options next to the inputs. Outputs for resource types whose real provider computes values the
// program reads (tls keys, remote command stdout) come from `outputsFor`.
import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const mocksModule = require("@pulumi/pulumi/runtime/mocks") as {
  MockMonitor: { prototype: Record<string, unknown> };
};

export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  /** Inputs as the provider receives them; secret values are wrapped (see `isSecretValue`). */
  inputs: Record<string, unknown>;
  parent: string;
  provider: string;
  /** URNs this resource depends on (explicit dependsOn plus input dependencies). */
  dependencies: string[];
  protect: boolean;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  ignoreChanges: string[];
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  customTimeouts: { create: string; update: string; delete: string } | undefined;
}

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** A recorded resource's options when the request set none (Pulumi's defaults). */
export const DEFAULT_OPTIONS: Omit<RecordedResource, "urn" | "type" | "name" | "inputs" | "parent"> = {
  provider: "",
  dependencies: [],
  protect: false,
  retainOnDelete: false,
  deleteBeforeReplace: false,
  ignoreChanges: [],
  replaceOnChanges: [],
  additionalSecretOutputs: [],
  customTimeouts: undefined,
};

/** True when a value recorded from inputs is a Pulumi secret. */
export function isSecretValue(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[pulumi.runtime.specialSigKey] === SECRET_SIG
  );
}

/** The plain value of a recorded input, secret or not. */
export function plain(value: unknown): unknown {
  return isSecretValue(value) ? (value as { value: unknown }).value : value;
}

type OutputsFn = (args: pulumi.runtime.MockResourceArgs) => Record<string, unknown> | undefined;

/** Per-type extra outputs. Tests may add entries (e.g. a kubeconfig on a command's stdout). */
export const outputsFor = new Map<string, OutputsFn>();

const recorded: RecordedResource[] = [];
const pending = new Map<string, Partial<RecordedResource>>();

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getProvider(): string;
  getDependenciesList(): string[];
  getPropertydependenciesMap(): { forEach(cb: (v: { getUrnsList(): string[] }, k: string) => void): void };
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getIgnorechangesList(): string[];
  getReplaceonchangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getCustomtimeouts(): { getCreate(): string; getUpdate(): string; getDelete(): string } | undefined;
}

const monitorProto = mocksModule.MockMonitor.prototype;
const originalRegister = monitorProto.registerResource as (
  this: unknown,
  req: RegisterRequest,
  cb: (err: unknown, res: unknown) => void,
) => Promise<void>;
monitorProto.registerResource = function (
  this: { newUrn(parent: string, type: string, name: string): string },
  req: RegisterRequest,
  cb: (err: unknown, res: unknown) => void,
): Promise<void> {
  const urn = this.newUrn(req.getParent(), req.getType(), req.getName());
  const deps = new Set(req.getDependenciesList());
  req.getPropertydependenciesMap().forEach((v) => {
    v.getUrnsList().forEach((u) => deps.add(u));
  });
  const timeouts = req.getCustomtimeouts();
  pending.set(`${req.getType()}::${req.getName()}`, {
    urn,
    parent: req.getParent(),
    provider: req.getProvider(),
    dependencies: [...deps].sort(),
    protect: req.getProtect() ?? false,
    retainOnDelete: req.getRetainondelete() ?? false,
    deleteBeforeReplace: req.getDeletebeforereplace(),
    ignoreChanges: req.getIgnorechangesList(),
    replaceOnChanges: req.getReplaceonchangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    customTimeouts: timeouts
      ? { create: timeouts.getCreate(), update: timeouts.getUpdate(), delete: timeouts.getDelete() }
      : undefined,
  });
  return originalRegister.call(this, req, cb);
};

let counter = 0;

/** Install the mocks. Call once per process, before the code under test is imported. */
export function installMocks(project = "mynodeone", stack = "test"): void {
  void pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        const key = `${args.type}::${args.name}`;
        const options = pending.get(key) ?? {};
        pending.delete(key);
        recorded.push({
          urn: "",
          parent: "",
          ...DEFAULT_OPTIONS,
          ...options,
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
        });
        const extra = outputsFor.get(args.type)?.(args) ?? {};
        counter += 1;
        return {
          id: `${args.name}-id-${counter}`,
          state: { ...(args.inputs as Record<string, unknown>), ...extra },
        };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        return args.inputs as Record<string, unknown>;
      },
    },
    project,
    stack,
    false,
  );
}

/** Everything registered so far, in registration order. */
export function resources(): readonly RecordedResource[] {
  return recorded;
}

/** Resources of one type (e.g. "command:remote:Command"), optionally under a URN prefix / parent name. */
export function resourcesOfType(type: string): RecordedResource[] {
  return recorded.filter((r) => r.type === type);
}

/** The recorded resource with this type and name; throws when absent. */
export function resourceNamed(type: string, name: string): RecordedResource {
  const found = recorded.find((r) => r.type === type && r.name === name);
  if (!found) {
    const names = recorded.filter((r) => r.type === type).map((r) => r.name);
    throw new Error(`no ${type} named ${name}; have: ${names.join(", ")}`);
  }
  return found;
}

/** Resolve an Output's value in a test (undefined when unknown). */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

/** Wait until all pending resource registrations have settled. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setImmediate(r));
  }
}

/** What one test's components registered: the resources named `<prefix>-...` (component tests name all so). */
export interface Registered {
  all: RecordedResource[];
  of: (type: string) => RecordedResource[];
  /** The one resource of `type`; fails the test when there are none or several. */
  one: (type: string) => RecordedResource;
}

/** Wait until registrations settle, then what the components named `<prefix>-...` registered. */
export async function registeredUnder(prefix: string): Promise<Registered> {
  await settle();
  const all = recorded.filter((r) => r.name.startsWith(`${prefix}-`));
  const of = (type: string): RecordedResource[] => all.filter((r) => r.type === type);
  const one = (type: string): RecordedResource => {
    const found = of(type);
    assert.equal(found.length, 1, `expected one ${type}, got ${found.length}`);
    return found[0] as RecordedResource;
  };
  return { all, of, one };
}

/** A recorded Secret's `data`, base64-decoded; asserts it reaches the provider as a Pulumi secret. */
export function secretData(secret: RecordedResource | undefined): Record<string, string> {
  assert.ok(secret, "Secret not registered");
  const data = secret.inputs["data"];
  assert.ok(isSecretValue(data), `${secret.name}: data must be a Pulumi secret`);
  return Object.fromEntries(
    Object.entries(plain(data) as Record<string, unknown>).map(([key, value]) => [
      key,
      Buffer.from(plain(value) as string, "base64").toString("utf8"),
    ]),
  );
}

/** The parts of a Kubernetes object's `metadata` the tests read. */
export interface KubeMetadata {
  name: string;
  namespace?: string;
  annotations?: Record<string, string>;
}

/** The `metadata` input of a recorded Kubernetes object. */
export function metadataOf(resource: RecordedResource): KubeMetadata {
  return resource.inputs["metadata"] as KubeMetadata;
}
