// One status run: every layer probed in parallel, each bounded, so a dead host or a hung API costs one
// timeout and never the run. The API is asked first (one request); when it does not answer, the layers that
// need it are reported as not checked rather than failing once each.
import { kubeConnection } from "../../../components/registries/kubeconfig";
import {
  credentialFindings,
  encryptionFindings,
  nodeFindings,
  probeServers,
  snapshotFindings,
} from "./cluster";
import { EDGE_RELOAD_WAIT_SECONDS, edgeFindings } from "./edge";
import { fluxFindings } from "./flux";
import type { StatusInputs } from "./inputs";
import { getObject, kubeGetter, type KubeGet } from "./kube";
import { errorText, Findings, type Outcome, type ProbeContext } from "./probe";
import { registryFindings } from "./registries";
import { buildReport, type Layer, type Report } from "./report";
import { sopsFindings } from "./sops";
import { SshClient } from "./ssh";

const SIGNALS: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

export interface RunOptions {
  timeoutSeconds: number;
  /** Only these layers (default: all). The API is asked when a layer that reads it is among them. */
  layers?: readonly Layer[];
  now?: () => Date;
}

/** A probe that takes longer than `ms` (its own requests are bounded too) becomes one FAIL. */
async function bounded(
  layer: Layer,
  check: string,
  ms: number,
  probe: () => Promise<Outcome>,
): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      const out = new Findings(layer);
      out.fail(
        check,
        `did not finish within ${String(ms / 1000)} s`,
        "run again with a longer --timeout, or check the network path",
      );
      resolve(out);
    }, ms);
  });
  try {
    return await Promise.race([
      probe().catch((err: unknown) => {
        const out = new Findings(layer);
        out.fail(check, errorText(err), "docs/status.md");
        return out;
      }),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function apiOutcome(
  inputs: StatusInputs,
  timeoutMs: number,
  now: Date,
): Promise<{ outcome: Outcome; get?: KubeGet }> {
  const out = new Findings("cluster");
  if (inputs.kubeconfig === undefined) {
    out.fail("API", "the stack has no kubeconfig output", "pulumi up (the first up writes it)");
    return { outcome: out };
  }
  let get: KubeGet;
  let server: string;
  try {
    const connection = kubeConnection(inputs.kubeconfig);
    server = connection.server;
    get = kubeGetter(connection, timeoutMs);
  } catch (err) {
    out.fail("API", errorText(err), "pulumi up --refresh reads the kubeconfig again");
    return { outcome: out };
  }
  try {
    const version = await getObject<{ gitVersion?: string }>(get, "/version");
    out.ok("API", `${server} answers, ${version?.gitVersion ?? "unknown version"}`);
    return { outcome: out, get };
  } catch (err) {
    out.fail(
      "API",
      `${server}: ${errorText(err)}`,
      "kubectl --kubeconfig <(pulumi stack output kubeconfig --show-secrets) get --raw /readyz; on a server: sudo systemctl status k3s",
    );
    return { outcome: out };
  } finally {
    // Whether the API answered or not: an expired certificate is the likeliest reason for a refusal.
    credentialFindings(out, inputs.kubeconfig, now, inputs.adopted);
  }
}

export async function runStatus(inputs: StatusInputs, options: RunOptions): Promise<Report> {
  const now = options.now ?? (() => new Date());
  const started = Date.now();
  const checkedAt = now();
  const timeoutMs = options.timeoutSeconds * 1000;
  // A layer makes at most two bounded steps in a row (edge: SSH, then TLS; each host bounded to twice the
  // timeout itself): the layer's own bound is a backstop above that.
  const layerMs = 2 * timeoutMs + EDGE_RELOAD_WAIT_SECONDS * 1000 + 2000;
  // The agent forgets the key soon after the run's bound, even if this process is killed.
  const ssh = new SshClient(inputs.sshPrivateKey, {
    startMs: timeoutMs,
    keyLifetimeSeconds: 3 * options.timeoutSeconds + 60,
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    ssh.close();
    process.kill(process.pid, signal);
  };
  for (const signal of SIGNALS) process.once(signal, onSignal);
  try {
    const base: ProbeContext = { inputs, ssh, now: checkedAt, timeoutMs };
    const selected = (layer: Layer): boolean =>
      options.layers === undefined || options.layers.includes(layer);
    // The servers are asked once: for their encryption config, and for the clock their snapshot schedule runs on.
    const servers = selected("cluster") ? probeServers(base) : Promise.resolve([]);
    const remote = [
      ...(selected("cluster")
        ? [bounded("cluster", "encryption config", layerMs, () => encryptionFindings(base, servers))]
        : []),
      ...(selected("edge") ? [bounded("edge", "edge hosts", layerMs, () => edgeFindings(base))] : []),
    ];
    const kubeLayers = (
      [
        ["cluster", "nodes", (get) => nodeFindings(base, get)],
        ["cluster", "etcd snapshots", (get) => snapshotFindings(base, get, servers)],
        ["flux", "flux", (get) => fluxFindings(base, get)],
        ["sops", "sops-gpg", (get) => sopsFindings(base, get)],
        ["registries", "registries", (get) => registryFindings(get)],
      ] as [Layer, string, (get: KubeGet) => Promise<Outcome>][]
    ).filter(([layer]) => selected(layer));
    const api: { outcome: Outcome; get?: KubeGet } =
      kubeLayers.length > 0
        ? await apiOutcome(inputs, timeoutMs, checkedAt)
        : { outcome: new Findings("cluster") };
    const get = api.get;
    const kube =
      get === undefined
        ? kubeLayers.map(([layer, check]) => {
            const out = new Findings(layer);
            out.skip(check, "the API did not answer");
            return Promise.resolve<Outcome>(out);
          })
        : kubeLayers.map(([layer, check, probe]) => bounded(layer, check, layerMs, () => probe(get)));
    const outcomes = [api.outcome, ...(await Promise.all([...kube, ...remote]))];
    return buildReport({
      stack: inputs.stack,
      checkedAt,
      durationMs: Date.now() - started,
      timeoutSeconds: options.timeoutSeconds,
      findings: outcomes.flatMap((o) => o.findings),
      notChecked: outcomes.flatMap((o) => o.notChecked),
    });
  } finally {
    for (const signal of SIGNALS) process.removeListener(signal, onSignal);
    ssh.close();
  }
}
