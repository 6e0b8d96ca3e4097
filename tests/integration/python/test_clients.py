"""Every client Debian bookworm packages, against the real kmsd: Go SDK v1 and v2, Ruby
aws-sdk-kms, the AWS CLI v2 and boto3 1.26 (the other modules use the preinstalled boto3 and AWS
CLI v1). They are old enough to ignore AWS_ENDPOINT_URL_KMS, so each is given the endpoint the way
the README's "Pointing clients at kmsd" says, and the README's snippet for it is run too.

Each client runs one program from tests/integration/clients/ (the same flow in each: CreateKey
with a description and tags, CreateAlias, DescribeKey by alias, ListAliases by KeyId,
ListResourceTags, GenerateDataKey with an encryption context, Decrypt without KeyId, Decrypt with
the wrong context, ReEncrypt to a second key, Decrypt, ListKeys through the SDK's paginator,
ScheduleKeyDeletion, Encrypt under that key, a missing key, Sign/Verify with an ECC_NIST_P256 key
checked outside KMS too, GenerateMac/VerifyMac with an HMAC_256 key; errors as the SDK's typed
exceptions) once against an open-mode server and once against a strict-mode one with a principal's
signed requests, where a wrong secret must come back as InvalidSignatureException. A program
prints "ok <step>" per step and exits non-zero at the first wrong result; the test checks the exit
status, every step, and that the client is the Debian package's version.

Nothing is skipped: a client that is missing (tools/dev.sh installs them) fails its test class.
The Go programs and the README's Go snippets are compiled once per run, in one `go build` (GOPATH
mode against /usr/share/gocode, offline). Timings go to stderr.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

from harness import REPO_ROOT, KmsdServer

CLIENTS = os.path.join(REPO_ROOT, "tests", "integration", "clients")
README = os.path.join(REPO_ROOT, "README.md")

# Debian's binaries by full path: pyenv's python3 (boto3 1.43) and aws (CLI v1) come first in PATH.
SYSTEM_PYTHON = ["/usr/bin/python3", "-s", "-E"]  # no user site-packages, no PYTHONPATH
AWS_V2 = "/usr/bin/aws"
RUBY = "/usr/bin/ruby"
GO = "/usr/bin/go"
GOPATH_SYSTEM = "/usr/share/gocode"

STEPS = ["create_key", "create_alias", "describe_key_by_alias", "list_aliases_by_key",
         "list_resource_tags", "generate_data_key", "decrypt", "decrypt_wrong_context",
         "re_encrypt", "decrypt_re_encrypted", "list_keys_paginated", "schedule_key_deletion",
         "encrypt_pending_deletion", "missing_key", "sign_verify", "generate_verify_mac"]

ALICE = ("AKIAALICE111EXAMPLE", "alice/secret+key")
WRONG_SECRET = "not/alices+secret"
PRINCIPALS = """\
accounts:
  "111122223333":
    users:
      - name: alice
        access_key_id: %s
        secret_access_key: "%s"
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
""" % ALICE

FLOW_TIMEOUT = 600


def log(msg):
    print("[clients] " + msg, file=sys.stderr, flush=True)


def readme_blocks(lang):
    with open(README) as f:
        return re.findall(r"```%s\n(.*?)```" % re.escape(lang), f.read(), flags=re.S)


def readme_block(lang, marker):
    found = [b for b in readme_blocks(lang) if marker in b]
    if len(found) != 1:
        raise AssertionError("README: want one ```%s block with %r, found %d"
                             % (lang, marker, len(found)))
    return found[0]


def debian_version(package):
    """The upstream version of an installed Debian package (no epoch, revision or +dfsg)."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Status}|${Version}", package],
                         capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.startswith("install ok installed|"):
        raise AssertionError("Debian package %s is not installed (tools/dev.sh installs it): %s"
                             % (package, (out.stdout + out.stderr).strip()))
    version = out.stdout.split("|", 1)[1]
    version = version.split(":", 1)[-1]          # epoch
    version = version.rsplit("-", 1)[0]          # Debian revision
    return re.split(r"[+~]", version)[0]         # +dfsg, +repack, ~


