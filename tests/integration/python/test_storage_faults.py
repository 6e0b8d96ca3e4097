"""Storage faults: disk full, a read-only data directory, a corrupted database file and a database
from a newer kmsd (issue 10). Requests fail with KMSInternalException (HTTP 500) or kmsd exits at
startup with a clear message; never a crash, never a half change.

The disk-full and read-only tests mount a small tmpfs (they need root, as in CI); where mounting is
not allowed they are skipped with the reason.

Environment:
    KMSD_CORRUPT_VARIANTS  randomly corrupted copies of a database to start on (default 6)
"""

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from botocore.exceptions import ClientError

from harness import KmsdServer, free_port, kmsd_bin

CORRUPT_VARIANTS = int(os.environ.get("KMSD_CORRUPT_VARIANTS", "6"))
TIMEOUT = 15


def run_kmsd(data_dir, extra=()):
    """Runs kmsd expecting it to exit by itself; returns (rc, output)."""
    env = dict(os.environ)
    env.pop("KMSD_MASTER_KEY", None)
    proc = subprocess.run([kmsd_bin(), "--port", str(free_port()), "--data-dir", data_dir]
                          + list(extra), env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    return proc.returncode, (proc.stderr + proc.stdout).decode("utf-8", "replace")


class Tmpfs:
    """A small tmpfs mounted on a fresh directory, or unittest.SkipTest."""

    def __init__(self, size):
        self.path = tempfile.mkdtemp(prefix="kmsd-tmpfs-")
        try:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs",
                            self.path], check=True, capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as e:
            os.rmdir(self.path)
            detail = getattr(e, "stderr", b"") or b""
            raise unittest.SkipTest("cannot mount a tmpfs (needs root/CAP_SYS_ADMIN): %s %s"
                                    % (e, detail.decode(errors="replace").strip()))

    def remount(self, opts):
        subprocess.run(["mount", "-o", "remount,%s" % opts, self.path], check=True,
                       capture_output=True, timeout=10)

    def fill(self):
        """Writes a filler file until the file system is full; returns its path."""
        filler = os.path.join(self.path, "filler")
        chunk = b"\0" * 4096
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError:
                pass
            try:
                while True:
                    f.write(b"\0")
            except OSError:
                pass
        return filler

    def unmount(self):
        subprocess.run(["umount", "-l", self.path], capture_output=True, timeout=10)
        os.rmdir(self.path)


def sha256_of(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def error_of(fn, **kw):
    """(code, http status) of a failed call, or None when it succeeded."""
    try:
        fn(**kw)
        return None
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]


