"""Start the real kmsd binary for integration tests and talk to it.

Usage from a test module:

    from harness import KmsdServer, KmsdTestCase

    class MyTest(KmsdTestCase):          # one server per class, reset before each test
        def test_x(self):
            key = self.kms.create_key()

Environment:
    KMSD_BIN          path of the server binary (default: <repo>/build/kmsd)
    KMSD_EXTRA_ARGS   extra command-line arguments appended to every start (shell-split)
    KMSD_KEEP_LOGS    if set, the temp dirs (data + logs) are not removed

Only the standard library, boto3/botocore and the server binary are used.
"""

import atexit
import base64
import http.client
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_BIN = os.path.join(REPO_ROOT, "build", "kmsd")

ACCOUNT = "111122223333"
REGION = "us-east-1"
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "x"
READY_TIMEOUT = 10.0

# Every server started by this module, so that a crashed test run still cleans up.
_LIVE = []


def _cleanup_all():
    for srv in list(_LIVE):
        try:
            srv.stop()
        except Exception:  # pragma: no cover - best effort at exit
            pass


atexit.register(_cleanup_all)


def kmsd_bin():
    return os.environ.get("KMSD_BIN", DEFAULT_BIN)


_sanitizer_cache = {}


def kmsd_sanitizer(path=None):
    """"address" or "thread" when the binary is a sanitizer build, else None (memory and time
    bounds that hold for the Release binary are meaningless under a sanitizer's allocator)."""
    path = path or kmsd_bin()
    if path not in _sanitizer_cache:
        found = None
        try:
            with open(path, "rb") as f:
                data = f.read()
            for mark, name in ((b"__asan_init", "address"), (b"__tsan_init", "thread")):
                if mark in data:
                    found = name
        except OSError:
            pass
        _sanitizer_cache[path] = found
    return _sanitizer_cache[path]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_arn(key_id, region=REGION, account=ACCOUNT):
    return "arn:aws:kms:%s:%s:key/%s" % (region, account, key_id)


def alias_arn(alias_name, region=REGION, account=ACCOUNT):
    # alias_name includes the "alias/" prefix; it appears once in the ARN.
    return "arn:aws:kms:%s:%s:%s" % (region, account, alias_name)


class ServerStartError(RuntimeError):
    pass


