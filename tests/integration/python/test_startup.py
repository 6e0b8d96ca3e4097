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

    def assertRefused(self, args, mention, env=None):
        rc, out = run_kmsd(args, env=env, data_dir=self.data)
        self.assertNotEqual(rc, 0, "kmsd accepted %r %r:\n%s" % (args, env, out))
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


if __name__ == "__main__":
    unittest.main()


class HealthCheckTest(unittest.TestCase):
    """`kmsd healthcheck` (the image's HEALTHCHECK): 0 when a kmsd answers on the port, 1 when
    nothing listens or something else answers."""

    def test_running_server_is_healthy(self):
        server = KmsdServer()
        server.start()
        self.addCleanup(server.stop)
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
