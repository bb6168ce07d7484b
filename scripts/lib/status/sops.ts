// The SOPS layer: `sops-gpg` holds the keys whose fingerprint (GPG) and recipient (age) the stack recorded, so
// Flux decrypts with the keys the repository's files are encrypted for.
import { inspectAgeKey, inspectGpgPrivateKey } from "../../../components/sops/keys";
import { SOPS_AGE_KEY_ENTRY, SOPS_GPG_KEY_ENTRY, SOPS_SECRET_NAME } from "../../../components/sops/secret";
import { getObject, type KubeGet, type KubeObject } from "./kube";
import { errorText, Findings, type Outcome, type ProbeContext } from "./probe";

const FIX = "pulumi up writes the stack's keys back into sops-gpg (docs/gitops.md, 'Rotate the key')";

export async function sopsFindings(ctx: ProbeContext, get: KubeGet): Promise<Outcome> {
  const out = new Findings("sops");
  const { namespace } = ctx.inputs.flux;
  const secret = await getObject<KubeObject>(
    get,
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${SOPS_SECRET_NAME}`,
  );
  if (secret === undefined) {
    out.fail(
      SOPS_SECRET_NAME,
      `${namespace}/${SOPS_SECRET_NAME} does not exist: Flux cannot decrypt any SOPS file`,
      FIX,
    );
    return out;
  }
  // The key material stays in this process: only its fingerprint and recipient are compared and shown.
  const entry = (key: string): string | undefined => {
    const data = secret.data?.[key];
    return data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8");
  };
  const expected = ctx.inputs.sopsGpgFingerprint;
  const gpg = entry(SOPS_GPG_KEY_ENTRY);
  if (gpg === undefined) {
    out.fail(`${SOPS_SECRET_NAME} gpg key`, `no ${SOPS_GPG_KEY_ENTRY} entry`, FIX);
  } else {
    try {
      const { fingerprint } = await inspectGpgPrivateKey(gpg);
      if (expected === undefined) {
        out.warn(
          `${SOPS_SECRET_NAME} gpg key`,
          `holds ${fingerprint}; the stack has no sopsGpgFingerprint output to compare with`,
          "pulumi up records it",
        );
      } else if (fingerprint.toUpperCase() !== expected.toUpperCase()) {
        out.fail(
          `${SOPS_SECRET_NAME} gpg key`,
          `holds ${fingerprint}, not the stack's ${expected}: files encrypted for the stack's key cannot be decrypted`,
          FIX,
        );
      } else {
        out.ok(`${SOPS_SECRET_NAME} gpg key`, `the stack's key ${fingerprint}`);
      }
    } catch (err) {
      out.fail(
        `${SOPS_SECRET_NAME} gpg key`,
        `${SOPS_GPG_KEY_ENTRY} is not a usable key: ${errorText(err)}`,
        FIX,
      );
    }
  }
  const recipient = ctx.inputs.sopsAgeRecipient;
  const ageKey = entry(SOPS_AGE_KEY_ENTRY);
  if (recipient === undefined && ageKey === undefined) {
    out.skip(`${SOPS_SECRET_NAME} age key`, "the stack sets no sopsAgeKey");
  } else if (ageKey === undefined) {
    out.fail(
      `${SOPS_SECRET_NAME} age key`,
      `no ${SOPS_AGE_KEY_ENTRY} entry, though the stack's recipient is ${recipient ?? "?"}`,
      FIX,
    );
  } else {
    try {
      const found = (await inspectAgeKey(ageKey)).recipient;
      if (recipient !== undefined && found !== recipient) {
        out.fail(`${SOPS_SECRET_NAME} age key`, `is the key of ${found}, not the stack's ${recipient}`, FIX);
      } else {
        out.ok(`${SOPS_SECRET_NAME} age key`, `the key of ${found}`);
      }
    } catch (err) {
      out.fail(
        `${SOPS_SECRET_NAME} age key`,
        `${SOPS_AGE_KEY_ENTRY} is not an age identity: ${errorText(err)}`,
        FIX,
      );
    }
  }
  return out;
}
