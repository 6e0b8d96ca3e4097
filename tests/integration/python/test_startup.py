"""Startup: invalid options fail at once with a message, and the data directory is handled
without following planted symlinks or changing a directory kmsd did not create (issue 10)."""

import base64
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest

from harness import KmsdServer, free_port, kmsd_bin

TIMEOUT = 10


def run_kmsd(args, env=None, data_dir=None):
    """Runs kmsd to completion (it must exit by itself); returns (rc, stderr+stdout)."""
    full_env = dict(os.environ)
    full_env.pop("KMSD_MASTER_KEY", None)
    full_env.update(env or {})
    cmd = [kmsd_bin()]
    if data_dir is not None:
        cmd += ["--data-dir", data_dir]
    proc = subprocess.run(cmd + list(args), env=full_env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    return proc.returncode, (proc.stderr + proc.stdout).decode("utf-8", "replace")


class BadOptionsTest(unittest.TestCase):
    """Each bad value: non-zero exit, a message naming the option, nothing created on disk."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-opts-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")

    def assertRefused(self, args, mention, env=None, code=None):
        rc, out = run_kmsd(args, env=env, data_dir=self.data)
        self.assertNotEqual(rc, 0, "kmsd accepted %r %r:\n%s" % (args, env, out))
        if code is not None:
            self.assertEqual(rc, code, (args, env, out))
        self.assertIn(mention, out, (args, env))
        self.assertFalse(os.path.exists(self.data), "data dir created before options checked")

    def test_port(self):
        for bad in ["0", "70000", "-1", "abc", "80.5", ""]:
            with self.subTest(port=bad):
                self.assertRefused(["--port", bad], "--port")

    def test_port_from_environment(self):
        # CLI11 names the option the variable stands for.
        self.assertRefused([], "--port: Value 70000 not in range 1 to 65535",
                           env={"PORT": "70000"})

    def test_log_level(self):
        for bad in ["verbose", "INFO ", "5", ""]:
            with self.subTest(level=bad):
                self.assertRefused(["--log-level", bad], "--log-level")
        self.assertRefused([], "--log-level: loud not in", env={"KMSD_LOG_LEVEL": "loud"})

    def test_numbers(self):
        cases = [("--threads", "-1"), ("--threads", "100000"), ("--threads", "two"),
                 ("--max-connections", "0"), ("--max-connections", "-5"),
                 ("--max-connections", "1e9"), ("--request-timeout", "0"),
                 ("--request-timeout", "-3"), ("--request-timeout", "forever")]
        for opt, bad in cases:
            with self.subTest(option=opt, value=bad):
                self.assertRefused([opt, bad], opt)

    def test_words(self):
        cases = [("--auth", "strictest"), ("--auth", ""), ("--region", "US-EAST-1"),
                 ("--region", "us_east_1"), ("--region", "useast"), ("--region", ""),
                 ("--region", "us-east-1/x"), ("--account-id", "1234"),
                 ("--bind", "localhost:80"), ("--bind", "999.1.1.1"), ("--bind", ""),
                 ("--data-dir", "")]
        for opt, bad in cases:
            with self.subTest(option=opt, value=bad):
                self.assertRefused([opt, bad], opt)

    def test_xks_endpoint_map(self):
        # Checked with the other options, as the README says: a bad value exits with 105 (a
        # usage error) before the data directory is made, not with 1 once the server starts.
        cases = ["xks.example.com", "=127.0.0.1:443", "xks.example.com=127.0.0.1",
                 "xks.example.com=:443", "xks.example.com=127.0.0.1:0",
                 "xks.example.com=127.0.0.1:99999", "xks.example.com=127.0.0.1:4x3"]
        for bad in cases:
            with self.subTest(mapping=bad):
                self.assertRefused(["--xks-endpoint-map", bad], "--xks-endpoint-map", code=105)
        self.assertRefused([], "--xks-endpoint-map", code=105,
                           env={"KMSD_XKS_ENDPOINT_MAP": "a.example=127.0.0.1:1,b.example"})

    def test_unknown_option(self):
        self.assertRefused(["--prot", "8080"], "--prot")

    def test_valid_edges_start(self):
        srv = KmsdServer(extra_args=["--threads", "1", "--max-connections", "1",
                                     "--request-timeout", "1", "--log-level", "off",
                                     "--region", "us-gov-west-1", "--bind", "127.0.0.1"])
        self.addCleanup(srv.cleanup)
        srv.start()
        # With one connection allowed, the health probe that start() made may still count until
        # the server has seen it close: a new connection is refused until then (by design).
        deadline = time.monotonic() + 5
        while True:
            try:
                self.assertEqual(srv.health()[0], 200)
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def test_help_exits_zero(self):
        rc, out = run_kmsd(["--help"])
        self.assertEqual(rc, 0)
        self.assertIn("--port", out)


class DataDirTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-dir-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def server(self, data_dir):
        srv = KmsdServer(data_dir=data_dir)
        self.addCleanup(srv.cleanup)
        return srv

    def mode(self, path):
        return stat.S_IMODE(os.lstat(path).st_mode)

    def test_new_directory_is_private(self):
        data = os.path.join(self.tmp, "a", "b", "data")
        srv = KmsdServer()
        self.addCleanup(srv.cleanup)
        srv.data_dir = data  # the harness made its own; this one does not exist yet
        srv.start()
        srv.client().create_key()
        self.assertEqual(self.mode(data), 0o700)
        for name in ("kmsd.db", "master.key"):
            self.assertEqual(self.mode(os.path.join(data, name)), 0o600, name)

    def test_existing_directory_keeps_its_mode(self):
        data = os.path.join(self.tmp, "shared")
        os.mkdir(data)
        os.chmod(data, 0o755)
        srv = self.server(data)
        srv.start()
        srv.client().create_key()
        srv.stop()
        self.assertEqual(self.mode(data), 0o755)
        self.assertIn("leaves the directory's mode alone", srv.stderr())
        # The files kmsd created are private even in an open directory.
        for name in os.listdir(data):
            self.assertEqual(self.mode(os.path.join(data, name)) & 0o077, 0, name)

    def test_symlink_at_temp_path_is_not_followed(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data, 0o700)
        victim = os.path.join(self.tmp, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        os.symlink(victim, os.path.join(data, "master.key.tmp"))
        srv = self.server(data)
        srv.start()
        srv.client().create_key()
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        key = os.path.join(data, "master.key")
        self.assertTrue(stat.S_ISREG(os.lstat(key).st_mode))
        self.assertEqual(self.mode(key), 0o600)
        self.assertFalse(os.path.lexists(os.path.join(data, "master.key.tmp")))
        with open(key) as f:
            self.assertEqual(len(base64.b64decode(f.read().strip())), 32)

    def test_dangling_symlink_at_master_key_is_refused(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data, 0o700)
        target = os.path.join(self.tmp, "elsewhere", "master.key")
        os.symlink(target, os.path.join(data, "master.key"))
        rc, out = run_kmsd(["--port", str(free_port())], data_dir=data)
        self.assertNotEqual(rc, 0)
        self.assertIn("symbolic link to a file that does not exist", out)
        self.assertFalse(os.path.lexists(target))
        self.assertTrue(os.path.islink(os.path.join(data, "master.key")))

    def test_symlinked_master_key_is_read(self):
        # Kubernetes mounts secrets through symlinks: reading through one keeps working.
        data = os.path.join(self.tmp, "data")
        os.mkdir(data, 0o700)
        secret = os.path.join(self.tmp, "secret")
        with open(secret, "w") as f:
            f.write(base64.b64encode(b"\x07" * 32).decode() + "\n")
        os.symlink(secret, os.path.join(data, "master.key"))
        srv = self.server(data)
        srv.start()
        kms = srv.client()
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        srv.restart()
        self.assertEqual(srv.client().decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        self.assertTrue(os.path.islink(os.path.join(data, "master.key")))

    def test_symlink_at_database_path_is_not_followed(self):
        data = os.path.join(self.tmp, "data")
        os.mkdir(data, 0o700)
        target = os.path.join(self.tmp, "planted.db")
        os.symlink(target, os.path.join(data, "kmsd.db"))
        rc, out = run_kmsd(["--port", str(free_port())], data_dir=data)
        self.assertNotEqual(rc, 0)
        self.assertIn("symbolic link to a file that does not exist", out)
        self.assertFalse(os.path.exists(target))



class HealthCheckTest(unittest.TestCase):
    """`kmsd healthcheck` (the image's HEALTHCHECK): 0 when a kmsd answers on the port, 1 when
    nothing listens or something else answers."""

    def test_running_server_is_healthy(self):
        server = KmsdServer()
        self.addCleanup(server.cleanup)
        server.start()
        rc, out = run_kmsd(["healthcheck", "--port", str(server.port)])
        self.assertEqual(rc, 0, out)

    def test_nothing_listening_is_unhealthy(self):
        rc, out = run_kmsd(["healthcheck", "--port", str(free_port())])
        self.assertEqual(rc, 1, out)

    def test_other_reply_is_unhealthy(self):
        import socket
        import threading
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        self.addCleanup(listener.close)

        def answer():
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        rc, out = run_kmsd(["healthcheck", "--port", str(listener.getsockname()[1])])
        t.join(5)
        self.assertEqual(rc, 1, out)


class MasterKeyFileTest(unittest.TestCase):
    """--master-key-file: 32 raw bytes or their base64 (surrounding whitespace ignored), read on
    every start; anything else, or a key that does not open the data directory, refuses to start
    with exit status 1 and "kmsd: cannot start: <why>" (src/app.cpp, src/main.cpp)."""

    WRONG_SIZE = ("kmsd: cannot start: --master-key-file %s must hold a 32-byte master key "
                  "(raw, or base64 of 32 bytes)")
    CANNOT_READ = "kmsd: cannot start: cannot read master key file %s"
    WRONG_KEY = ("kmsd: cannot start: the master key does not match this database (wrong "
                 "--master-key-file, KMSD_MASTER_KEY or master.key); refusing to start")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-mkf-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.data = os.path.join(self.tmp, "data")

    def key_file(self, content, name="key.in"):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(content)
        os.chmod(path, 0o600)
        return path

    def server(self, path, env=None):
        srv = KmsdServer(data_dir=self.data, extra_args=["--master-key-file", path], env=env)
        self.addCleanup(srv.cleanup)
        return srv

    def refused(self, path, env=None):
        """kmsd with this --master-key-file exits by itself with status 1; returns its output."""
        rc, out = run_kmsd(["--port", str(free_port()), "--master-key-file", path], env=env,
                           data_dir=self.data)
        self.assertEqual(rc, 1, out)
        return out

    def encrypt_then_decrypt_after_restart(self, path, plaintext):
        """Starts with the key file, encrypts, restarts with the same file and decrypts."""
        srv = self.server(path)
        srv.start()
        kms = srv.client()
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=kid, Plaintext=plaintext)["CiphertextBlob"]
        srv.restart()
        self.assertEqual(srv.client().decrypt(CiphertextBlob=blob)["Plaintext"], plaintext)
        self.assertEqual(srv.stop(), 0, srv.stderr()[-2000:])
        # The file is the key: nothing is generated into the data directory.
        self.assertFalse(os.path.exists(os.path.join(self.data, "master.key")))
        return blob

    def test_raw_32_bytes(self):
        # Leading and trailing bytes that base64 parsing would trim as whitespace: 32 bytes are
        # taken as they are.
        raw = b"\n\t" + os.urandom(28) + b" \n"
        self.assertEqual(len(raw), 32)
        blob = self.encrypt_then_decrypt_after_restart(self.key_file(raw), b"raw key")
        # The same 32 bytes written as base64 open the same data directory: the raw file was
        # used as the key itself.
        srv = self.server(self.key_file(base64.b64encode(raw), "key.b64"))
        srv.start()
        self.assertEqual(srv.client().decrypt(CiphertextBlob=blob)["Plaintext"], b"raw key")

    def test_base64_with_trailing_newline(self):
        raw = os.urandom(32)
        path = self.key_file(base64.b64encode(raw) + b"\n")
        blob = self.encrypt_then_decrypt_after_restart(path, b"base64 key")
        # Same key given raw, and as base64 with other surrounding whitespace.
        for content, name in ((raw, "key.raw"),
                              (b"  " + base64.b64encode(raw) + b"\r\n\n", "key.ws")):
            with self.subTest(name=name):
                srv = self.server(self.key_file(content, name))
                srv.start()
                self.assertEqual(srv.client().decrypt(CiphertextBlob=blob)["Plaintext"],
                                 b"base64 key")
                srv.stop()

    def test_wrong_size_is_refused(self):
        cases = {
            "empty": b"",
            "raw 31 bytes": os.urandom(31),
            "raw 33 bytes": os.urandom(33),
            "base64 of 31 bytes": base64.b64encode(os.urandom(31)) + b"\n",
            "base64 of 33 bytes": base64.b64encode(os.urandom(33)) + b"\n",
            "base64 of 16 bytes": base64.b64encode(os.urandom(16)),
            "hex of 32 bytes": os.urandom(32).hex().encode() + b"\n",
            "not base64": b"this is not a master key at all!!\n",
        }
        for name, content in cases.items():
            with self.subTest(name):
                path = self.key_file(content, name.replace(" ", "_"))
                out = self.refused(path)
                self.assertIn(self.WRONG_SIZE % path, out)
                # The key is read first: nothing is made on disk, no kmsd.db either.
                self.assertFalse(os.path.exists(self.data), os.listdir(self.tmp))

    def test_missing_file_is_refused(self):
        path = os.path.join(self.tmp, "no-such-dir", "master.key")
        self.assertIn(self.CANNOT_READ % path, self.refused(path))
        self.assertFalse(os.path.exists(path))
        self.assertFalse(os.path.exists(self.data))

    def test_unreadable_file_is_refused(self):
        path = self.key_file(base64.b64encode(os.urandom(32)))
        os.chmod(path, 0)
        if os.geteuid() == 0 or os.access(path, os.R_OK):
            # Root reads a mode-000 file; test_missing_file_is_refused and
            # test_directory_is_refused cover files kmsd cannot read.
            self.skipTest("running as root: chmod 000 does not stop reading")
        self.assertIn(self.CANNOT_READ % path, self.refused(path))

    def test_directory_is_refused(self):
        # A directory opens but cannot be read (EISDIR), even for root.
        path = os.path.join(self.tmp, "keydir")
        os.mkdir(path)
        out = self.refused(path)
        self.assertIn("kmsd: cannot start: ", out)
        self.assertIn(path, out)

    def test_directory_is_reported_as_unreadable(self):
        # A directory opens but does not read (EISDIR): a read error, not a short file.
        path = os.path.join(self.tmp, "keydir")
        os.mkdir(path)
        self.assertIn(self.CANNOT_READ % path, self.refused(path))

    def test_wrong_key_for_an_existing_data_dir(self):
        right = self.key_file(base64.b64encode(os.urandom(32)) + b"\n", "right.key")
        blob = self.encrypt_then_decrypt_after_restart(right, b"sealed under the right key")
        for content, name in ((base64.b64encode(os.urandom(32)) + b"\n", "wrong.b64"),
                              (os.urandom(32), "wrong.raw")):
            with self.subTest(name):
                out = self.refused(self.key_file(content, name))
                self.assertIn(self.WRONG_KEY, out)
        # Nothing was damaged: the right key still opens everything.
        srv = self.server(right)
        srv.start()
        self.assertEqual(srv.client().decrypt(CiphertextBlob=blob)["Plaintext"],
                         b"sealed under the right key")

    def test_file_wins_over_environment_and_generated_key(self):
        # First start without any key: kmsd generates <data>/master.key.
        srv = KmsdServer(data_dir=self.data)
        self.addCleanup(srv.cleanup)
        srv.start()
        kms = srv.client()
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=kid, Plaintext=b"generated")["CiphertextBlob"]
        srv.stop()
        with open(os.path.join(self.data, "master.key"), "rb") as f:
            generated = f.read()
        wrong = base64.b64encode(os.urandom(32)).decode()
        # The file is read before KMSD_MASTER_KEY: a wrong variable does not matter...
        srv = self.server(self.key_file(generated, "copy.key"), env={"KMSD_MASTER_KEY": wrong})
        srv.start()
        self.assertEqual(srv.client().decrypt(CiphertextBlob=blob)["Plaintext"], b"generated")
        srv.stop()
        # ...and a wrong file is not saved by the right <data>/master.key.
        out = self.refused(self.key_file(wrong.encode(), "wrong.key"))
        self.assertIn(self.WRONG_KEY, out)


if __name__ == "__main__":
    unittest.main()
