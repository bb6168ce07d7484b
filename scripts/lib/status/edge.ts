// The edge layer, per host over SSH with the pinned host key: Traefik active under systemd and answering
// /ping, the running version against the pin, the routes directory (files, and any Traefik rejected), then
// the certificate each routed domain is served with, as clients see it.
import * as tls from "node:tls";
import type { EdgeTarget } from "./inputs";
import {
  errorText,
  expiryText,
  Findings,
  ProbeScriptFailed,
  runProbeScript,
  type Outcome,
  type ProbeContext,
} from "./probe";
import { SshError } from "./ssh";

const CONTRACT = "docs/edge-contract.md";
/** How long the edge probe waits for Traefik's re-read of its route files (edge-probe.sh) to be logged. */
export const EDGE_RELOAD_WAIT_SECONDS = 1;
/** Certificates closer to their end than this are a warning (Traefik renews 30 days ahead). */
export const CERTIFICATE_WARN_DAYS = 14;
const DAY_MS = 86_400_000;

export interface EdgeProbeResult {
  unit: string;
  ping: string;
  version: string;
  routes: string;
  files: string[];
  rejected: string[];
  domains: string[];
  /** Why Traefik's verdict on the files is missing (`unreadable: ...`, `unavailable: ...`); empty when it was had. */
  verdict: string;
}

/** Parses edge-probe.sh's `<key> <value>` lines. */
export function parseEdgeProbe(stdout: string): EdgeProbeResult {
  const result: EdgeProbeResult = {
    verdict: "",
    unit: "",
    ping: "",
    version: "",
    routes: "",
    files: [],
    rejected: [],
    domains: [],
  };
  for (const line of stdout.split("\n")) {
    const at = line.indexOf(" ");
    const key = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).trim();
    switch (key) {
      case "unit":
      case "verdict":
      case "ping":
      case "version":
      case "routes":
        result[key] = value;
        break;
      case "route":
        result.files.push(value);
        break;
      case "rejected":
        result.rejected.push(value);
        break;
      case "domain":
        if (!result.domains.includes(value)) result.domains.push(value);
        break;
      default:
        break;
    }
  }
  return result;
}

export interface ServedCertificate {
  subject: string;
  issuer: string;
  notAfter: Date;
  /** Undefined when the certificate names the domain; else why not. */
  nameMismatch?: string;
}

/** The certificate `address:443` serves for `domain` (SNI), read without trusting it (staging CAs included). */
export function servedCertificate(
  address: string,
  domain: string,
  timeoutMs: number,
): Promise<ServedCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: address,
      port: 443,
      servername: domain,
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      socket.destroy();
      // An empty object when the server sent none (the typings do not say so).
      if (Object.keys(cert).length === 0) {
        reject(new Error("no certificate served"));
        return;
      }
      const mismatch = tls.checkServerIdentity(domain, cert);
      resolve({
        subject: [cert.subject.CN ?? ""].flat().join(", "),
        issuer: [cert.issuer.CN ?? cert.issuer.O ?? ""].flat().join(", "),
        notAfter: new Date(cert.valid_to),
        ...(mismatch !== undefined ? { nameMismatch: mismatch.message } : {}),
      });
    });
    socket.once("timeout", () =>
      socket.destroy(new Error(`no TLS handshake within ${String(timeoutMs / 1000)} s`)),
    );
    socket.once("error", reject);
  });
}

/** The finding for one served certificate: FAIL when expired or for another name, WARN under 14 days. */
export function certificateLevel(
  cert: ServedCertificate,
  now: Date,
): { status: "OK" | "WARN" | "FAIL"; detail: string } {
  const days = (cert.notAfter.getTime() - now.getTime()) / DAY_MS;
  const when = `${expiryText(cert.notAfter, now)}, issuer ${cert.issuer || "?"}`;
  if (cert.nameMismatch !== undefined) {
    return {
      status: "FAIL",
      detail: `serves a certificate for ${cert.subject || "another name"} (${when}): no certificate was issued for this name`,
    };
  }
  if (days < 0) {
    return { status: "FAIL", detail: when };
  }
  return { status: days < CERTIFICATE_WARN_DAYS ? "WARN" : "OK", detail: when };
}

/**
 * One host, bounded to twice the timeout (plus the probe's wait for Traefik) in all: the SSH probe, then the
 * certificates in the time left.
 */
