// The Traefik download + sha256 verification, exercised for real: fetch-traefik.sh runs against a local HTTP
// server (127.0.0.1 only) that serves a stand-in release, once with curl and once with wget.
import { strict as assert } from "node:assert";
import { execFile, execFileSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const FETCH_SCRIPT = path.join(__dirname, "..", "components", "edge", "scripts", "fetch-traefik.sh");
const VERSION = "v3.7.1";
const TARBALL = `traefik_${VERSION}_linux_amd64.tar.gz`;
const CHECKSUMS = `traefik_${VERSION}_checksums.txt`;
const OLD_BINARY = "#!/bin/sh\necho 'Version:      3.6.0'\n";
const NEW_BINARY = "#!/bin/sh\necho 'Version:      3.7.1'\n";

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a script asynchronously (the HTTP server lives in this process, so the event loop must keep running). */
function runScript(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile("bash", [script, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

function sha256(data: Buffer): string {
  return crypto.createHash("sha256").update(data).digest("hex");
}

/** A tar.gz holding `members` (name -> content, mode 0755), like a Traefik release archive. */
function makeTarball(dir: string, members: Record<string, string>): Buffer {
  const src = fs.mkdtempSync(path.join(dir, "src-"));
  for (const [name, content] of Object.entries(members)) {
    fs.writeFileSync(path.join(src, name), content, { mode: 0o755 });
  }
  const out = path.join(dir, `${path.basename(src)}.tar.gz`);
  execFileSync("tar", ["-czf", out, "-C", src, ...Object.keys(members)]);
  return fs.readFileSync(out);
}

/**
 * A PATH that holds every command of the current PATH except `hidden`: the script then has to use the other
 * downloader. Fails the test (rather than skipping it) when the downloader under test is not installed.
 */
function pathWithout(hidden: string, root: string, required: string): string {
  const dirs = (process.env["PATH"] ?? "").split(path.delimiter).filter((d) => d !== "");
  const mirror = fs.mkdtempSync(path.join(root, `path-without-${hidden}-`));
  for (const dir of dirs) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const target = path.join(mirror, name);
      if (name !== hidden && !fs.existsSync(target)) {
        fs.symlinkSync(path.join(dir, name), target);
      }
    }
  }
  assert.ok(
    fs.existsSync(path.join(mirror, required)),
    `${required} is needed to exercise fetch-traefik.sh's ${required} path: install it (apt-get install ${required})`,
  );
  return mirror;
}

describe("edge: fetch-traefik.sh verifies the release checksum before installing", function () {
  let root: string;
  let server: http.Server;
  let baseUrl: string;
  const served = new Map<string, Buffer>();
  const requests: string[] = [];
  let goodTarball: Buffer;

  before(async function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "edge-checksum-"));
    goodTarball = makeTarball(root, { traefik: NEW_BINARY, "LICENSE.md": "MIT\n" });
    server = http.createServer((req, res) => {
      requests.push(req.url ?? "");
      const body = served.get(req.url ?? "");
      if (body === undefined) {
        res.writeHead(404, { "content-type": "text/plain" });
        res.end("404 page not found\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async function () {
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    fs.rmSync(root, { recursive: true, force: true });
  });

  /** Serve a release: the tarball, and a checksums file (default: the tarball's real sha256 plus another arch). */
  function serveRelease(tarball: Buffer | undefined, checksums?: string): void {
    served.clear();
    requests.length = 0;
    if (tarball !== undefined) {
      served.set(`/${VERSION}/${TARBALL}`, tarball);
    }
    served.set(
      `/${VERSION}/${CHECKSUMS}`,
      Buffer.from(
        checksums ??
          `${sha256(Buffer.from("arm64 build"))}  traefik_${VERSION}_linux_arm64.tar.gz\n` +
            `${sha256(goodTarball)}  ${TARBALL}\n`,
      ),
    );
  }

  for (const downloader of ["curl", "wget"] as const) {
    describe(`with ${downloader}`, function () {
      let searchPath: string;
      let dest: string;
      let tmp: string;

      before(function () {
        searchPath = pathWithout(downloader === "curl" ? "wget" : "curl", root, downloader);
      });

      beforeEach(function () {
        // An "installed" old binary: a failed fetch must leave it exactly as it is.
        dest = fs.mkdtempSync(path.join(root, "bin-"));
        fs.writeFileSync(path.join(dest, "traefik"), OLD_BINARY, { mode: 0o755 });
        tmp = fs.mkdtempSync(path.join(root, "tmp-"));
      });

      const fetch = (base: string, pins = ""): Promise<RunResult> =>
        runScript(FETCH_SCRIPT, [base, VERSION, "amd64"], {
          PATH: searchPath,
          TRAEFIK_INSTALL_DIR: dest,
          TMPDIR: tmp,
          TRAEFIK_SHA256_PINS: pins,
        });

      function assertUntouched(): void {
        assert.deepEqual(fs.readdirSync(dest), ["traefik"], "nothing may be added to the install directory");
        assert.equal(fs.readFileSync(path.join(dest, "traefik"), "utf8"), OLD_BINARY);
        assert.deepEqual(fs.readdirSync(tmp), [], "work files must be cleaned up");
      }

      /** A fetch that failed, saying `stderr`, and left the installed binary as it was. */
      function assertRefused(result: RunResult, stderr: RegExp): void {
        assert.notEqual(result.code, 0);
        assert.match(result.stderr, stderr);
        assertUntouched();
      }

      it("installs a release whose sha256 matches, replacing the old binary atomically", async function () {
        serveRelease(goodTarball);
        const result = await fetch(baseUrl);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(requests, [`/${VERSION}/${CHECKSUMS}`, `/${VERSION}/${TARBALL}`]);
        assert.deepEqual(fs.readdirSync(dest), ["traefik"]);
        const installed = path.join(dest, "traefik");
        assert.equal(fs.readFileSync(installed, "utf8"), NEW_BINARY);
        assert.equal(fs.statSync(installed).mode & 0o777, 0o755);
        assert.match(execFileSync(installed, ["version"]).toString(), /Version:\s+3\.7\.1/);
        assert.deepEqual(fs.readdirSync(tmp), []);
      });

      it("rejects a tampered tarball and installs nothing", async function () {
        const tampered = makeTarball(root, { traefik: "#!/bin/sh\necho pwned\n", "LICENSE.md": "MIT\n" });
        serveRelease(tampered);
        const result = await fetch(baseUrl);
        assertRefused(
          result,
          new RegExp(
            `sha256 mismatch for ${TARBALL}: expected ${sha256(goodTarball)}, got ${sha256(tampered)}`,
          ),
        );
        assert.match(result.stderr, /nothing was installed/);
      });

      it("rejects a mirror that swapped tarball and checksums file when the sha256 is pinned", async function () {
        const swapped = makeTarball(root, { traefik: "#!/bin/sh\necho pwned\n" });
        serveRelease(swapped, `${sha256(swapped)}  ${TARBALL}\n`);
        const result = await fetch(baseUrl, `arm64=${"0".repeat(64)},amd64=${sha256(goodTarball)}`);
        assertRefused(result, /but the pinned sha256 is [0-9a-f]{64} \(edge\.traefikSha256\)/);

        serveRelease(goodTarball);
        const pinned = await fetch(baseUrl, `amd64=${sha256(goodTarball)}`);
        assert.equal(pinned.code, 0, pinned.stderr);
        assert.equal(fs.readFileSync(path.join(dest, "traefik"), "utf8"), NEW_BINARY);
      });

      it("rejects a release that has no entry in the checksums file", async function () {
        serveRelease(goodTarball, `${sha256(goodTarball)}  traefik_${VERSION}_linux_arm64.tar.gz\n`);
        const result = await fetch(baseUrl);
        assertRefused(result, new RegExp(`${CHECKSUMS} has no entry for ${TARBALL}`));
      });

      it("fails clearly when the tarball is missing (HTTP 404)", async function () {
        serveRelease(undefined);
        const result = await fetch(baseUrl);
        assertRefused(result, new RegExp(`download failed \\(${downloader} exit \\d+\\): .*/${TARBALL}`));
      });

      it("fails clearly when the checksums file is missing (HTTP 404)", async function () {
        serveRelease(goodTarball);
        served.delete(`/${VERSION}/${CHECKSUMS}`);
        const result = await fetch(baseUrl);
        assertRefused(result, new RegExp(`download failed \\(${downloader} exit \\d+\\): .*/${CHECKSUMS}`));
      });

      it("rejects a verified archive without a traefik binary", async function () {
        const noBinary = makeTarball(root, { "LICENSE.md": "MIT\n" });
        serveRelease(noBinary, `${sha256(noBinary)}  ${TARBALL}\n`);
        const result = await fetch(baseUrl);
        assertRefused(result, /cannot unpack 'traefik' from traefik_[^ ]+ \(.*Not found in archive/);
      });

      it("refuses plain http from anywhere but loopback, before downloading anything", async function () {
        serveRelease(goodTarball);
        const result = await fetch("http://mirror.example.invalid/traefik");
        assertRefused(result, /download base URL must be https:\/\//);
        assert.deepEqual(requests, []);
      });
    });
  }

  describe("--detect-arch", function () {
    /** Run --detect-arch with a fake `uname -m`. */
    async function detect(machine: string): Promise<RunResult> {
      const fakeBin = fs.mkdtempSync(path.join(root, "uname-"));
      fs.writeFileSync(path.join(fakeBin, "uname"), `#!/bin/sh\necho '${machine}'\n`, { mode: 0o755 });
      return runScript(FETCH_SCRIPT, ["--detect-arch"], {
        PATH: `${fakeBin}${path.delimiter}${process.env["PATH"] ?? ""}`,
      });
    }

    it("maps uname -m to Traefik's release architecture names", async function () {
      const expected: Record<string, string> = {
        x86_64: "amd64",
        aarch64: "arm64",
        armv7l: "armv7",
        armv6l: "armv6",
        i686: "386",
        riscv64: "riscv64",
      };
      for (const [machine, arch] of Object.entries(expected)) {
        const result = await detect(machine);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `${arch}\n`, machine);
      }
    });

    it("names an unsupported architecture", async function () {
      const result = await detect("mips64");
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /unsupported CPU architecture 'mips64'/);
    });
  });
});