class DiskFullTest(unittest.TestCase):

    def setUp(self):
        self.fs = Tmpfs("4m")
        self.addCleanup(self.fs.unmount)
        self.data = os.path.join(self.fs.path, "data")

    def test_requests_fail_cleanly_and_recover(self):
        srv = KmsdServer(data_dir=self.data)
        self.addCleanup(srv.cleanup)
        srv.start()
        kms = srv.client()
        acked = {}
        for i in range(5):
            kid = kms.create_key(Description="before %d" % i)["KeyMetadata"]["KeyId"]
            acked[kid] = kms.encrypt(KeyId=kid, Plaintext=b"p%d" % i)["CiphertextBlob"]
        filler = self.fs.fill()

        # Mutations until the disk-full failures show (SQLite may first reuse free pages).
        failures = []
        alias_failed = None
        aliases_made = set()  # acknowledged on the full disk: they must stay
        for i in range(200):
            desc = "full %d " % i + "x" * 4000
            try:
                out = kms.create_key(Description=desc, Tags=[
                    {"TagKey": "k%d" % j, "TagValue": "v" * 200} for j in range(20)])
                # Acknowledged: it must be there (now and after the restart below).
                acked[out["KeyMetadata"]["KeyId"]] = None
                continue
            except ClientError as e:
                err = (e.response["Error"]["Code"],
                       e.response["ResponseMetadata"]["HTTPStatusCode"])
            failures.append(err)
            name = "alias/full-%d" % i
            aerr = error_of(kms.create_alias, AliasName=name,
                            TargetKeyId=next(iter(acked)))
            if aerr is None:
                aliases_made.add(name)
            else:
                self.assertEqual(aerr, ("KMSInternalException", 500), name)
                alias_failed = name
            if len(failures) >= 3 and alias_failed:
                break
        self.assertTrue(failures, "the disk never filled up")
        self.assertIsNotNone(alias_failed, "no CreateAlias failed on the full disk")
        for err in failures:
            self.assertEqual(err, ("KMSInternalException", 500))
        # No half change: exactly the acknowledged keys and aliases, none from a failed request.
        listed = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
        self.assertEqual(listed, set(acked))
        aliases = {a["AliasName"] for a in kms.list_aliases(Limit=100)["Aliases"]
                   if a["AliasName"].startswith("alias/full-")}
        self.assertEqual(aliases, aliases_made)
        # Reads and cryptography keep working; the process is alive.
        self.assertIsNone(srv.proc.poll())
        for kid, blob in acked.items():
            if blob:
                self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"][:1], b"p")
        self.assertIn("SQLite", srv.stderr())  # the cause is logged, not sent to the client

        # Every other kind of mutation on a full disk: applied whole, or a 500 and no change.
        kid = next(iter(acked))
        views = self.mutations_on_full_disk(kms, kid)

        # Space again: writes work at once, without a restart.
        os.unlink(filler)
        kid = kms.create_key(Description="after")["KeyMetadata"]["KeyId"]
        acked[kid] = None
        kms.create_alias(AliasName="alias/after", TargetKeyId=kid)

        srv.restart(kill=True)
        kms = srv.client()
        listed = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
        self.assertEqual(listed, set(acked))
        self.assertEqual(kms.describe_key(KeyId="alias/after")["KeyMetadata"]["KeyId"], kid)
        self.assertEqual({a["AliasName"] for a in kms.list_aliases(Limit=100)["Aliases"]
                          if a["AliasName"].startswith("alias/full-")}, aliases_made)
        for kid, blob in acked.items():
            if blob:
                self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"][:1], b"p")
        for name, (view, before, after) in views.items():
            self.assertEqual(view(kms), after, name)
        self.assertEqual(srv.stop(), 0)
        db = sqlite3.connect(os.path.join(self.data, "kmsd.db"))
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
        finally:
            db.close()

    def mutations_on_full_disk(self, kms, kid):
        """Runs each mutation once on the full disk. Returns name -> (view, before, after): what
        view(kms) must show from now on (after a 500: `before`, unchanged)."""
        policy = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
                  '"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}')
        cases = {
            "tag": (lambda c: c.list_resource_tags(KeyId=kid)["Tags"],
                    lambda c: c.tag_resource(KeyId=kid, Tags=[{"TagKey": "full",
                                                               "TagValue": "x" * 250}])),
            "grant": (lambda c: len(c.list_grants(KeyId=kid)["Grants"]),
                      lambda c: c.create_grant(KeyId=kid, Operations=["Decrypt"],
                                               GranteePrincipal="arn:aws:iam::111122223333:root")),
            "rotate": (lambda c: len(c.list_key_rotations(KeyId=kid)["Rotations"]),
                       lambda c: c.rotate_key_on_demand(KeyId=kid)),
            "policy": (lambda c: c.get_key_policy(KeyId=kid)["Policy"],
                       lambda c: c.put_key_policy(KeyId=kid, PolicyName="default",
                                                  Policy=policy)),
            "description": (lambda c: c.describe_key(KeyId=kid)["KeyMetadata"]["Description"],
                            lambda c: c.update_key_description(KeyId=kid,
                                                               Description="y" * 8000)),
        }
        out = {}
        outcomes = []
        for name, (view, mutate) in cases.items():
            before = view(kms)
            err = error_of(lambda: mutate(kms))
            after = view(kms)
            if err is None:
                self.assertNotEqual(after, before, name)
            else:
                self.assertEqual(err, ("KMSInternalException", 500), name)
                self.assertEqual(after, before, name)
            out[name] = (view, before, after)
            outcomes.append("%s: %s" % (name, "applied" if err is None else err[0]))
        print("\non a full disk: %s" % ", ".join(outcomes))
        return out

    def test_full_disk_at_first_start(self):
        self.fs.fill()
        rc, out = run_kmsd(self.data)
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot start", out)
        # Never a partial master key: either none, or a whole one.
        key = os.path.join(self.data, "master.key")
        if os.path.exists(key):
            with open(key) as f:
                self.assertEqual(len(f.read().strip()), 44)


class ReadOnlyTest(unittest.TestCase):

    def setUp(self):
        self.fs = Tmpfs("8m")
        self.addCleanup(self.fs.unmount)
        self.data = os.path.join(self.fs.path, "data")

    def test_read_only_data_dir_refuses_to_start(self):
        srv = KmsdServer(data_dir=self.data)
        self.addCleanup(srv.cleanup)
        srv.start()
        srv.client().create_key()
        self.assertEqual(srv.stop(), 0)
        before = sorted(os.listdir(self.data))
        self.fs.remount("ro")
        self.addCleanup(self.fs.remount, "rw")
        rc, out = run_kmsd(self.data)
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot start", out)
        self.assertIn("read-only", out)
        self.assertEqual(sorted(os.listdir(self.data)), before)

    def test_read_only_fresh_data_dir(self):
        os.mkdir(self.data, 0o700)
        self.fs.remount("ro")
        self.addCleanup(self.fs.remount, "rw")
        rc, out = run_kmsd(self.data)
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot", out)
        self.assertIn("Read-only file system", out)


