"""Persistence: restart on the same data dir, kill -9, wrong master key, and
no plaintext key material on disk.

Reference: design.md §3 and §4 (sealing, master key, kmsd.db).
"""

import base64
import json
import os
import re
import sqlite3
import stat
import subprocess
import time
import unittest

from botocore.exceptions import ClientError

from harness import KmsdServer

DEFAULT_POLICY_ID = '"Id" : "key-default-1"'


class ServerPerTest(unittest.TestCase):
    """A fresh server (and data dir) for every test."""

    def setUp(self):
        self.server = KmsdServer()
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.kms = self.server.client()

    def restart(self, kill=False, **kw):
        self.server.restart(kill=kill, **kw)
        self.kms = self.server.client()

    def data_files(self):
        out = []
        for root, _dirs, files in os.walk(self.server.data_dir):
            for f in files:
                out.append(os.path.join(root, f))
        return out


class RestartTest(ServerPerTest):

    def test_everything_survives_restart(self):
        kms = self.kms
        a = kms.create_key(Description="key A",
                           Tags=[{"TagKey": "t1", "TagValue": "v1"}])["KeyMetadata"]
        b = kms.create_key()["KeyMetadata"]
        c = kms.create_key(Description="to delete")["KeyMetadata"]
        d = kms.create_key(Description="disabled")["KeyMetadata"]
        kms.create_alias(AliasName="alias/a", TargetKeyId=a["KeyId"])
        kms.create_alias(AliasName="alias/b", TargetKeyId=b["KeyId"])
        kms.update_alias(AliasName="alias/b", TargetKeyId=a["KeyId"])
        kms.tag_resource(KeyId=b["KeyId"], Tags=[{"TagKey": "x", "TagValue": "y"},
                                                 {"TagKey": "z", "TagValue": ""}])
        kms.untag_resource(KeyId=b["KeyId"], TagKeys=["z"])
        kms.update_key_description(KeyId=b["KeyId"], Description="updated B")
        policy = {"Version": "2012-10-17", "Id": "persisted", "Statement": [
            {"Sid": "Root", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
             "Action": "kms:*", "Resource": "*"}]}
        kms.put_key_policy(KeyId=b["KeyId"], PolicyName="default", Policy=json.dumps(policy))
        policy_b = kms.get_key_policy(KeyId=b["KeyId"])["Policy"]
        sched = kms.schedule_key_deletion(KeyId=c["KeyId"], PendingWindowInDays=9)
        kms.disable_key(KeyId=d["KeyId"])
        blob_a = kms.encrypt(KeyId="alias/a", Plaintext=b"persist me",
                             EncryptionContext={"k": "v"})["CiphertextBlob"]
        dk_b = kms.generate_data_key(KeyId=b["KeyId"], KeySpec="AES_256")
        west = self.server.client(region="us-west-2")
        w = west.create_key(Description="west")["KeyMetadata"]
        blob_w = west.encrypt(KeyId=w["KeyId"], Plaintext=b"west")["CiphertextBlob"]
        before = {k: kms.describe_key(KeyId=k)["KeyMetadata"]
                  for k in (a["KeyId"], b["KeyId"], c["KeyId"], d["KeyId"])}
        aliases_before = sorted((x["AliasName"], x["TargetKeyId"])
                                for x in kms.list_aliases()["Aliases"] if "TargetKeyId" in x)

        self.restart()
        kms = self.kms

        for kid, md in before.items():
            self.assertEqual(kms.describe_key(KeyId=kid)["KeyMetadata"], md, kid)
        self.assertEqual(sorted(k["KeyId"] for k in kms.list_keys()["Keys"]), sorted(before))
        aliases_after = sorted((x["AliasName"], x["TargetKeyId"])
                               for x in kms.list_aliases()["Aliases"] if "TargetKeyId" in x)
        self.assertEqual(aliases_after, aliases_before)
        self.assertEqual(aliases_after, [("alias/a", a["KeyId"]), ("alias/b", a["KeyId"])])
        self.assertEqual(kms.list_resource_tags(KeyId=a["KeyId"])["Tags"],
                         [{"TagKey": "t1", "TagValue": "v1"}])
        self.assertEqual(kms.list_resource_tags(KeyId=b["KeyId"])["Tags"],
                         [{"TagKey": "x", "TagValue": "y"}])
        self.assertEqual(kms.describe_key(KeyId=b["KeyId"])["KeyMetadata"]["Description"],
                         "updated B")
        self.assertEqual(kms.get_key_policy(KeyId=b["KeyId"])["Policy"], policy_b)
        self.assertIn('"Id" : "persisted"', policy_b)
        self.assertIn(DEFAULT_POLICY_ID, kms.get_key_policy(KeyId=a["KeyId"])["Policy"])
        cm = kms.describe_key(KeyId=c["KeyId"])["KeyMetadata"]
        self.assertEqual(cm["KeyState"], "PendingDeletion")
        self.assertEqual(cm["DeletionDate"], sched["DeletionDate"])
        self.assertEqual(kms.describe_key(KeyId=d["KeyId"])["KeyMetadata"]["KeyState"],
                         "Disabled")
        # Old ciphertexts decrypt.
        out = kms.decrypt(CiphertextBlob=blob_a, EncryptionContext={"k": "v"})
        self.assertEqual(out["Plaintext"], b"persist me")
        self.assertEqual(out["KeyId"], a["Arn"])
        self.assertEqual(out["KeyMaterialId"], a["CurrentKeyMaterialId"])
        self.assertEqual(kms.decrypt(CiphertextBlob=dk_b["CiphertextBlob"])["Plaintext"],
                         dk_b["Plaintext"])
        west = self.server.client(region="us-west-2")
        self.assertEqual(west.decrypt(CiphertextBlob=blob_w)["Plaintext"], b"west")
        self.assertEqual(west.describe_key(KeyId=w["KeyId"])["KeyMetadata"]["Description"], "west")
        # Still fully usable.
        blob2 = kms.encrypt(KeyId="alias/b", Plaintext=b"after")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob2)["Plaintext"], b"after")
        kms.cancel_key_deletion(KeyId=c["KeyId"])
        self.assertEqual(kms.describe_key(KeyId=c["KeyId"])["KeyMetadata"]["KeyState"],
                         "Disabled")

    def test_deleted_things_stay_deleted(self):
        kms = self.kms
        a = kms.create_key()["KeyMetadata"]
        kms.create_alias(AliasName="alias/tmp", TargetKeyId=a["KeyId"])
        kms.delete_alias(AliasName="alias/tmp")
        kms.tag_resource(KeyId=a["KeyId"], Tags=[{"TagKey": "x", "TagValue": "y"}])
        kms.untag_resource(KeyId=a["KeyId"], TagKeys=["x"])
        self.restart()
        self.assertEqual(self.kms.list_resource_tags(KeyId=a["KeyId"])["Tags"], [])
        self.assertNotIn("alias/tmp",
                         [x["AliasName"] for x in self.kms.list_aliases()["Aliases"]])

    def test_reset_persists(self):
        a = self.kms.create_key()["KeyMetadata"]
        self.server.reset()
        self.restart()
        self.assertEqual(self.kms.list_keys()["Keys"], [])
        with self.assertRaises(ClientError) as cm:
            self.kms.describe_key(KeyId=a["KeyId"])
        self.assertEqual(cm.exception.response["Error"]["Code"], "NotFoundException")

    def test_sigterm_exits_cleanly(self):
        self.kms.create_key()
        rc = self.server.stop(timeout=5)
        self.assertEqual(rc, 0, self.server.stderr()[-2000:])


