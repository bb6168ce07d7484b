// scripts/install-pulumi.sh against a local mirror on 127.0.0.1 with the layout of Pulumi's download site: the
// pinned release is installed only when its sha256 matches the published checksums and it is the pinned version.
import { strict as assert } from "node:assert";
import { execFile, execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { pinnedCliVersion, PROJECT_DIR } from "./harness/project";

const SCRIPT = path.join(PROJECT_DIR, "scripts", "install-pulumi.sh");
const VERSION = pinnedCliVersion();
const TARBALL = `pulumi-v${VERSION}-linux-x64.tar.gz`;

/** A release tarball whose `pulumi/pulumi` prints `printedVersion` (as `pulumi version` does). */
function releaseTarball(dir: string, printedVersion: string): Buffer {
  const tree = fs.mkdtempSync(path.join(dir, "tree-"));
  fs.mkdirSync(path.join(tree, "pulumi"));
  fs.writeFileSync(path.join(tree, "pulumi", "pulumi"), `#!/bin/sh\necho ${printedVersion}\n`, {
    mode: 0o755,
  });
  fs.writeFileSync(path.join(tree, "pulumi", "pulumi-language-nodejs"), "#!/bin/sh\n", { mode: 0o755 });
  const out = path.join(dir, `${path.basename(tree)}.tar.gz`);
  execFileSync("tar", ["-czf", out, "-C", tree, "pulumi"]);
  return fs.readFileSync(out);
}

const sha256 = (data: Buffer): string => crypto.createHash("sha256").update(data).digest("hex");

describe("install-pulumi.sh (local mirror)", function () {
  if (process.platform !== "linux" || os.arch() !== "x64") {
    return;
  }
  this.timeout(60_000);
  let dir: string;
  let server: http.Server;
  let base: string;
  /** What the mirror serves, by file name. */
  const files = new Map<string, Buffer>();

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mynodeone-install-pulumi-"));
    server = http.createServer((req, res) => {
      const body = files.get(path.basename(req.url ?? ""));
      res.writeHead(body ? 200 : 404).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/releases/sdk`;
  });
  after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the script (asynchronously: the mirror is served from this process). */
  function install(home: string, downloadBase = base): Promise<{ status: number; output: string }> {
    return new Promise((resolve) => {
      execFile(
        "bash",
        [SCRIPT],
        {
          cwd: PROJECT_DIR,
          env: { ...process.env, PULUMI_HOME: home, MYNODEONE_PULUMI_DOWNLOAD_BASE: downloadBase },
        },
        (err, stdout, stderr) => {
          resolve({ status: err ? Number(err.code ?? 1) : 0, output: stdout + stderr });
        },
      );
    });
  }

  function publish(tarball: Buffer, checksum = sha256(tarball)): void {
    files.set(TARBALL, tarball);
    files.set(
      `pulumi-${VERSION}-checksums.txt`,
      Buffer.from(`${"0".repeat(64)}  other.tar.gz\n${checksum}  ${TARBALL}\n`),
    );
  }

  it("installs the verified pinned release into the installer's layout, and a re-run downloads nothing", async () => {
    const home = path.join(dir, "home-ok");
    publish(releaseTarball(dir, `v${VERSION}`));
    const first = await install(home);
    assert.equal(first.status, 0, first.output);
    assert.equal(execFileSync(path.join(home, "bin", "pulumi"), { encoding: "utf8" }).trim(), `v${VERSION}`);
    assert.equal(
      fs.realpathSync(path.join(home, "bin", "pulumi-language-nodejs")),
      path.join(home, "versions", VERSION, "bin", "pulumi-language-nodejs"),
    );
    files.clear();
    const again = await install(home);
    assert.equal(again.status, 0, again.output);
    assert.match(again.output, /is installed/);
  });

  it("refuses a tarball whose sha256 is not the published one, installing nothing", async () => {
    const home = path.join(dir, "home-tampered");
    publish(releaseTarball(dir, `v${VERSION}`), sha256(Buffer.from("the real release")));
    const run = await install(home);
    assert.notEqual(run.status, 0);
    assert.match(run.output, /sha256 mismatch .* nothing was installed/);
    assert.ok(!fs.existsSync(path.join(home, "versions", VERSION)));
  });

  it("refuses a release that is not the pinned version, and a download base that is not https", async () => {
    const home = path.join(dir, "home-wrong");
    publish(releaseTarball(dir, "v3.1.0"));
    const run = await install(home);
    assert.notEqual(run.status, 0);
    assert.match(run.output, new RegExp(`holds Pulumi 'v3.1.0', not v${VERSION.replace(/\./g, "\\.")}`));
    const plain = await install(home, "http://mirror.example/sdk");
    assert.match(plain.output, /must be an https:\/\/ URL/);
  });
});
