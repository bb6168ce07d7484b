// The k3s cluster token: the configured one, or one generated once and kept in the stack state.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

/** 32 random bytes as 64 hex digits; fails rather than printing a short token. */
export const GENERATE_TOKEN_COMMAND =
  "token=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \\n') && [ ${#token} -eq 64 ] && printf '%s' \"$token\"";

/**
 * Any later change of this resource's inputs (e.g. a new version of the command above) re-emits the token
 * from state instead of generating a new one: a new token would lock every node out of the cluster.
 */
export const KEEP_TOKEN_COMMAND =
  '[ -n "${PULUMI_COMMAND_STDOUT:-}" ] && printf \'%s\' "$PULUMI_COMMAND_STDOUT" ' +
  "|| { echo 'k3s token: the previous token is missing from state; refusing to generate a new one' >&2; exit 1; }";

export interface ClusterTokenArgs {
  /** The configured token (secret). Absent: one is generated on the first `pulumi up` and kept in state. */
  token?: pulumi.Input<string>;
  /** Protect the generated token (production): losing it means the cluster can no longer be joined or restored. */
  protect: boolean;
}

/**
 * The token nodes join with and etcd snapshots are restored with. Keep it (it is a secret stack output) for
 * disaster recovery. Switching from a generated to a configured token (or back) changes the token of an
 * existing cluster, which k3s refuses: configure the generated value if you want to pin it.
 */
export class ClusterToken extends pulumi.ComponentResource {
  /** The cluster token (secret). */
  public readonly token: pulumi.Output<string>;

  constructor(name: string, args: ClusterTokenArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mynodeone:k3s:ClusterToken", name, {}, opts);
    if (args.token !== undefined) {
      this.token = pulumi.secret(args.token);
    } else {
      // Generated locally, on the machine running Pulumi: no provider for random values is installed, and the
      // command's stdout lives in state, so later runs reuse it (create runs once).
      const generated = new command.local.Command(
        `${name}-generate`,
        { create: GENERATE_TOKEN_COMMAND, update: KEEP_TOKEN_COMMAND, logging: "none" },
        { parent: this, additionalSecretOutputs: ["stdout", "stderr"], protect: args.protect },
      );
      this.token = pulumi.secret(generated.stdout);
    }
    this.registerOutputs({ token: this.token });
  }
}