def client_env(**extra):
    """The environment of a client process: no AWS_* settings of the developer's (profile, endpoint,
    region), no shared config or credentials files, no instance metadata lookups."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("PYTHON")}
    env.update(AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    env.update(extra)
    return env


# ---- Go: one build for the two flow programs and the README's two snippets ----------------------

GO_ENDPOINT_FILE = """\
package main

import "os"

// The README snippet's "http://localhost:8080", replaced by the test server's endpoint.
var kmsdEndpoint = os.Getenv("KMSD_ENDPOINT")
"""

_go_build = {}


def go_binaries():
    """{name: path} of flowv1, flowv2, readmev1, readmev2, built once per process."""
    if "error" in _go_build:
        raise AssertionError(_go_build["error"])
    if "bins" in _go_build:
        return _go_build["bins"]
    tmp = tempfile.mkdtemp(prefix="kmsd-clients-go-")
    _go_build["tmp"] = tmp
    src = os.path.join(tmp, "gopath", "src", "kmsdclients")
    programs = {}
    for name, version in (("flowv1", "v1"), ("flowv2", "v2")):
        with open(os.path.join(CLIENTS, "go", version, "main.go")) as f:
            programs[name] = f.read()
    for name, marker in (("readmev1", '"github.com/aws/aws-sdk-go/service/kms"'),
                         ("readmev2", '"github.com/aws/aws-sdk-go-v2/service/kms"')):
        snippet = readme_block("go", marker)
        if '"http://localhost:8080"' not in snippet:
            raise AssertionError("README Go snippet %s has no http://localhost:8080" % name)
        programs[name] = snippet.replace('"http://localhost:8080"', "kmsdEndpoint")
    for name, text in programs.items():
        os.makedirs(os.path.join(src, name))
        with open(os.path.join(src, name, "main.go"), "w") as f:
            f.write(text)
        if name.startswith("readme"):
            with open(os.path.join(src, name, "endpoint.go"), "w") as f:
                f.write(GO_ENDPOINT_FILE)
    bindir = os.path.join(tmp, "bin") + os.sep
    env = dict(os.environ, GO111MODULE="off", GOPROXY="off", GOTOOLCHAIN="local",
               GOPATH=os.path.join(tmp, "gopath") + os.pathsep + GOPATH_SYSTEM)
    env.setdefault("GOCACHE", os.path.join(os.path.expanduser("~"), ".cache", "go-build"))
    cmd = ["nice", "-n", "10", GO, "build", "-o", bindir] + [
        "kmsdclients/" + name for name in sorted(programs)]
    t0 = time.monotonic()
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        _go_build["error"] = ("go build failed (golang-go installed? tools/dev.sh installs it): %s"
                              % e)
        raise AssertionError(_go_build["error"])
    if out.returncode != 0:
        _go_build["error"] = "%s\nexited %d:\n%s%s" % (" ".join(cmd), out.returncode, out.stdout,
                                                        out.stderr)
        raise AssertionError(_go_build["error"])
    log("go build (%s, GOPATH mode, 4 programs): %.1f s" % (
        subprocess.run([GO, "version"], capture_output=True, text=True).stdout.strip(),
        time.monotonic() - t0))
    _go_build["bins"] = {n: os.path.join(bindir, n) for n in programs}
    return _go_build["bins"]


def tearDownModule():
    if "tmp" in _go_build:
        shutil.rmtree(_go_build["tmp"], ignore_errors=True)


# ---- the flow, once per client ----------------------------------------------------------------

class ClientFlow:
    """Mixed into one unittest.TestCase per client: an open-mode and a strict-mode server for the
    class, the flow against each, and the client's README snippet against the open one."""

    name = None            # as the flow program prints it: "PASS <name>"
    package = None         # the Debian package whose version the client must report
    version_pattern = None  # regex with the version as group 1, matched in the "version" line

    @classmethod
    def setUpClass(cls):
        cls.t0 = time.monotonic()
        cls.servers = []
        cls.expected_version = debian_version(cls.package)
        cls.prepare()
        cls.tmp = tempfile.mkdtemp(prefix="kmsd-clients-")
        principals = os.path.join(cls.tmp, "principals.yaml")
        with open(principals, "w") as f:
            f.write(PRINCIPALS)
        try:
            cls.open_server = cls._start(KmsdServer())
            cls.strict_server = cls._start(KmsdServer(
                extra_args=["--auth", "strict", "--principals", principals]))
        except Exception:
            cls._stop_servers()
            raise

    @classmethod
    def _start(cls, server):
        cls.servers.append(server)
        server.start()
        return server

    @classmethod
    def _stop_servers(cls):
        errors = []
        for server in cls.servers:
            try:
                server.cleanup()
            except AssertionError as e:  # a sanitizer report
                errors.append(str(e))
        if hasattr(cls, "tmp"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        if errors:
            raise AssertionError("\n".join(errors))

    @classmethod
    def tearDownClass(cls):
        log("%s: %.1f s in all (client %s)" % (cls.name, time.monotonic() - cls.t0,
                                                cls.expected_version))
        cls._stop_servers()

    @classmethod
    def prepare(cls):
        """Class-wide preparation (the Go build)."""

    def flow_command(self, endpoint, access, secret, wrong=None):
        raise NotImplementedError

    def run_client(self, argv, what, **env):
        t0 = time.monotonic()
        p = subprocess.run(argv, env=client_env(**env), capture_output=True, text=True,
                           timeout=FLOW_TIMEOUT)
        log("%s %s: %.1f s" % (self.name, what, time.monotonic() - t0))
        detail = "%s\nexit %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(argv), p.returncode,
                                                             p.stdout, p.stderr)
        return p, detail

    def check_flow(self, server, access, secret, wrong=None):
        for s in self.servers:
            self.assertIsNone(s.proc.poll(), "kmsd died:\n" + s.stderr()[-3000:])
        p, detail = self.run_client(self.flow_command(server.endpoint, access, secret, wrong),
                                    "flow" + (" (strict)" if wrong else ""))
        self.assertEqual(p.returncode, 0, detail)
        lines = p.stdout.splitlines()
        version = next((l for l in lines if l.startswith("version ")), "")
        m = re.search(self.version_pattern, version)
        self.assertTrue(m, "no version line matching %r\n%s" % (self.version_pattern, detail))
        self.assertEqual(m.group(1), self.expected_version,
                         "the client is not Debian's %s\n%s" % (self.package, detail))
        done = [l[3:] for l in lines if l.startswith("ok ")]
        self.assertEqual(done, STEPS + (["wrong_secret"] if wrong else []), detail)
        self.assertEqual(lines[-1], "PASS " + self.name, detail)
        self.assertIsNone(server.proc.poll(), "kmsd died:\n" + server.stderr()[-3000:])

    def test_flow(self):
        self.check_flow(self.open_server, "test", "test")

    def test_flow_strict(self):
        self.check_flow(self.strict_server, ALICE[0], ALICE[1], WRONG_SECRET)

    def assert_key_created(self, p, detail):
        """The snippet exited 0 and printed the ID of a key that now exists in the open server."""
        self.assertEqual(p.returncode, 0, detail)
        key_id = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
        self.assertRegex(key_id, r"^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$", detail)
        md = self.open_server.client().describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(md["Description"], "demo")

    def local(self, text):
        return text.replace("http://localhost:8080", self.open_server.endpoint)


