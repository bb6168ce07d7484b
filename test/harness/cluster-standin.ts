// The engine's part for the cluster layer, where the real Pulumi engine cannot run (docs/toolchain.md): what
// `pulumi up` does with the program's cluster-side registrations (recorded by the mocks, test/harness/run.ts).
// - `kubernetes:*` objects: as the engine, an object whose inputs equal the previous run's is left alone (no
//   API call); a new or changed one is applied with `kubectl apply --server-side` (a stand-in for the
//   Kubernetes provider: its field managers, upsert and replace logic are not emulated);
// - runtime registries: their dynamic provider, loaded from the exact `__provider` text the program serializes
//   into the state, gets the engine's calls: create on a new stack, diff (+ update) on a re-run, delete on
//   destroy unless `retainOnDelete`.
import { strict as assert } from "node:assert";
import type * as pulumi from "@pulumi/pulumi";
import type { CreateOnlyConfigMapState } from "../../components/registries";
import { isSecretValue, type RecordedResource } from "../mocks";
import { loadSerializedProvider } from "./dynamic";
import type { ProgramRun } from "./run";

export const REGISTRY_TYPE = "pulumi-nodejs:dynamic/registries:CreateOnlyConfigMap";

export type Kubectl = (args: string[], input?: string) => string;

/** Recorded inputs with every secret wrapper removed (what a provider receives after decryption). */
export function plainDeep(value: unknown): unknown {
  if (isSecretValue(value)) {
    return plainDeep((value as { value: unknown }).value);
  }
  if (Array.isArray(value)) {
    return value.map(plainDeep);
  }
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plainDeep(v)]));
  }
  return value;
}

export interface UpResult {
  /** Kubernetes objects applied. */
  applied: number;
  /** Objects the engine would create or update (inputs new or different from the previous run's). */
  objectWrites: string[];
  /** Registry provider calls that were creates or updates. */
  registryWrites: string[];
}

interface Manifest {
  kind: string;
  metadata: { name: string; namespace?: string };
}

export class ClusterStandIn {
  /** Registry name -> the outputs the engine keeps in the state for it. */
  readonly state = new Map<string, CreateOnlyConfigMapState>();
  /** Object URN -> the inputs it was last applied with. */
  readonly objectState = new Map<string, string>();

  constructor(private readonly kubectl: Kubectl) {}

  static registries(run: ProgramRun): RecordedResource[] {
    return run.resources.filter((r) => r.type === REGISTRY_TYPE);
  }

  static objects(run: ProgramRun): RecordedResource[] {
    return run.resources.filter((r) => r.type.startsWith("kubernetes:"));
  }

  static provider(r: RecordedResource): pulumi.dynamic.ResourceProvider<CreateOnlyConfigMapState> {
    return loadSerializedProvider<CreateOnlyConfigMapState>(r.inputs["__provider"] as string);
  }

  /** The engine hands a dynamic provider its inputs without the serialized provider itself. */
  static registryInputs(r: RecordedResource): CreateOnlyConfigMapState {
    const inputs = plainDeep(r.inputs) as Record<string, unknown>;
    delete inputs["__provider"];
    return inputs as unknown as CreateOnlyConfigMapState;
  }

  async up(run: ProgramRun): Promise<UpResult> {
    assert.equal(run.error, undefined, run.error);
    const objectWrites: string[] = [];
    const objects = ClusterStandIn.objects(run);
    for (const object of objects) {
      const manifest = plainDeep(object.inputs) as Manifest;
      const inputs = JSON.stringify(manifest);
      if (this.objectState.get(object.urn) === inputs) {
        continue;
      }
      this.kubectl(
        ["apply", "--server-side", "--force-conflicts", "--field-manager=pulumi-kubernetes", "-f", "-"],
        inputs,
      );
      this.objectState.set(object.urn, inputs);
      objectWrites.push(`${manifest.kind}/${manifest.metadata.name}`);
    }
    const registryWrites: string[] = [];
    for (const registry of ClusterStandIn.registries(run)) {
      const inputs = ClusterStandIn.registryInputs(registry);
      const provider = ClusterStandIn.provider(registry);
      const previous = this.state.get(inputs.name);
      if (previous === undefined) {
        const created = await provider.create(inputs);
        this.state.set(inputs.name, created.outs as CreateOnlyConfigMapState);
        registryWrites.push(`create ${inputs.name}`);
        continue;
      }
      assert.ok(provider.diff && provider.update);
      const diff = await provider.diff(`kube-system/${inputs.name}`, previous, inputs);
      assert.deepEqual(diff.replaces ?? [], [], "a registry is never replaced");
      if (diff.changes === true) {
        const updated = await provider.update(`kube-system/${inputs.name}`, previous, inputs);
        this.state.set(inputs.name, updated.outs as CreateOnlyConfigMapState);
        registryWrites.push(`update ${inputs.name}`);
      }
    }
    return { applied: objects.length, objectWrites, registryWrites };
  }

  /** `pulumi destroy`: registries through their provider, then the objects, in reverse order. */
  async destroy(run: ProgramRun): Promise<void> {
    for (const registry of ClusterStandIn.registries(run).reverse()) {
      if (registry.retainOnDelete) {
        continue;
      }
      const provider = ClusterStandIn.provider(registry);
      const outs = this.state.get(ClusterStandIn.registryInputs(registry).name);
      assert.ok(provider.delete && outs);
      await provider.delete(`kube-system/${outs.name}`, outs);
      this.state.delete(outs.name);
    }
    for (const object of ClusterStandIn.objects(run).reverse()) {
      if (object.retainOnDelete) {
        continue;
      }
      const manifest = plainDeep(object.inputs) as Manifest;
      const ns = manifest.metadata.namespace ? ["-n", manifest.metadata.namespace] : [];
      this.kubectl([
        ...ns,
        "delete",
        manifest.kind,
        manifest.metadata.name,
        "--ignore-not-found",
        "--wait=true",
      ]);
    }
  }
}