class KillTest(ServerPerTest):

    def test_kill9_right_after_create_key(self):
        md = self.kms.create_key(Description="durable")["KeyMetadata"]
        self.server.kill9()
        self.server.start()
        self.kms = self.server.client()
        got = self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
        self.assertEqual(got, md)
        self.assertEqual(self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["KeyId"], md["Arn"])

    def test_kill9_after_many_changes(self):
        kms = self.kms
        keys = [kms.create_key()["KeyMetadata"] for _ in range(10)]
        blobs = [kms.encrypt(KeyId=k["KeyId"], Plaintext=k["KeyId"].encode())["CiphertextBlob"]
                 for k in keys]
        kms.create_alias(AliasName="alias/last", TargetKeyId=keys[-1]["KeyId"])
        kms.tag_resource(KeyId=keys[-1]["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v"}])
        kms.disable_key(KeyId=keys[0]["KeyId"])
        self.restart(kill=True)
        kms = self.kms
        self.assertEqual(len(kms.list_keys()["Keys"]), 10)
        for k, blob in zip(keys[1:], blobs[1:]):
            self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], k["KeyId"].encode())
        self.assertEqual(kms.describe_key(KeyId="alias/last")["KeyMetadata"]["KeyId"],
                         keys[-1]["KeyId"])
        self.assertEqual(kms.list_resource_tags(KeyId=keys[-1]["KeyId"])["Tags"],
                         [{"TagKey": "k", "TagValue": "v"}])
        self.assertEqual(kms.describe_key(KeyId=keys[0]["KeyId"])["KeyMetadata"]["KeyState"],
                         "Disabled")