class GoV1Test(ClientFlow, unittest.TestCase):
    name = "go-v1"
    package = "golang-github-aws-aws-sdk-go-dev"
    version_pattern = r"^version aws-sdk-go (\S+)$"

    @classmethod
    def prepare(cls):
        cls.bins = go_binaries()

    def flow_command(self, endpoint, access, secret, wrong=None):
        return [self.bins["flowv1"], endpoint, access, secret] + ([wrong] if wrong else [])

    def test_readme_snippet(self):
        self.assert_key_created(*self.run_client([self.bins["readmev1"]], "README snippet",
                                                 KMSD_ENDPOINT=self.open_server.endpoint))


class GoV2Test(ClientFlow, unittest.TestCase):
    name = "go-v2"
    package = "golang-github-aws-aws-sdk-go-v2-dev"
    version_pattern = r"^version aws-sdk-go-v2 (\S+)$"

    @classmethod
    def prepare(cls):
        cls.bins = go_binaries()

    def flow_command(self, endpoint, access, secret, wrong=None):
        return [self.bins["flowv2"], endpoint, access, secret] + ([wrong] if wrong else [])

    def test_readme_snippet(self):
        self.assert_key_created(*self.run_client([self.bins["readmev2"]], "README snippet",
                                                 KMSD_ENDPOINT=self.open_server.endpoint))


