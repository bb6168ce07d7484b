// Client certificates and kubeconfigs for the real-API tests: new credentials signed by the test API's CA
// (test/envs/kube-test-env.sh writes it to <env>/pki), with an exact expiry when a test needs one.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as YAML from "yaml";

export interface ClientCredential {
  certPem: string;
  keyPem: string;
}

/** openssl's time format for `ca -startdate/-enddate` (UTC, seconds). */
function opensslTime(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:T]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/**
 * A client certificate for `/O=<group>/CN=<name>` signed by the CA in `pki` (ca.crt, ca.key), valid from a
 * minute ago until `notAfter` (default: one day). `openssl ca` because `openssl x509` (3.0) only takes days.
 */
export function issueClientCert(
  pki: string,
  name: string,
  options: { group?: string; notAfter?: Date } = {},
): ClientCredential {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-cert-"));
  try {
    const openssl = (args: string[]): void => {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
    };
    fs.writeFileSync(path.join(dir, "index.txt"), "");
    fs.writeFileSync(
      path.join(dir, "serial"),
      `${execFileSync("openssl", ["rand", "-hex", "16"], { encoding: "utf8" }).trim()}\n`,
    );
    fs.writeFileSync(
      path.join(dir, "ca.cnf"),
      [
        "[ca]",
        "default_ca = test",
        "[test]",
        "database = index.txt",
        "new_certs_dir = .",
        "serial = serial",
        "default_md = sha256",
        "policy = any",
        "unique_subject = no",
        "[any]",
        "organizationName = optional",
        "commonName = supplied",
        "[client]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = clientAuth",
        "",
      ].join("\n"),
    );
    openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "client.key"]);
    const subject = `${options.group ? `/O=${options.group}` : ""}/CN=${name}`;
    openssl(["req", "-new", "-key", "client.key", "-subj", subject, "-out", "client.csr"]);
    const notAfter = options.notAfter ?? new Date(Date.now() + 24 * 3600_000);
    openssl([
      "ca",
      "-batch",
      "-notext",
      "-config",
      "ca.cnf",
      "-extensions",
      "client",
      "-cert",
      path.join(pki, "ca.crt"),
      "-keyfile",
      path.join(pki, "ca.key"),
      "-startdate",
      opensslTime(new Date(Date.now() - 60_000)),
      "-enddate",
      opensslTime(notAfter),
      "-in",
      "client.csr",
      "-out",
      "client.crt",
    ]);
    return {
      certPem: fs.readFileSync(path.join(dir, "client.crt"), "utf8"),
      keyPem: fs.readFileSync(path.join(dir, "client.key"), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A self-signed certificate and its key (PEM) for `subject`, valid `days` days from now. */
export function selfSignedCert(subject: string, days: number): ClientCredential {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-selfsigned-"));
  try {
    const args = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    execFileSync(
      "openssl",
      [...args, "-keyout", "key.pem", "-subj", subject, "-days", String(days), "-out", "cert.pem"],
      {
        cwd: dir,
        stdio: ["ignore", "ignore", "pipe"],
      },
    );
    return {
      certPem: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"),
      keyPem: fs.readFileSync(path.join(dir, "key.pem"), "utf8"),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A throwaway CA certificate (PEM): a second entry for a CA bundle. */
export function otherCaCert(): string {
  return selfSignedCert("/CN=mynodeone-other-ca", 2).certPem;
}

interface KubeconfigDoc {
  clusters: { name: string; cluster: Record<string, string> }[];
  users: { name: string; user: Record<string, string> }[];
  [key: string]: unknown;
}

const b64 = (text: string): string => Buffer.from(text).toString("base64");

/** `kubeconfig` with its (only) cluster and user changed as given. */
export function editKubeconfig(
  kubeconfig: string,
  change: { server?: string; caPem?: string; credential?: ClientCredential },
): string {
  const doc = YAML.parse(kubeconfig) as KubeconfigDoc;
  const cluster = doc.clusters[0]?.cluster;
  const user = doc.users[0]?.user;
  if (!cluster || !user) {
    throw new Error("kubeconfig without a cluster or a user");
  }
  if (change.server !== undefined) {
    cluster["server"] = change.server;
  }
  if (change.caPem !== undefined) {
    cluster["certificate-authority-data"] = b64(change.caPem);
  }
  if (change.credential !== undefined) {
    user["client-certificate-data"] = b64(change.credential.certPem);
    user["client-key-data"] = b64(change.credential.keyPem);
  }
  return YAML.stringify(doc);
}

/** The (only) cluster of a kubeconfig. */
function onlyCluster(kubeconfig: string): Record<string, string> {
  return (YAML.parse(kubeconfig) as KubeconfigDoc).clusters[0]?.cluster ?? {};
}

/** The PEM CA bundle of a kubeconfig's (only) cluster. */
export function kubeconfigCa(kubeconfig: string): string {
  return Buffer.from(onlyCluster(kubeconfig)["certificate-authority-data"] ?? "", "base64").toString("utf8");
}

/** The API server URL of a kubeconfig's (only) cluster. */
export function kubeconfigServer(kubeconfig: string): string {
  return onlyCluster(kubeconfig)["server"] ?? "";
}
