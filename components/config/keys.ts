// How config keys are named in messages and how each is set: every concern's reader words its fixes this way.

export const PROJECT = "mynodeone";

/** A key's full name, `mynodeone:<key>`. */
export const configKey = (key: string): string => `${PROJECT}:${key}`;

/** The command that sets a plain key (a `--path` key, e.g. `k3s.version`). */
export const setFix = (key: string, example: string): string =>
  `pulumi config set --path '${configKey(key)}' ${example}`;

/** The command that sets a secret key from the file that holds it. */
export const secretFix = (key: string, what: string): string =>
  `pulumi config set --secret '${configKey(key)}' < ${what}  (or: cat ${what} | pulumi config set --secret '${configKey(key)}')`;