class RubyTest(ClientFlow, unittest.TestCase):
    name = "ruby"
    package = "ruby-aws-sdk-kms"
    version_pattern = r"^version aws-sdk-kms (\S+) "

    def flow_command(self, endpoint, access, secret, wrong=None):
        return [RUBY, os.path.join(CLIENTS, "ruby", "flow.rb"), endpoint, access, secret] + (
            [wrong] if wrong else [])

    def test_readme_snippet(self):
        snippet = readme_block("ruby", "Aws::KMS::Client.new")
        self.assert_key_created(*self.run_client([RUBY, "-e", self.local(snippet)],
                                                 "README snippet"))


class AwsCliV2Test(ClientFlow, unittest.TestCase):
    name = "cli"
    package = "awscli"
    version_pattern = r"^version aws-cli/(\S+) "

    def flow_command(self, endpoint, access, secret, wrong=None):
        return SYSTEM_PYTHON + [os.path.join(CLIENTS, "cli", "flow_cli.py"), AWS_V2, endpoint,
                                access, secret] + ([wrong] if wrong else [])

    # Each `aws` call costs about 1.3 s of CPU (CLI v2 2.9 start-up), so the CLI runs the flow
    # once, in strict mode (every step plus the wrong secret); open mode is what its README
    # snippet below runs in. The other clients run both (under a second each).
    test_flow = None

    def test_readme_snippet(self):
        # "Use it": aws --endpoint-url http://localhost:8080 kms create-key --description demo
        line = next(l for b in readme_blocks("sh") for l in b.splitlines() if l.startswith("aws "))
        argv = [AWS_V2] + self.local(line).split()[1:]
        p, detail = self.run_client(argv, "README snippet", AWS_ACCESS_KEY_ID="test",
                                    AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        self.assertEqual(p.returncode, 0, detail)
        key_id = json.loads(p.stdout)["KeyMetadata"]["KeyId"]
        md = self.open_server.client().describe_key(KeyId=key_id)["KeyMetadata"]
        self.assertEqual(md["Description"], "demo")


class Boto3DebianTest(ClientFlow, unittest.TestCase):
    name = "boto3"
    package = "python3-boto3"
    version_pattern = r"^version boto3 (\S+) "

    def flow_command(self, endpoint, access, secret, wrong=None):
        return SYSTEM_PYTHON + [os.path.join(CLIENTS, "python", "flow_boto3.py"), endpoint,
                                access, secret] + ([wrong] if wrong else [])

    def test_readme_snippet(self):
        # "Use it" (it asserts the envelope round trip itself), then the key it made.
        snippet = next(b for b in readme_blocks("python") if "generate_data_key" in b)
        code = ("import boto3\nassert boto3.__version__ == %r, boto3.__version__\n%s\nprint(key)\n"
                % (self.expected_version, self.local(snippet)))
        self.assert_key_created(*self.run_client(SYSTEM_PYTHON + ["-c", code], "README snippet"))


if __name__ == "__main__":
    unittest.main()