class MasterKeyTest(ServerPerTest):

    def test_master_key_file_created_private(self):
        self.kms.create_key()
        path = os.path.join(self.server.data_dir, "master.key")
        self.assertTrue(os.path.exists(path), os.listdir(self.server.data_dir))
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode & 0o077, 0, oct(mode))

    def test_wrong_master_key_refuses_to_start(self):
        md = self.kms.create_key()["KeyMetadata"]
        self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
        self.server.stop()
        wrong = base64.b64encode(b"\x42" * 32).decode()
        proc = self.server.spawn(env={"KMSD_MASTER_KEY": wrong})
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.stop()
            self.fail("kmsd kept running with a wrong master key")
        self.assertEqual(rc, 1)
        err = self.server.stderr()
        # The message that says why (src/app.cpp), not just any line mentioning the key.
        self.assertIn("kmsd: cannot start: the master key does not match this database (wrong "
                      "--master-key-file, KMSD_MASTER_KEY or master.key); refusing to start",
                      err, "stderr: %r stdout: %r" % (err[-2000:], self.server.stdout()[-2000:]))
        # The right key (the file) still works afterwards and nothing was damaged.
        self.server.start()
        kms = self.server.client()
        self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyId"],
                         md["KeyId"])

    def test_wrong_master_key_exits_quickly(self):
        self.kms.create_key()
        self.server.stop()
        t0 = time.monotonic()
        proc = self.server.spawn(env={"KMSD_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
        try:
            rc = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.stop()
            self.fail("kmsd kept running with a wrong master key")
        self.assertEqual(rc, 1, self.server.stderr()[-2000:])
        self.assertIn("the master key does not match this database", self.server.stderr())
        self.assertLess(time.monotonic() - t0, 5)


class AtRestTest(ServerPerTest):

    def _all_bytes(self):
        blobs = {}
        for path in self.data_files():
            with open(path, "rb") as f:
                blobs[path] = f.read()
        return blobs

    def _sqlite_files(self):
        out = []
        for path in self.data_files():
            with open(path, "rb") as f:
                if f.read(16) == b"SQLite format 3\x00":
                    out.append(path)
        return out

    def test_no_plaintext_on_disk(self):
        kms = self.kms
        md = kms.create_key()["KeyMetadata"]
        dks = [kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")["Plaintext"]
               for _ in range(3)]
        marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
        kms.encrypt(KeyId=md["KeyId"], Plaintext=marker)
        rnd = kms.generate_random(NumberOfBytes=32)["Plaintext"]

        def check():
            files = self._all_bytes()
            self.assertTrue(files)
            for path, data in files.items():
                for secret in dks + [marker, rnd]:
                    self.assertNotIn(secret, data, path)
                    self.assertNotIn(base64.b64encode(secret), data, path)
                    self.assertNotIn(secret.hex().encode(), data, path)

        check()          # while running (WAL included)
        self.server.stop()
        check()          # after a clean shutdown

    def test_database_holds_no_bare_32_byte_secrets(self):
        kms = self.kms
        keys = [kms.create_key()["KeyMetadata"] for _ in range(3)]
        known_ids = {bytes.fromhex(k["CurrentKeyMaterialId"]) for k in keys}
        for k in keys:
            blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"x")["CiphertextBlob"]
            known_ids.add(blob[5:37])  # the key-dependent header identifier
        self.server.stop()
        dbs = self._sqlite_files()
        self.assertTrue(dbs, "no SQLite database in %s" % os.listdir(self.server.data_dir))
        master = b""
        mpath = os.path.join(self.server.data_dir, "master.key")
        if os.path.exists(mpath):
            with open(mpath, "rb") as f:
                master = f.read()
        suspicious = []
        for db in dbs:
            conn = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
            try:
                tables = [r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")]
                for t in tables:
                    for row in conn.execute('SELECT * FROM "%s"' % t.replace('"', '""')):
                        for cell in row:
                            raw = None
                            if isinstance(cell, bytes) and len(cell) == 32:
                                raw = cell
                            elif isinstance(cell, str) and re.fullmatch(r"[A-Za-z0-9+/]{43}=", cell):
                                raw = base64.b64decode(cell)
                            elif isinstance(cell, str) and re.fullmatch(r"[0-9a-fA-F]{64}", cell):
                                raw = bytes.fromhex(cell)
                            if raw is not None and raw not in known_ids:
                                suspicious.append((t, cell))
                            if master and isinstance(cell, (bytes, str)):
                                c = cell.encode() if isinstance(cell, str) else cell
                                self.assertNotIn(master.strip(), c, "master key in table %s" % t)
            finally:
                conn.close()
        self.assertEqual(suspicious, [], "32-byte values stored in the clear")


if __name__ == "__main__":
    unittest.main(verbosity=2)
