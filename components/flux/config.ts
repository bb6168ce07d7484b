// The Flux concern's config: `mynodeone:flux` and the Git credentials (`fluxGitPrivateKey`, `fluxGitToken`),
// with the pinned Flux Operator and Flux distribution and the reasons for each pin.
import * as pulumi from "@pulumi/pulumi";
import { configKey, secretFix, setFix } from "../config/keys";
import type { ObjectReader, RawConfig } from "../config/reader";
import { asKeyFile, checkSshPrivateKey, secretString } from "../config/secret";
import { checkPublicKey, GIT_KNOWN_HOST_KEY, hasControlChars, isGoDuration } from "../config/validate";

// Pinned defaults. Every version here is exact; bumping one is a reviewed change (see README "Upgrades").

// The Flux Operator chart and the Flux distribution it installs.
const DEFAULT_FLUX_OPERATOR_CHART = "oci://ghcr.io/controlplaneio-fluxcd/charts/flux-operator";
/**
 * The operator release the chart installs (the chart's version is the operator's, its appVersion v<version>).
 * 0.59.0 because it is the newest release whose source could be fetched and checked here (its Go module,
 * `github.com/controlplaneio-fluxcd/flux-operator@v0.59.0`): its FluxInstance CRD is what the real-API tier
 * validates our FluxInstance against. 0.60.0, pinned before, could not be found anywhere (the module proxy
 * refuses that version), so it was a pin nobody could verify.
 */
export const DEFAULT_FLUX_OPERATOR_CHART_VERSION = "0.59.0";
/**
 * The Flux release the operator installs: one the pinned operator embeds (its config/data/flux-images/
 * v<version>), or the FluxInstance never becomes Ready. 2.9.5 is the newest in operator 0.59.0; it names
 * source-controller v1.9.5 and kustomize-controller v1.9.5. test/e2e/flux-schema.e2e.test.ts fails when the two
 * pins disagree.
 */
export const DEFAULT_FLUX_DISTRIBUTION_VERSION = "2.9.5";
/**
 * The operator reports Ready after installing the controllers and applying the first sync (about a minute on a
 * small cluster that pulls the images); ten minutes leave room for slow image pulls and still end a broken `up`.
 */
export const DEFAULT_FLUX_READY_TIMEOUT = "10m";

export type FluxGitRef = { branch: string } | { tag: string };

export interface FluxConfig {
  /** Install the Flux Operator and FluxInstance. False: only namespaces, secrets and registries. */
  install: boolean;
  /**
   * With `install`: install the Flux Operator's Helm release too. False: the cluster already runs the operator
   * (installed otherwise); the stack creates the FluxInstance, the Git credentials and `sops-gpg` only.
   */
  installOperator: boolean;
  /** Git repository Flux syncs from (`ssh://...` or `https://...`). */
  gitUrl: string;
  ref: FluxGitRef;
  /** Path inside the repository (default `clusters/<environment>`). */
  path: string;
  /** Sync interval (Go duration, e.g. `1m`). */
  interval: string;
  /** How long `pulumi up` waits for the FluxInstance to report Ready (a duration like `10m`, 1m to 2h). */
  readyTimeout: string;
  /** Flux Operator Helm chart version (pinned). */
  operatorChartVersion: string;
  /** OCI chart reference of the Flux Operator. */
  operatorChart: string;
  /** Flux distribution version installed by the operator (pinned, exact). */
  distributionVersion: string;
  /** Pinned known_hosts lines for SSH Git hosts (default: github.com's published keys). */
  knownHosts: string[];
  /** Username for HTTPS token auth (with secret `mynodeone:fluxGitToken`). */
  httpsUsername: string;
  /** SSH deploy key (secret), when given instead of the generated one. */
  gitPrivateKey?: pulumi.Output<string>;
  /** HTTPS token (secret). */
  gitToken?: pulumi.Output<string>;
  /** Leave Flux installed when the stack is destroyed. */
  keepOnDestroy: boolean;
}

export function readFlux(root: ObjectReader, raw: RawConfig, environment: string): FluxConfig {
  return root.object(
    "flux",
    "set at least gitUrl: " + setFix("flux.gitUrl", "ssh://git@github.com/org/repo"),
    (r) => readFluxObject(r, raw, environment),
  );
}

