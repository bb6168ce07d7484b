// The cluster layer: the API, the nodes and their k3s version, the newest etcd snapshot against the schedule,
// and the at-rest encryption config on every server.
import * as crypto from "node:crypto";
import { CLIENT_CERTIFICATE_FIX, clientCertificateStanding } from "../../../components/k3s/config";
import { parseCron, parseUtcOffset, previousFiring } from "./cron";
import type { HostTarget } from "./inputs";
import { condition, conditionText, getObject, type KubeGet, type KubeObject } from "./kube";
import {
  age,
  errorText,
  expiryText,
  Findings,
  runProbeScript,
  type Outcome,
  type ProbeContext,
} from "./probe";

const RUNBOOK = "docs/status.md";

/**
 * The kubeconfig's client certificate, when it authenticates with one: FAIL expired, WARN within the window in
 * which `pulumi up` warns too. An adopted cluster's is the user's to renew; in the k3s mode it is k3s's admin
 * certificate of a stack from before the program's own token credential, which the next `up` switches to.
 */
export function credentialFindings(out: Findings, kubeconfig: string, now: Date, adopted: boolean): void {
  const certificate = clientCertificateStanding(kubeconfig, now);
  if (certificate === undefined) {
    return;
  }
  const detail = `client certificate CN=${certificate.commonName} ${expiryText(certificate.notAfter, now)}`;
  const next = adopted
    ? `${CLIENT_CERTIFICATE_FIX}, then pulumi up`
    : "pulumi up: the stack then uses the program's own token credential, which does not expire " +
      "(docs/disaster-recovery.md, 'The credential does not expire')";
  const level = { expired: "FAIL", expiring: "WARN", valid: "OK" } as const;
  out.add(level[certificate.standing], "API credential", detail, next);
}

interface NodeObject extends KubeObject {
  status?: { nodeInfo?: { kubeletVersion?: string }; conditions?: unknown[] } & Record<string, unknown>;
}

export async function nodeFindings(ctx: ProbeContext, get: KubeGet): Promise<Outcome> {
  const out = new Findings("cluster");
  const { inputs } = ctx;
  const list = await getObject<{ items?: NodeObject[] }>(get, "/api/v1/nodes");
  const nodes = list?.items ?? [];
  const byName = new Map(nodes.map((n) => [n.metadata?.name ?? "", n]));
  const expected = inputs.adopted ? [...byName.keys()].sort() : inputs.nodeNames;
  if (expected.length === 0) {
    out.warn("nodes", "the API lists no nodes", "kubectl get nodes; a cluster without nodes runs nothing");
  }
  for (const name of expected) {
    const node = byName.get(name);
    if (node === undefined) {
      out.fail(
        `node ${name}`,
        "not registered with the API",
        `on the host: sudo systemctl status k3s (or k3s-agent); ${RUNBOOK}`,
      );
      continue;
    }
    const ready = condition(node, "Ready");
    const version = node.status?.nodeInfo?.kubeletVersion ?? "unknown";
    if (ready?.status !== "True") {
      const why = ready === undefined ? "no Ready condition" : conditionText(ready);
      out.fail(
        `node ${name}`,
        `not Ready: ${why}`,
        `kubectl describe node ${name}; on the host: sudo journalctl -u k3s`,
      );
    } else if (inputs.k3sVersion !== undefined && version !== inputs.k3sVersion) {
      out.warn(
        `node ${name}`,
        `Ready, runs ${version}; the stack pins ${inputs.k3sVersion}`,
        "pulumi up rolls the pinned version onto every node (README 'Upgrades')",
      );
    } else {
      out.ok(`node ${name}`, `Ready, ${version}`);
    }
  }
  for (const name of inputs.unreachableNodes) {
    out.skip(`node ${name}`, "listed in k3s.unreachableNodes (being removed)");
  }
  const extra = inputs.adopted
    ? []
    : [...byName.keys()].filter((n) => !inputs.nodeNames.includes(n) && !inputs.unreachableNodes.includes(n));
  if (extra.length > 0) {
    out.ok(
      "other nodes",
      `${String(extra.length)} node(s) not installed by this stack: ${extra.sort().join(", ")}`,
    );
  }
  return out;
}