async function hostFindings(ctx: ProbeContext, host: EdgeTarget, out: Findings): Promise<void> {
  const probeMs = ctx.timeoutMs + EDGE_RELOAD_WAIT_SECONDS * 1000;
  const deadline = Date.now() + probeMs + ctx.timeoutMs;
  const { edge } = ctx.inputs;
  const name = host.name;
  let stdout: string;
  try {
    stdout = await runProbeScript(
      ctx,
      host,
      "edge-probe.sh",
      {
        ROUTES_DIR: edge.routesDir,
        PING_URL: edge.pingUrl,
        TRAEFIK_BINARY: edge.binary,
        RELOAD_WAIT_SECONDS: EDGE_RELOAD_WAIT_SECONDS,
      },
      probeMs,
    );
  } catch (err) {
    const next =
      err instanceof ProbeScriptFailed
        ? "the SSH user needs passwordless sudo (README 'Hosts')"
        : err instanceof SshError && err.kind === "host-key"
          ? `a rebuilt host has a new key: pin it in edge.hosts (hostKey) after checking it (docs/disaster-recovery.md)`
          : `ssh ${host.user}@${host.host}; the host, its firewall and the network path`;
    out.fail(`${name} ssh`, errorText(err), next);
    return;
  }
  const probe = parseEdgeProbe(stdout);
  const logs = `sudo journalctl -u traefik on ${name}`;
  if (probe.unit !== "active") {
    out.fail(
      `${name} traefik`,
      `traefik.service is ${probe.unit || "unknown"}`,
      `sudo systemctl status traefik on ${name}; pulumi up reinstalls it`,
    );
  } else if (probe.ping !== "OK") {
    out.fail(`${name} traefik`, `active, but /ping answers ${JSON.stringify(probe.ping)}`, logs);
  } else {
    out.ok(`${name} traefik`, "active, /ping OK");
  }
  const pinned = edge.traefikVersion.replace(/^v/, "");
  if (probe.version === "") {
    out.fail(
      `${name} version`,
      "cannot read Traefik's version",
      `${logs}; pulumi up reinstalls the pinned release`,
    );
  } else if (probe.version !== pinned) {
    out.warn(
      `${name} version`,
      `runs ${probe.version}; the stack pins ${pinned}`,
      "pulumi up installs the pinned release (README 'Upgrades')",
    );
  } else {
    out.ok(`${name} version`, probe.version);
  }
  if (probe.routes !== "ok") {
    out.fail(
      `${name} routes`,
      `${edge.routesDir} is ${probe.routes || "unknown"}`,
      `pulumi up recreates it; ${CONTRACT}`,
    );
  } else if (probe.rejected.length > 0) {
    out.fail(
      `${name} routes`,
      `${String(probe.files.length)} file(s); Traefik rejected ${probe.rejected.join(", ")} and keeps its last good routes`,
      `fix or delete the file (route-sync: delete <file>); ${logs}; ${CONTRACT}`,
    );
  } else if (probe.verdict.startsWith("unreadable")) {
    out.warn(
      `${name} routes`,
      `${String(probe.files.length)} file(s) in ${edge.routesDir}; whether Traefik rejects one is unknown: its log is ${probe.verdict}`,
      `${logs}; ${CONTRACT}`,
    );
  } else if (probe.verdict !== "") {
    out.ok(`${name} routes`, `${String(probe.files.length)} file(s) in ${edge.routesDir}`);
    out.skip(`${name} route verdict`, probe.verdict.replace(/^unavailable: /, ""));
  } else {
    out.ok(`${name} routes`, `${String(probe.files.length)} file(s) in ${edge.routesDir}, none rejected`);
  }
  // In parallel, reported in the order of the route files.
  const certificates = await Promise.all(
    probe.domains.map(async (domain) => {
      const check = `${name} certificate ${domain}`;
      try {
        const left = Math.max(1000, Math.min(ctx.timeoutMs, deadline - Date.now()));
        const level = certificateLevel(await servedCertificate(host.publicAddress, domain, left), ctx.now);
        const detail = level.status === "WARN" ? `${level.detail}: renewal is not happening` : level.detail;
        return { check, status: level.status, detail, next: `${logs} | grep -i acme; ${CONTRACT}` };
      } catch (err) {
        const detail = `${host.publicAddress}:443: ${errorText(err)}`;
        return { check, status: "FAIL" as const, detail, next: `${logs}; the firewall (ports 80/443)` };
      }
    }),
  );
  for (const { check, status, detail, next } of certificates) {
    out.add(status, check, detail, next);
  }
}

export async function edgeFindings(ctx: ProbeContext): Promise<Outcome> {
  const out = new Findings("edge");
  if (ctx.inputs.edge.hosts.length === 0) {
    out.skip("edge hosts", "edge.hosts is empty");
    return out;
  }
  // Hosts in parallel, reported in their config order.
  const perHost = await Promise.all(
    ctx.inputs.edge.hosts.map(async (host) => {
      const found = new Findings("edge");
      await hostFindings(ctx, host, found);
      return found;
    }),
  );
  return {
    findings: perHost.flatMap((f) => f.findings),
    notChecked: [...out.notChecked, ...perHost.flatMap((f) => f.notChecked)],
  };
}