class KmsdServer:
    """One kmsd process on a free port with its own data dir.

    The data dir survives stop()/kill9() so that restart() reuses it; cleanup()
    removes it.
    """

    def __init__(self, extra_args=None, env=None, data_dir=None):
        self.bin = kmsd_bin()
        self.extra_args = list(extra_args or [])
        env_extra = os.environ.get("KMSD_EXTRA_ARGS")
        if env_extra:
            self.extra_args += shlex.split(env_extra)
        self.env = dict(env or {})
        self.tmp = tempfile.mkdtemp(prefix="kmsd-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = None
        self.proc = None
        self._log_n = 0
        self.stdout_path = None
        self.stderr_path = None

    # ---- process control -------------------------------------------------

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def command(self, port=None, extra_args=None):
        args = [self.bin, "--port", str(port or self.port), "--data-dir", self.data_dir]
        args += self.extra_args
        args += list(extra_args or [])
        return args

    def spawn(self, extra_args=None, env=None, port=None):
        """Start the process without waiting for health. Returns the Popen."""
        if not os.path.exists(self.bin):
            raise ServerStartError(
                "kmsd binary not found at %r (set KMSD_BIN)" % self.bin)
        self.port = port or free_port()
        self._log_n += 1
        self.stdout_path = os.path.join(self.tmp, "stdout.%d.log" % self._log_n)
        self.stderr_path = os.path.join(self.tmp, "stderr.%d.log" % self._log_n)
        full_env = dict(os.environ)
        full_env.update(self.env)
        full_env.update(env or {})
        # Avoid the server picking up a developer's KMSD_MASTER_KEY by accident.
        if "KMSD_MASTER_KEY" not in self.env and "KMSD_MASTER_KEY" not in (env or {}):
            full_env.pop("KMSD_MASTER_KEY", None)
        out = open(self.stdout_path, "wb")
        err = open(self.stderr_path, "wb")
        try:
            self.proc = subprocess.Popen(
                self.command(extra_args=extra_args),
                stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                env=full_env, start_new_session=True)
        finally:
            out.close()
            err.close()
        if self not in _LIVE:
            _LIVE.append(self)
        return self.proc

    def start(self, extra_args=None, env=None, timeout=READY_TIMEOUT):
        """Start and wait until GET /_kmsd/health answers 200 {"status":"ok"}."""
        last_err = None
        for _attempt in range(3):  # retry on the rare port race
            self.spawn(extra_args=extra_args, env=env)
            try:
                self.wait_ready(timeout)
                return self
            except ServerStartError as e:
                last_err = e
                if self.proc.poll() is None:
                    self._terminate()
                if "address" not in self.stderr().lower():
                    break
        raise last_err

    def wait_ready(self, timeout=READY_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise ServerStartError(
                    "kmsd exited with %s during startup.\nstdout:\n%s\nstderr:\n%s"
                    % (rc, self.stdout()[-3000:], self.stderr()[-3000:]))
            try:
                with urllib.request.urlopen(self.endpoint + "/_kmsd/health", timeout=1) as r:
                    body = r.read()
                    if r.status == 200 and json.loads(body) == {"status": "ok"}:
                        return
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass
            time.sleep(0.02)
        raise ServerStartError("kmsd not healthy after %.1fs.\nstderr:\n%s"
                               % (timeout, self.stderr()[-3000:]))

    def _terminate(self, timeout=5.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        try:
            self.proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def stop(self, timeout=5.0):
        """SIGTERM, then SIGKILL after `timeout`. Returns the exit code."""
        rc = self._terminate(timeout)
        if self in _LIVE:
            _LIVE.remove(self)
        return rc

    def kill9(self):
        """SIGKILL: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        if self in _LIVE:
            _LIVE.remove(self)
        return self.proc.returncode if self.proc else None

    def restart(self, extra_args=None, env=None, kill=False):
        """Stop (SIGTERM, or SIGKILL with kill=True) and start on the same data dir."""
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start(extra_args=extra_args, env=env)

    def cleanup(self):
        self.stop()
        # Sanitizer builds report at exit (leaks) or keep running after a UBSan finding: either
        # way the report lands in stderr, and a report anywhere fails the test class.
        report = _sanitizer_report(self.stderr())
        if not os.environ.get("KMSD_KEEP_LOGS"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        if report:
            raise AssertionError("sanitizer report from kmsd:\n" + report)

    def stdout(self):
        return _read(self.stdout_path)

    def stderr(self):
        return _read(self.stderr_path)

    # ---- admin endpoints -------------------------------------------------

    def admin(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data else {}
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def reset(self, path="/_kmsd/reset"):
        status, body = self.admin("POST", path)
        if status != 200:
            raise AssertionError("reset %s -> %s %r" % (path, status, body))

    def health(self):
        return self.admin("GET", "/_kmsd/health")

    # ---- clients ---------------------------------------------------------

    def client(self, region=REGION, validate=True, access_key=ACCESS_KEY, secret_key=SECRET_KEY):
        """A boto3 KMS client. validate=False turns off botocore's client-side
        parameter validation so that invalid input reaches the server."""
        cfg = Config(retries={"mode": "standard", "total_max_attempts": 1},
                     parameter_validation=validate,
                     connect_timeout=10, read_timeout=30)
        return boto3.session.Session().client(
            "kms", endpoint_url=self.endpoint, region_name=region,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=cfg)

    # ---- raw signed requests (no SDK) ------------------------------------

    def signed_headers(self, target, body, region=REGION,
                       content_type="application/x-amz-json-1.1", extra=None):
        """SigV4 headers for a KMS request, computed with botocore's signer."""
        headers = {"Host": "127.0.0.1:%d" % self.port}
        if content_type is not None:
            headers["Content-Type"] = content_type
        if target is not None:
            headers["X-Amz-Target"] = target
        headers.update(extra or {})
        req = botocore.awsrequest.AWSRequest(
            method="POST", url=self.endpoint + "/", data=body, headers=headers)
        creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
        botocore.auth.SigV4Auth(creds, "kms", region).add_auth(req)
        return dict(req.headers.items())

    def raw(self, target, body, content_type="application/x-amz-json-1.1",
            region=REGION, conn=None, sign=True, extra_headers=None):
        """POST / with the given X-Amz-Target (None = header absent) and body
        (bytes/str, or a dict that is JSON-encoded). Returns
        (status, headers-dict-lowercase, body-bytes)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        if sign:
            headers = self.signed_headers(target, body, region, content_type, extra_headers)
        else:
            headers = {}
            if content_type is not None:
                headers["Content-Type"] = content_type
            if target is not None:
                headers["X-Amz-Target"] = target
            headers.update(extra_headers or {})
        own = conn is None
        if own:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("POST", "/", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            if own:
                conn.close()

    def call(self, op, body, **kw):
        """raw() for TrentService.<op>; returns (status, headers, parsed-json-or-None)."""
        status, headers, data = self.raw("TrentService." + op, body, **kw)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = None
        return status, headers, parsed


def _read(path):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                   "runtime error:", "ERROR: ThreadSanitizer")


def _sanitizer_report(text):
    for mark in SANITIZER_MARKS:
        at = text.find(mark)
        if at >= 0:
            return text[max(0, at - 200):at + 4000]
    return ""


def b64(data):
    return base64.b64encode(data).decode()


class KmsdTestCase(unittest.TestCase):
    """One kmsd per TestCase class; POST /_kmsd/reset before every test."""

    server_args = []
    server_env = {}
    reset_between_tests = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = KmsdServer(extra_args=cls.server_args, env=cls.server_env)
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            raise
        cls.kms = cls.server.client()
        cls.kms_nv = cls.server.client(validate=False)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        if self.server.proc.poll() is not None:
            self.fail("kmsd died (rc=%s); stderr:\n%s"
                      % (self.server.proc.returncode, self.server.stderr()[-3000:]))
        if self.reset_between_tests:
            self.server.reset()

    # ---- helpers ---------------------------------------------------------

    def create_key(self, **kw):
        return self.kms.create_key(**kw)["KeyMetadata"]

    def assertKmsError(self, fn, code, message=None, status=400, **kwargs):
        """Call fn(**kwargs); assert a ClientError with this __type, exact
        message (when given; '' means no message member) and HTTP status."""
        with self.assertRaises(ClientError) as cm:
            fn(**kwargs)
        resp = cm.exception.response
        err = resp.get("Error", {})
        detail = "full error: %r" % (err,)
        self.assertEqual(err.get("Code"), code, detail)
        if message is not None:
            self.assertEqual(err.get("Message"), message, detail)
        if status is not None:
            self.assertEqual(resp["ResponseMetadata"]["HTTPStatusCode"], status, detail)
        return cm.exception
