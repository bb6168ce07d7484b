// The Flux layer: the FluxInstance, the flux-system GitRepository and Kustomization (what was fetched, what is
// applied and how old it is against the sync interval), and every Kustomization that fails.
import { durationSeconds } from "../../../components/flux/config";
import { FLUX_INSTANCE_API_VERSION, FLUX_INSTANCE_NAME } from "../../../components/flux/instance";
import { condition, conditionText, getObject, type Condition, type KubeGet, type KubeObject } from "./kube";
import { age, Findings, type Outcome, type ProbeContext } from "./probe";
import { oneLine } from "./report";

const DOC = "docs/gitops.md";

const describeCondition = (c: Condition | undefined): string =>
  c === undefined ? "no Ready condition yet" : oneLine(conditionText(c));

interface SourceStatus {
  artifact?: { revision?: string; lastUpdateTime?: string };
}
interface KustomizationStatus {
  lastAppliedRevision?: string;
}

export async function fluxFindings(ctx: ProbeContext, get: KubeGet): Promise<Outcome> {
  const out = new Findings("flux");
  const { namespace, interval, install } = ctx.inputs.flux;
  if (!install) {
    out.skip("flux", "flux.install is false: the stack installs no Flux");
    return out;
  }
  const ns = encodeURIComponent(namespace);
  const [instance, source, sync, all] = await Promise.all([
    getObject<KubeObject>(
      get,
      `/apis/${FLUX_INSTANCE_API_VERSION}/namespaces/${ns}/fluxinstances/${FLUX_INSTANCE_NAME}`,
    ),
    getObject<KubeObject>(get, `/apis/source.toolkit.fluxcd.io/v1/namespaces/${ns}/gitrepositories/${ns}`),
    getObject<KubeObject>(get, `/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/${ns}/kustomizations/${ns}`),
    getObject<{ items?: KubeObject[] }>(get, "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations"),
  ]);

  const describe = (kind: string, name: string): string =>
    `kubectl -n ${namespace} describe ${kind} ${name}; ${DOC}`;
  const instanceReady = condition(instance, "Ready");
  if (instance === undefined) {
    out.fail(
      "FluxInstance",
      `${namespace}/${FLUX_INSTANCE_NAME} does not exist`,
      "pulumi up creates it (flux.install)",
    );
  } else if (instanceReady?.status === "True") {
    out.ok("FluxInstance", describeCondition(instanceReady));
  } else {
    out.fail("FluxInstance", describeCondition(instanceReady), describe("fluxinstance", FLUX_INSTANCE_NAME));
  }

  const fetched = (source?.status as SourceStatus | undefined)?.artifact;
  const sourceReady = condition(source, "Ready");
  if (source === undefined) {
    out.fail(
      "GitRepository",
      `${namespace}/${namespace} does not exist (the FluxInstance creates it)`,
      describe("fluxinstance", FLUX_INSTANCE_NAME),
    );
  } else if (sourceReady?.status !== "True" || fetched?.revision === undefined) {
    out.fail("GitRepository", describeCondition(sourceReady), describe("gitrepository", namespace));
  } else {
    out.ok("GitRepository", `fetched ${fetched.revision}`);
  }

  const intervalMs = (durationSeconds(interval) ?? 60) * 1000;
  const status = sync?.status as KustomizationStatus | undefined;
  const applied = status?.lastAppliedRevision;
  const syncReady = condition(sync, "Ready");
  if (sync === undefined) {
    out.fail(
      "Kustomization",
      `${namespace}/${namespace} does not exist (the FluxInstance creates it)`,
      describe("fluxinstance", FLUX_INSTANCE_NAME),
    );
  } else if (applied === undefined || applied === "") {
    out.fail(
      "Kustomization",
      `nothing applied yet: ${describeCondition(syncReady)}`,
      describe("kustomization", namespace),
    );
  } else {
    // The artifact's time is when this revision was fetched: its age once applied, or how long it waits.
    const fetchedAt = Date.parse(fetched?.lastUpdateTime ?? "");
    const since = Number.isNaN(fetchedAt) ? undefined : ctx.now.getTime() - fetchedAt;
    const ageText = since === undefined ? "" : `, ${age(since)} since fetched`;
    const pace = `interval ${interval}`;
    const waiting = fetched?.revision !== undefined && applied !== fetched.revision;
    if (syncReady?.status === "False") {
      out.fail(
        "Kustomization",
        `applied ${applied}${waiting ? `, not ${fetched.revision}` : ""}; the last apply failed: ${describeCondition(syncReady)}`,
        describe("kustomization", namespace),
      );
    } else if (waiting) {
      // A revision is applied within an interval (plus the apply); beyond two, the apply is stuck.
      const lag = `applied ${applied}; fetched ${fetched.revision} not applied yet${ageText} (${pace})`;
      if (since === undefined || since > 2 * intervalMs + 60_000) {
        out.fail(
          "Kustomization",
          `${lag}: ${describeCondition(syncReady)}`,
          describe("kustomization", namespace),
        );
      } else {
        out.ok("Kustomization", lag);
      }
    } else {
      out.ok("Kustomization", `applied ${applied}${ageText} (${pace})`);
    }
  }

  const failing = (all?.items ?? []).filter((k) => condition(k, "Ready")?.status === "False");
  for (const k of failing) {
    const name = `${k.metadata?.namespace ?? "?"}/${k.metadata?.name ?? "?"}`;
    if (name === `${namespace}/${namespace}`) {
      continue;
    }
    out.fail(
      `Kustomization ${name}`,
      describeCondition(condition(k, "Ready")),
      `kubectl -n ${k.metadata?.namespace ?? "?"} describe kustomization ${k.metadata?.name ?? "?"}; ${DOC}`,
    );
  }
  const total = all?.items?.length ?? 0;
  if (failing.length === 0) {
    out.ok("Kustomizations", `${String(total)} in the cluster, none failing`);
  }
  return out;
}