class DatabaseFileTest(unittest.TestCase):
    """A stopped server's database, then damaged or made newer."""

    @classmethod
    def setUpClass(cls):
        cls.src = KmsdServer()
        srv = cls.src
        srv.start()
        kms = srv.client()
        cls.blobs = []
        for i in range(30):
            kid = kms.create_key(Description="k%d" % i,
                                 Tags=[{"TagKey": "t", "TagValue": "v%d" % i}])["KeyMetadata"]
            kms.create_alias(AliasName="alias/k%d" % i, TargetKeyId=kid["KeyId"])
            cls.blobs.append(kms.encrypt(KeyId=kid["KeyId"], Plaintext=b"x")["CiphertextBlob"])
        assert srv.stop() == 0
        # A clean stop checkpoints the WAL: the database is the one file to damage.
        assert not os.path.exists(os.path.join(srv.data_dir, "kmsd.db-wal")) or \
            os.path.getsize(os.path.join(srv.data_dir, "kmsd.db-wal")) == 0

    @classmethod
    def tearDownClass(cls):
        cls.src.cleanup()

    def copy(self):
        tmp = tempfile.mkdtemp(prefix="kmsd-db-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, "data")
        os.mkdir(data, 0o700)
        for name in ("kmsd.db", "master.key"):
            shutil.copy(os.path.join(self.src.data_dir, name), data)
        return data

    def assertServesOrRefuses(self, data, why):
        """Either a clean refusal at startup, or a server that answers every request (with
        KMSInternalException where the damage is) and stops cleanly."""
        srv = KmsdServer(data_dir=data)
        self.addCleanup(srv.cleanup)
        proc = srv.spawn()
        try:
            srv.wait_ready()
        except Exception:
            rc = proc.wait(TIMEOUT)
            self.assertEqual(rc, 1, "%s: %s" % (why, srv.stderr()[-2000:]))
            self.assertIn("cannot start", srv.stderr(), why)
            return "refused"
        kms = srv.client()
        outcomes = set()
        calls = [lambda: kms.list_keys(Limit=1000), lambda: kms.list_aliases(Limit=100),
                 lambda: kms.create_key()]
        calls += [(lambda b=b: kms.decrypt(CiphertextBlob=b)) for b in self.blobs]
        for call in calls:
            try:
                call()
                outcomes.add(200)
            except ClientError as e:
                code = e.response["Error"]["Code"]
                # Garbage inside a record's bytes is not structural damage SQLite can see: a
                # changed material ID or policy reads as a missing or refusing key.
                self.assertIn(code, ("KMSInternalException", "NotFoundException",
                                     "InvalidCiphertextException", "AccessDeniedException",
                                     "DisabledException", "KMSInvalidStateException"), why)
                outcomes.add(code)
        self.assertIsNone(proc.poll(), "%s: kmsd died: %s" % (why, srv.stderr()[-2000:]))
        rc = srv.stop()
        self.assertEqual(rc, 0, why)
        return "served %s" % sorted(map(str, outcomes))

    def test_header_overwritten(self):
        data = self.copy()
        with open(os.path.join(data, "kmsd.db"), "r+b") as f:
            f.write(b"this is not a sqlite database at all" * 3)
        rc, out = run_kmsd(data)
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot start", out)
        self.assertIn("not a database", out)

    def test_truncated(self):
        data = self.copy()
        path = os.path.join(data, "kmsd.db")
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        self.assertServesOrRefuses(data, "truncated")

    def test_random_damage(self):
        rng = random.Random(os.environ.get("KMSD_CORRUPT_SEED", "10"))
        results = []
        for n in range(CORRUPT_VARIANTS):
            data = self.copy()
            path = os.path.join(data, "kmsd.db")
            size = os.path.getsize(path)
            with open(path, "r+b") as f:
                # A few runs of garbage past the header page, where the tables live.
                for _ in range(rng.randint(1, 4)):
                    f.seek(rng.randrange(4096, size - 64))
                    f.write(os.urandom(rng.randint(8, 512)))
            with self.subTest(variant=n):
                results.append(self.assertServesOrRefuses(data, "variant %d" % n))
        print("\ncorrupted databases: %s" % results)

    def test_newer_schema_is_refused_untouched(self):
        data = self.copy()
        path = os.path.join(data, "kmsd.db")
        db = sqlite3.connect(path)
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute("PRAGMA user_version=%d" % (version + 1))
        db.commit()
        db.close()
        digest = sha256_of(path)
        rc, out = run_kmsd(data)
        self.assertEqual(rc, 1, out)
        self.assertIn("version %d" % (version + 1), out)
        self.assertIn("newer than this kmsd knows", out)
        self.assertEqual(sha256_of(path), digest)


class MissingSealedMaterialTest(unittest.TestCase):
    """One key's sealed material row gone from kmsd.db (simulated corruption, deleted with
    sqlite3; the schema is storage/migrations/0001_init.sql, key_materials). That key's
    cryptography answers KMSInternalException (HTTP 500, "An internal error occurred.", details
    only in the log), the log names the key, and every other key keeps working."""

    INTERNAL = ("KMSInternalException", "An internal error occurred.", 500)

    def setUp(self):
        self.srv = KmsdServer()
        self.addCleanup(self.srv.cleanup)
        self.srv.start()
        kms = self.srv.client()
        self.broken = kms.create_key(Description="loses its material")["KeyMetadata"]
        self.intact = kms.create_key(Description="intact")["KeyMetadata"]
        self.broken_blob = kms.encrypt(KeyId=self.broken["KeyId"],
                                       Plaintext=b"broken")["CiphertextBlob"]
        self.intact_blob = kms.encrypt(KeyId=self.intact["KeyId"],
                                       Plaintext=b"intact")["CiphertextBlob"]

    def delete_material(self):
        db = sqlite3.connect(os.path.join(self.srv.data_dir, "kmsd.db"), timeout=10)
        try:
            n = db.execute("DELETE FROM key_materials WHERE key_id = ?",
                           (self.broken["KeyId"],)).rowcount
            db.commit()
        finally:
            db.close()
        self.assertEqual(n, 1)

    def error(self, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        r = cm.exception.response
        return (r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"])

    def assertBrokenKeyFailsAndOthersServe(self, decrypt_answer=None):
        self.assertIsNone(self.srv.proc.poll())
        kms = self.srv.client()
        self.assertEqual(self.error(kms.encrypt, KeyId=self.broken["KeyId"], Plaintext=b"x"),
                         self.INTERNAL)
        self.assertEqual(self.error(kms.decrypt, CiphertextBlob=self.broken_blob),
                         decrypt_answer or self.INTERNAL)
        self.assertEqual(self.error(kms.generate_data_key, KeyId=self.broken["KeyId"],
                                    KeySpec="AES_256"), self.INTERNAL)
        # The log says which key (the client is told nothing more).
        self.assertIn(self.broken["KeyId"], self.srv.stderr())
        # Everything else is served.
        self.assertEqual(kms.decrypt(CiphertextBlob=self.intact_blob)["Plaintext"], b"intact")
        blob = kms.encrypt(KeyId=self.intact["KeyId"], Plaintext=b"more")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"more")
        fresh = kms.create_key()["KeyMetadata"]["KeyId"]
        self.assertEqual(kms.generate_data_key(KeyId=fresh, KeySpec="AES_256")["KeyId"],
                         "arn:aws:kms:us-east-1:111122223333:key/" + fresh)
        self.assertIsNone(self.srv.proc.poll())

    def test_row_missing_at_start(self):
        # kmsd starts (one damaged key must not take the others down) and logs the key. The
        # database no longer says which key the old ciphertext's material belonged to, so its
        # Decrypt gets the answer for a ciphertext of no known key.
        self.assertEqual(self.srv.stop(), 0)
        self.delete_material()
        self.srv.start()
        self.assertIn("key %s has no key material" % self.broken["Arn"], self.srv.stderr())
        self.assertEqual(self.srv.client().describe_key(KeyId=self.broken["KeyId"])[
            "KeyMetadata"]["KeyState"], "Enabled")
        self.assertBrokenKeyFailsAndOthersServe(decrypt_answer=(
            "AccessDeniedException",
            "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:Decrypt on "
            "the resource associated with this ciphertext because the resource does not exist "
            "in this Region, no resource-based policies allow access, or a resource-based "
            "policy explicitly denies access", 400))

    def test_row_missing_while_running(self):
        # The row vanishing under a running kmsd (after a restart, so that nothing is cached).
        self.srv.restart()
        self.delete_material()
        self.assertBrokenKeyFailsAndOthersServe()

if __name__ == "__main__":
    unittest.main()