/** Parse a Git URL Flux accepts: ssh://user@host[:port]/path or https://host/path. */
export function parseGitUrl(
  value: string,
): { scheme: "ssh" | "https"; host: string; port?: number } | string {
  if (/^[^/:]+@[^/:]+:/.test(value)) {
    return "is scp-style; Flux needs a URL: ssh://git@host/org/repo (replace the ':' after the host with '/')";
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "is not a URL (ssh://git@host/org/repo or https://host/org/repo)";
  }
  if (/['"\\\s`$]/.test(value) || url.search !== "" || url.hash !== "") {
    return "contains characters not allowed in a Git URL here";
  }
  if (url.protocol === "ssh:") {
    if (url.username === "" || url.password !== "") {
      return "needs a user and no password: ssh://git@host/org/repo";
    }
    return { scheme: "ssh", host: url.hostname, ...(url.port !== "" ? { port: Number(url.port) } : {}) };
  }
  if (url.protocol === "https:") {
    if (url.username !== "" || url.password !== "") {
      return "must not embed credentials; set the token with mynodeone:fluxGitToken";
    }
    return { scheme: "https", host: url.hostname };
  }
  return "must use ssh:// or https://";
}

function knownHostsCoversHost(lines: string[], host: string, port: number | undefined): boolean {
  const pattern = port !== undefined && port !== 22 ? `[${host}]:${port}` : host;
  return lines.some((line) => (line.split(" ")[0] ?? "").split(",").includes(pattern));
}

function readFluxObject(r: ObjectReader, raw: RawConfig, environment: string): FluxConfig {
  const problems = r.problems;
  const gitUrl = r.requiredString("gitUrl", {
    check: (v) => {
      const parsed = parseGitUrl(v);
      return typeof parsed === "string" ? parsed : undefined;
    },
    fix: setFix("flux.gitUrl", "ssh://git@github.com/org/platform"),
  });
  const branch = r.optionalString("branch", {
    check: (v) =>
      /^[A-Za-z0-9._/-]+$/.test(v) && !v.includes("..") ? undefined : "is not a valid branch name",
    fix: setFix("flux.branch", "main"),
  });
  const tag = r.optionalString("tag", {
    check: (v) => (/^[A-Za-z0-9._/-]+$/.test(v) && !v.includes("..") ? undefined : "is not a valid tag name"),
    fix: setFix("flux.tag", "v1.0.0"),
  });
  if (branch !== undefined && tag !== undefined) {
    problems.add(
      configKey("flux.tag"),
      "cannot be combined with flux.branch",
      "set either flux.branch or flux.tag",
    );
  }
  const ref: FluxGitRef = tag !== undefined ? { tag } : { branch: branch ?? "main" };
  const path = r.string("path", `clusters/${environment}`, {
    check: (v) =>
      /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(v) && !v.split("/").includes("..")
        ? undefined
        : "is not a relative path inside the repository",
    fix: setFix("flux.path", `clusters/${environment}`),
  });
  const interval = r.string("interval", "1m", {
    check: (v) => (isGoDuration(v) ? undefined : "is not a duration like 1m or 30s"),
    fix: setFix("flux.interval", "1m"),
  });
  const readyTimeout = r.string("readyTimeout", DEFAULT_FLUX_READY_TIMEOUT, {
    check: (v) => {
      const seconds = durationSeconds(v);
      if (seconds === undefined) {
        return "is not a duration in hours, minutes and seconds like 10m or 1h30m";
      }
      return seconds < 60 || seconds > 7200 ? "must be between 1m and 2h" : undefined;
    },
    fix: setFix("flux.readyTimeout", DEFAULT_FLUX_READY_TIMEOUT),
  });
  const operatorChart = r.string("operatorChart", DEFAULT_FLUX_OPERATOR_CHART, {
    check: (v) =>
      /^oci:\/\/[A-Za-z0-9.-]+(:[0-9]+)?(\/[A-Za-z0-9._-]+)+$/.test(v)
        ? undefined
        : "is not an oci:// chart reference",
    fix: setFix("flux.operatorChart", DEFAULT_FLUX_OPERATOR_CHART),
  });
  const operatorChartVersion = r.string("operatorChartVersion", DEFAULT_FLUX_OPERATOR_CHART_VERSION, {
    check: (v) =>
      /^[0-9]+\.[0-9]+\.[0-9]+$/.test(v) ? undefined : "is not an exact chart version like 0.33.0",
    fix: setFix("flux.operatorChartVersion", DEFAULT_FLUX_OPERATOR_CHART_VERSION),
  });
  const distributionVersion = r.string("distributionVersion", DEFAULT_FLUX_DISTRIBUTION_VERSION, {
    check: (v) =>
      /^[0-9]+\.[0-9]+\.[0-9]+$/.test(v) ? undefined : "is not an exact Flux version like 2.9.2",
    fix: setFix("flux.distributionVersion", DEFAULT_FLUX_DISTRIBUTION_VERSION),
  });
  const knownHosts = r.stringList("knownHosts", {
    check: (v) => {
      const [hosts, ...key] = v.trim().split(/ +/);
      if (hosts === undefined || hosts === "" || hosts.startsWith("|")) {
        return "is not a known_hosts line '<host> <type> <base64>' (hashed host names are not supported)";
      }
      return checkPublicKey(key.join(" "), GIT_KNOWN_HOST_KEY);
    },
    fix: "copy the Git host's published SSH host keys, one 'host type base64' line each",
  });
  const httpsUsername = r.string("httpsUsername", "git", {
    check: (v) => (/^[A-Za-z0-9._@-]+$/.test(v) ? undefined : "is not a plain user name"),
    fix: setFix("flux.httpsUsername", "git"),
  });
  const install = r.boolean("install", true);
  const installOperator = r.boolean("installOperator", true);
  const keepOnDestroy = r.boolean("keepOnDestroy", false);

  const gitPrivateKey = secretString(problems, raw, "fluxGitPrivateKey", "deploy-key");
  const gitToken = secretString(problems, raw, "fluxGitToken", "token.txt");
  if (gitPrivateKey !== undefined) {
    const problem = checkSshPrivateKey(gitPrivateKey);
    if (problem !== undefined) {
      problems.add(configKey("fluxGitPrivateKey"), problem, secretFix("fluxGitPrivateKey", "deploy-key"));
    }
  }
  if (gitToken !== undefined && hasControlChars(gitToken)) {
    problems.add(
      configKey("fluxGitToken"),
      "contains control characters",
      secretFix("fluxGitToken", "token.txt"),
    );
  }
  const parsed = gitUrl !== "" ? parseGitUrl(gitUrl) : undefined;
  if (parsed !== undefined && typeof parsed !== "string") {
    if (parsed.scheme === "ssh") {
      if (gitToken !== undefined) {
        problems.add(
          configKey("fluxGitToken"),
          "is set but flux.gitUrl is an ssh:// URL",
          "use an https:// gitUrl or unset the token",
        );
      }
      if (parsed.host !== "github.com" && !knownHostsCoversHost(knownHosts, parsed.host, parsed.port)) {
        const pattern =
          parsed.port !== undefined && parsed.port !== 22 ? `[${parsed.host}]:${parsed.port}` : parsed.host;
        problems.add(
          configKey("flux.knownHosts"),
          `has no entry for ${pattern}; host keys are pinned, never trusted on first use (built-in keys exist only for github.com)`,
          `add the Git host's published keys: ${setFix("flux.knownHosts[0]", `'${pattern} ssh-ed25519 AAAA...'`)}`,
        );
      }
    } else if (gitPrivateKey !== undefined) {
      problems.add(
        configKey("fluxGitPrivateKey"),
        "is set but flux.gitUrl is an https:// URL",
        "use an ssh:// gitUrl or unset the key",
      );
    }
  }
  return {
    install,
    installOperator,
    gitUrl,
    ref,
    path,
    interval,
    readyTimeout,
    operatorChartVersion,
    operatorChart,
    distributionVersion,
    knownHosts,
    httpsUsername,
    ...(gitPrivateKey !== undefined ? { gitPrivateKey: pulumi.secret(asKeyFile(gitPrivateKey)) } : {}),
    ...(gitToken !== undefined ? { gitToken: pulumi.secret(gitToken) } : {}),
    keepOnDestroy,
  };
}

/** Seconds of a duration written as hours, minutes and seconds (`1h30m`, `90s`), else undefined. */
export function durationSeconds(value: string): number | undefined {
  const match = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(value);
  if (match === null || value === "") {
    return undefined;
  }
  const [, hours, minutes, seconds] = match;
  const count = (part: string | undefined): number => (part === undefined ? 0 : Number(part));
  return count(hours) * 3600 + count(minutes) * 60 + count(seconds);
}