interface SnapshotFile extends KubeObject {
  spec?: { snapshotName?: string; nodeName?: string };
  status?: { creationTime?: string; readyToUse?: boolean; error?: { message?: string } };
}

/**
 * The newest usable snapshot against the k3s schedule, read in the servers' local time: OK when none was
 * missed, WARN for one, FAIL beyond.
 */
export async function snapshotFindings(
  ctx: ProbeContext,
  get: KubeGet,
  servers: Promise<ServerFacts[]>,
): Promise<Outcome> {
  const out = new Findings("cluster");
  const cron = ctx.inputs.etcdScheduleCron;
  const check = "etcd snapshots";
  if (cron === undefined) {
    out.skip(check, "the stack adopts its cluster: its snapshots are not this stack's");
    return out;
  }
  const schedule = parseCron(cron);
  const list = await getObject<{ items?: SnapshotFile[] }>(get, "/apis/k3s.cattle.io/v1/etcdsnapshotfiles");
  if (list === undefined) {
    out.fail(
      check,
      "the API has no ETCDSnapshotFile resource (k3s publishes one for embedded etcd)",
      "kubectl get etcdsnapshotfiles; sudo k3s etcd-snapshot ls on a server",
    );
    return out;
  }
  const times = (list.items ?? [])
    .filter((s) => s.status?.readyToUse !== false)
    .map((s) => ({
      name: s.spec?.snapshotName ?? s.metadata?.name ?? "?",
      at: Date.parse(s.status?.creationTime ?? s.metadata?.creationTimestamp ?? ""),
    }))
    .filter((s) => !Number.isNaN(s.at))
    .sort((a, b) => b.at - a.at);
  const failed = (list.items ?? []).filter((s) => s.status?.readyToUse === false);
  const newest = times[0];
  const offset = (await servers).find((f) => f.utcOffsetMinutes !== undefined)?.utcOffsetMinutes;
  const clock = offset === undefined ? "UTC: no server answered" : `server time, UTC${formatOffset(offset)}`;
  // A snapshot takes a moment: the firing that is due is the last one more than 10 minutes ago.
  const due = previousFiring(schedule, new Date(ctx.now.getTime() - 10 * 60_000), offset);
  const before =
    due !== undefined ? previousFiring(schedule, new Date(due.getTime() - 60_000), offset) : undefined;
  const next = `sudo k3s etcd-snapshot ls and sudo journalctl -u k3s | grep -i snapshot on a server; docs/disaster-recovery.md`;
  if (due === undefined) {
    out.warn(
      check,
      `the schedule '${cron}' never fires: k3s takes no scheduled snapshot`,
      "set k3s.etcdSnapshots.scheduleCron (README 'Configuration'), then pulumi up",
    );
    return out;
  }
  const failures =
    failed.length > 0
      ? `; ${String(failed.length)} failed: ${failed[0]?.status?.error?.message ?? "no message"}`
      : "";
  if (newest === undefined) {
    const clusterBorn = await clusterCreation(get);
    if (clusterBorn !== undefined && clusterBorn > due.getTime()) {
      out.ok(check, `none yet; the cluster is younger than the schedule '${cron}' (${clock})${failures}`);
    } else {
      out.fail(
        check,
        `no snapshot, though '${cron}' (${clock}) was due at ${due.toISOString()}${failures}`,
        next,
      );
    }
    return out;
  }
  const detail = `newest ${newest.name}, ${age(ctx.now.getTime() - newest.at)} old (${String(times.length)} kept; schedule '${cron}', ${clock})${failures}`;
  if (newest.at >= due.getTime() - 60_000) {
    out.ok(check, detail);
  } else if (before === undefined || newest.at >= before.getTime() - 60_000) {
    out.warn(check, `${detail}: the one due at ${due.toISOString()} is missing`, next);
  } else {
    out.fail(check, `${detail}: at least two scheduled snapshots are missing`, next);
  }
  return out;
}

