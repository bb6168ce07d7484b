// The SSH connection settings every host inherits (`mynodeone:ssh`, `mynodeone:sshPrivateKey`).
import * as pulumi from "@pulumi/pulumi";
import { configKey, secretFix, setFix } from "../config/keys";
import type { ObjectReader, RawConfig } from "../config/reader";
import { checkSshPrivateKey, secretString } from "../config/secret";
import { isUserName } from "../config/validate";

const DEFAULT_SSH_USER = "root";
const DEFAULT_SSH_PORT = 22;

export interface SshConfig {
  /** Default SSH user for hosts that do not set `user`. */
  user: string;
  /** Default SSH port for hosts that do not set `port`. */
  port: number;
  /** Private key (secret). Absent: the SSH agent at `SSH_AUTH_SOCK` is used. */
  privateKey?: pulumi.Output<string>;
}

export function readSsh(root: ObjectReader, raw: RawConfig): SshConfig {
  const defaults = root.object("ssh", "set user and port, e.g. " + setFix("ssh.user", "admin"), (r) => ({
    user: r.string("user", DEFAULT_SSH_USER, {
      check: (v) => (isUserName(v) ? undefined : "is not a valid user name"),
      fix: setFix("ssh.user", "admin"),
    }),
    port: r.integer("port", DEFAULT_SSH_PORT, 1, 65535, setFix("ssh.port", "22")),
  }));
  const fix = secretFix("sshPrivateKey", "~/.ssh/id_ed25519");
  const privateKey = secretString(root.problems, raw, "sshPrivateKey", "~/.ssh/id_ed25519");
  if (privateKey !== undefined) {
    const problem = checkSshPrivateKey(privateKey);
    if (problem !== undefined) {
      root.problems.add(configKey("sshPrivateKey"), problem, fix);
    }
  }
  return { ...defaults, ...(privateKey !== undefined ? { privateKey: pulumi.secret(privateKey) } : {}) };
}
