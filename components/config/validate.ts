// Small validators used by the config parser. Each returns a description of what is wrong (or undefined), so
// the parser can collect every problem of a run into one error instead of failing on the first.
import * as net from "node:net";

/** One problem with one config key: what is wrong and how to fix it. */
export interface Problem {
  key: string;
  message: string;
  fix: string;
}

/** Collects problems; `key` is always the full config path (`mynodeone:k3s.servers[0].host`). */
export class Problems {
  readonly list: Problem[] = [];

  add(key: string, message: string, fix: string): void {
    this.list.push({ key, message, fix });
  }

  get empty(): boolean {
    return this.list.length === 0;
  }
}

/** The error thrown at program start; its message lists every problem, one per line. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly Problem[]) {
    super(
      [
        `invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):`,
        ...problems.map((p) => `  - ${p.key}: ${p.message}. Fix: ${p.fix}`),
      ].join("\n"),
    );
    this.name = "ConfigError";
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

export function hasControlChars(value: string): boolean {
  return CONTROL_CHARS.test(value);
}

/** A printable rendering of a rejected value for error messages (never used for secrets). */
export function show(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  const shown = JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  return shown;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** RFC 1123 label as Kubernetes uses it for names: lowercase alphanumerics and '-', at most 63. */
export function isDnsLabel(value: string): boolean {
  return DNS_LABEL.test(value);
}

/** A DNS name: dot-separated RFC 1123 labels (case-insensitive), at most 253 characters, not all-numeric. */
export function isDnsName(value: string): boolean {
  if (value.length === 0 || value.length > 253) {
    return false;
  }
  const name = value.endsWith(".") ? value.slice(0, -1) : value;
  const labels = name.split(".");
  if (!labels.every((label) => DNS_LABEL.test(label.toLowerCase()))) {
    return false;
  }
  // "1.2.3.999" is a mistyped address, not a host name.
  return !/^[0-9]+$/.test(labels[labels.length - 1] ?? "");
}

export function isIpAddress(value: string): boolean {
  return net.isIP(value) !== 0;
}

export function isHostAddress(value: string): boolean {
  return isIpAddress(value) || isDnsName(value);
}

/** CIDR notation for IPv4 or IPv6 (`100.64.0.0/10`, `fd7a:115c:a1e0::/48`). */
export function isCidr(value: string): boolean {
  const [address, bits, ...rest] = value.split("/");
  if (rest.length > 0 || address === undefined || bits === undefined || !/^[0-9]{1,3}$/.test(bits)) {
    return false;
  }
  const version = net.isIP(address);
  const prefix = Number(bits);
  return (version === 4 && prefix <= 32) || (version === 6 && prefix <= 128);
}

export function isPort(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** POSIX-portable user name as Debian's adduser accepts it. */
export function isUserName(value: string): boolean {
  return /^[a-z_][a-z0-9_-]{0,31}$/.test(value);
}

/** Every SSH public key type this program knows of. */
const KEY_TYPES = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "ssh-rsa",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
] as const;
type KeyType = (typeof KEY_TYPES)[number];

/** One use of an SSH public key: the known key types that do not work there, each with what goes wrong. */
export type PublicKeyUse = Readonly<Partial<Record<KeyType, string>>>;

const SECURITY_KEY_IS_NO_HOST_KEY =
  "is a security-key (FIDO) type: only user keys are held by a security key, never a host key";
const NO_SECURITY_KEY_HOSTS = {
  "sk-ssh-ed25519@openssh.com": SECURITY_KEY_IS_NO_HOST_KEY,
  "sk-ecdsa-sha2-nistp256@openssh.com": SECURITY_KEY_IS_NO_HOST_KEY,
} as const;

/**
 * A host key pinned for this program's own SSH connections. @pulumi/command 1.2.1 (`hostKey`, added by
 * pulumi/pulumi-command#794) sets golang.org/x/crypto/ssh's HostKeyAlgorithms to the pinned key's type. For an
 * RSA key that offers only `ssh-rsa`, the SHA-1 signature OpenSSH 8.8 and later refuse by default ("no common
 * algorithm for host key"). Ed25519 and ECDSA key types are also their signature algorithms, so they work.
 */
export const SSH_HOST_KEY_PIN: PublicKeyUse = {
  "ssh-rsa":
    "is an RSA host key: @pulumi/command verifies a pinned key with the key's own type only, for RSA the SHA-1 " +
    "'ssh-rsa' signature that OpenSSH 8.8 and later (Debian 12, Ubuntu 22.04) refuse, so every connection would fail",
  ...NO_SECURITY_KEY_HOSTS,
};

/**
 * A host key in Flux's known_hosts. Flux's Git client (fluxcd/pkg/git/gogit: go-git over golang.org/x/crypto/ssh,
 * host keys checked by fluxcd/pkg/ssh/knownhosts) offers rsa-sha2-512 and rsa-sha2-256 for an `ssh-rsa` entry
 * since fluxcd/pkg#954 (gogit v0.35.1, fluxcd/source-controller#1839, June 2025; the pinned Flux 2.9 has it), so
 * an RSA line such as GitHub's published one is verified with SHA-2 signatures.
 */
export const GIT_KNOWN_HOST_KEY: PublicKeyUse = NO_SECURITY_KEY_HOSTS;

/** A user key in authorized_keys: OpenSSH takes every type there (RSA signed with rsa-sha2, security keys). */
export const AUTHORIZED_USER_KEY: PublicKeyUse = {};

function isKeyType(type: string): type is KeyType {
  return (KEY_TYPES as readonly string[]).includes(type);
}

/** The key types `use` accepts, for messages. */
export function acceptedKeyTypes(use: PublicKeyUse): KeyType[] {
  return KEY_TYPES.filter((type) => use[type] === undefined);
}

export function acceptsKeyType(use: PublicKeyUse, type: string): boolean {
  return isKeyType(type) && use[type] === undefined;
}

/** The key type named at the start of a base64 SSH public key blob (uint32 length + name), if any. */
export function keyBlobType(blob: string): string | undefined {
  const bytes = Buffer.from(blob, "base64");
  const length = bytes.length >= 4 ? bytes.readUInt32BE(0) : 0;
  return length > 0 && 4 + length <= bytes.length
    ? bytes.subarray(4, 4 + length).toString("latin1")
    : undefined;
}

/**
 * Checks one public key in authorized_keys / known_hosts-without-host format, `<type> <base64> [comment]`, for
 * `use`. The base64 blob must decode and start with the same key type (catches truncated or mixed-up keys).
 * Returns what is wrong, or undefined when the key is well-formed and of a type `use` accepts.
 */
export function checkPublicKey(value: string, use: PublicKeyUse): string | undefined {
  const parts = value.trim().split(/ +/);
  const [type, blob] = parts;
  if (parts.length < 2 || type === undefined || blob === undefined) {
    return "expected one public key as '<type> <base64>' (e.g. the contents of /etc/ssh/ssh_host_ed25519_key.pub)";
  }
  if (!isKeyType(type)) {
    return `unsupported key type ${show(type)} (expected one of ${acceptedKeyTypes(use).join(", ")})`;
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) {
    return "the key data is not base64";
  }
  if (keyBlobType(blob) !== type) {
    return `the key data does not encode a ${type} key (truncated or mismatched key?)`;
  }
  return use[type];
}

/** Kubernetes label key (optional DNS-subdomain prefix + '/' + name) and value syntax. */
export function checkLabel(key: string, value: unknown): string | undefined {
  const nameRe = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if ((prefix !== undefined && !isDnsName(prefix)) || !nameRe.test(name)) {
    return `label key ${show(key)} is not a valid Kubernetes label key`;
  }
  if (typeof value !== "string" || (value !== "" && !nameRe.test(value))) {
    return `label value ${show(value)} for ${show(key)} is not a valid Kubernetes label value`;
  }
  return undefined;
}

/** Go duration as Flux accepts it (`30s`, `1m`, `1h30m`). */
export function isGoDuration(value: string): boolean {
  return /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(value);
}

/** An absolute, normalised filesystem path of safe characters (no spaces, no '..'). */
export function isSafeAbsolutePath(value: string): boolean {
  return (
    /^\/[A-Za-z0-9._/-]*$/.test(value) &&
    !value.split("/").some((seg) => seg === ".." || seg === ".") &&
    !value.includes("//") &&
    (value === "/" || !value.endsWith("/"))
  );
}

export function isEmail(value: string): boolean {
  const at = value.lastIndexOf("@");
  return (
    at > 0 && /^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+$/.test(value.slice(0, at)) && isDnsName(value.slice(at + 1))
  );
}

/**
 * An https URL without credentials, query or fragment. Plain http is admitted on loopback only (a local
 * mirror on the same host, as in tests): nothing on the network can swap those bytes.
 */
export function checkHttpsUrl(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "not a URL";
  }
  const loopback = /^(127\.[0-9.]+|localhost|\[::1\])$/.test(url.hostname);
  if (url.protocol !== "https:" && (url.protocol !== "http:" || !loopback)) {
    return "must be an https:// URL (plain http only on loopback)";
  }
  if (url.username !== "" || url.password !== "") {
    return "must not contain credentials";
  }
  if (url.search !== "" || url.hash !== "") {
    return "must not contain a query or fragment";
  }
  if (/['"\\\s`$]/.test(value)) {
    return "contains characters that are not allowed in a URL here (quotes, spaces, '$', '`', '\\')";
  }
  return undefined;
}