async function clusterCreation(get: KubeGet): Promise<number | undefined> {
  const ns = await getObject<KubeObject>(get, "/api/v1/namespaces/kube-system");
  const at = Date.parse(ns?.metadata?.creationTimestamp ?? "");
  return Number.isNaN(at) ? undefined : at;
}

const sha256 = (text: string): string => crypto.createHash("sha256").update(text).digest("hex");

/** What server-probe.sh said of one server, or why it could not be asked. */
export interface ServerFacts {
  server: HostTarget;
  /** sha256 of its encryption-config.json, or `missing`. */
  encryption?: string;
  utcOffsetMinutes?: number;
  /** The probe did not run: the SSH error, or the script's failure. */
  problem?: string;
}

/** server-probe.sh on every server (k3s mode), in parallel; each bounded by the run's timeout. */
export function probeServers(ctx: ProbeContext): Promise<ServerFacts[]> {
  if (ctx.inputs.adopted) {
    return Promise.resolve([]);
  }
  return Promise.all(
    ctx.inputs.servers.map(async (server): Promise<ServerFacts> => {
      try {
        const stdout = await runProbeScript(ctx, server, "server-probe.sh", {});
        const value = (key: string): string | undefined =>
          stdout
            .split("\n")
            .find((l) => l.startsWith(`${key} `))
            ?.slice(key.length + 1)
            .trim();
        const encryption = value("encryption-config");
        if (encryption === undefined) {
          return { server, problem: "server-probe.sh printed no encryption-config line" };
        }
        const utcOffsetMinutes = parseUtcOffset(value("utc-offset") ?? "");
        return { server, encryption, ...(utcOffsetMinutes !== undefined ? { utcOffsetMinutes } : {}) };
      } catch (err) {
        return { server, problem: errorText(err) };
      }
    }),
  );
}

/** On every server: the encryption config k3s reads is present, and is the stack's copy. */
export async function encryptionFindings(
  ctx: ProbeContext,
  servers: Promise<ServerFacts[]>,
): Promise<Outcome> {
  const out = new Findings("cluster");
  const { inputs } = ctx;
  if (inputs.adopted) {
    out.skip("encryption config", "the stack adopts its cluster: its at-rest encryption is not this stack's");
    return out;
  }
  // The stack keeps the file as the command's stdout, whose final newline the provider trims.
  const copies =
    inputs.encryptionConfig === undefined
      ? []
      : [sha256(inputs.encryptionConfig), sha256(`${inputs.encryptionConfig}\n`)];
  for (const { server, encryption, problem } of await servers) {
    const check = `encryption config ${server.name}`;
    if (problem !== undefined) {
      out.fail(
        check,
        problem,
        `ssh ${server.user}@${server.host} (passwordless sudo, the host key pinned in k3s.servers); docs/disaster-recovery.md`,
      );
    } else if (encryption === "missing") {
      out.fail(
        check,
        "/var/lib/rancher/k3s/server/cred/encryption-config.json is missing: k3s cannot read its Secrets",
        "restore it from the backup bundle before k3s restarts (docs/disaster-recovery.md)",
      );
    } else if (copies.length === 0) {
      out.warn(
        check,
        "present; the stack holds no copy to compare with",
        "pulumi up stores it (output encryptionConfig), then npm run backup:export",
      );
    } else if (encryption === undefined || !copies.includes(encryption)) {
      out.warn(
        check,
        "present, but not the stack's copy (keys rotated on the server?)",
        "pulumi up --refresh stores the current one; then npm run backup:export (docs/disaster-recovery.md)",
      );
    } else {
      out.ok(check, "present, the stack's copy");
    }
  }
  return out;
}

const formatOffset = (minutes: number): string =>
  minutes === 0
    ? ""
    : `${minutes < 0 ? "-" : "+"}${String(Math.floor(Math.abs(minutes) / 60)).padStart(2, "0")}:${String(Math.abs(minutes) % 60).padStart(2, "0")}`;
