// What the real providers would compute for the outputs the program reads, in whole-program runs. Each value
// is a recognisable test-only string, so the secrecy tests can look for it in everything recorded.
import { k3sKubeconfig } from "../fixtures";
import { outputsFor } from "../mocks";

export const FAKE = {
  generatedToken: "fake-generated-k3s-token-0123456789abcdef",
  joinToken: "K10fakecahash::server:fake-generated-k3s-token-0123456789abcdef",
  clientKey: "RkFLRS1DTElFTlQtS0VZLURBVEE=",
  encryptionKey: "RkFLRS1FTkNSWVBUSU9OLUtFWS0zMi1CWVRFUy0hIQ==",
  deployPrivateKey:
    "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKE-DEPLOY-KEY\n-----END OPENSSH PRIVATE KEY-----\n",
  deployPublicKey: "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBFAKE",
} as const;

const kubeconfig = k3sKubeconfig(FAKE.clientKey);

const encryptionConfig = JSON.stringify({
  kind: "EncryptionConfiguration",
  apiVersion: "apiserver.config.k8s.io/v1",
  resources: [
    {
      resources: ["secrets"],
      providers: [{ aescbc: { keys: [{ name: "k", secret: FAKE.encryptionKey }] } }],
    },
  ],
});

export function installProgramFakes(): void {
  outputsFor.set("command:remote:Command", (args) => {
    const create = (args.inputs as { create?: string }).create ?? "";
    if (create.endsWith("'k3s-program-credential.sh'")) return { stdout: kubeconfig };
    if (create.includes("WHAT='encryption-config'")) return { stdout: encryptionConfig };
    if (create.endsWith("'k3s-join-token.sh'")) return { stdout: FAKE.joinToken };
    return { stdout: "" };
  });
  outputsFor.set("command:local:Command", () => ({ stdout: FAKE.generatedToken }));
  outputsFor.set("tls:index/privateKey:PrivateKey", () => ({
    privateKeyOpenssh: FAKE.deployPrivateKey,
    publicKeyOpenssh: FAKE.deployPublicKey,
  }));
  outputsFor.set("kubernetes:fluxcd.controlplane.io/v1:FluxInstance", () => ({
    status: { conditions: [{ type: "Ready", status: "True", message: "Reconciliation finished" }] },
  }));
}
