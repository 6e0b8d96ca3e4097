"""Upgrades: every data directory written by an earlier kmsd opens, migrates and serves what it
held (issue 10).

tests/fixtures/db/v<N>/ holds a data directory made by the kmsd of schema version N (its
kmsd.db, its fixture master.key, and expected.json: keys, aliases, tags, grants, policies and
recorded ciphertexts), written by tests/fixtures/make_fixture.py. Every later schema change (a new
storage/migrations/NNNN_*.sql) adds the fixture of the schema before it; this test runs on every
fixture it finds, each on a copy.
"""

import base64
import datetime
import glob
import json
import os
import shutil
import sqlite3
import tempfile
import unittest
import uuid

from botocore.exceptions import ClientError

from harness import KmsdServer, REPO_ROOT

FIXTURES = sorted(glob.glob(os.path.join(REPO_ROOT, "tests", "fixtures", "db", "v*")),
                  key=lambda p: int(os.path.basename(p)[1:]))

# GetKeyLastUsage's Operation values in the order of the codes schema 12 stores.
USAGE_OPERATIONS = ["Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey",
                    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
                    "GenerateDataKeyWithoutPlaintext", "GenerateMac", "ReEncrypt", "Sign", "Verify",
                    "VerifyMac"]


def plain(value):
    """boto3's parsed values (datetimes) in the form expected.json stores them."""
    return json.loads(json.dumps(value, default=str))


class UpgradeTest(unittest.TestCase):

    def test_fixtures_exist(self):
        self.assertTrue(FIXTURES, "no fixtures under tests/fixtures/db")

    def test_current_schema_has_a_fixture(self):
        # A new migration needs its fixture (run tests/fixtures/make_fixture.py), so that the
        # schema after it is tested against data written by this one.
        migrations = glob.glob(os.path.join(REPO_ROOT, "storage", "migrations", "*.sql"))
        self.assertIn("v%d" % len(migrations), [os.path.basename(f) for f in FIXTURES])

    def test_every_fixture(self):
        for fixture in FIXTURES:
            with self.subTest(fixture=os.path.basename(fixture)):
                self.check_fixture(fixture)

    def check_fixture(self, fixture):
        with open(os.path.join(fixture, "expected.json")) as f:
            expected = json.load(f)
        self.assertEqual("v%d" % expected["schema_version"], os.path.basename(fixture))
        tmp = tempfile.mkdtemp(prefix="kmsd-upgrade-")
        self.addCleanup(shutil.rmtree, tmp, True)
        data = os.path.join(tmp, "data")
        os.mkdir(data, 0o700)
        for name in ("kmsd.db", "master.key"):
            shutil.copy(os.path.join(fixture, name), data)
        os.chmod(os.path.join(data, "master.key"), 0o600)

        # The last usage each key had, as the old layout stored it (before schema 11, by name;
        # since, by the key's rowid), read before any call here records a new one.
        db = sqlite3.connect(os.path.join(data, "kmsd.db"))
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "key_last_usage" in tables:
            used = db.execute("SELECT region, key_id, operation, request_id FROM key_last_usage")
        else:
            used = db.execute("SELECT k.region, k.key_id, u.operation, u.request_id FROM key_usage u"
                              " JOIN keys k ON k.rowid = u.key_row")
        # Since schema 12 (storage/usage_codec.h) the operation is a code and a UUID request ID
        # its 16 bytes.
        last_usage = [(region, kid, USAGE_OPERATIONS[op] if isinstance(op, int) else op,
                       str(uuid.UUID(bytes=rid)) if isinstance(rid, bytes) else rid)
                      for region, kid, op, rid in used.fetchall()]
        db.close()

        srv = KmsdServer(data_dir=data)
        self.addCleanup(srv.cleanup)
        srv.start()
        clients = {"us-east-1": srv.client(), "us-west-2": srv.client(region="us-west-2")}
        checked = 0
        for region, kid, operation, request_id in last_usage:
            try:
                got = clients[region].get_key_last_usage(KeyId=kid)
            except ClientError as e:  # deleted by the catch-up at startup
                self.assertEqual(e.response["Error"]["Code"], "NotFoundException")
                continue
            self.assertEqual(got["KeyLastUsage"]["Operation"], operation, kid)
            self.assertEqual(got["KeyLastUsage"]["KmsRequestId"], request_id, kid)
            checked += 1
        self.assertGreater(checked, 0)  # every fixture recorded some usage
        now = datetime.datetime.now(datetime.timezone.utc)

        for rec in expected["keys"]:
            kms = clients[rec["region"]]
            want = rec["metadata"]
            kid = want["KeyId"]
            if want["KeyState"] == "PendingDeletion":
                due = datetime.datetime.fromisoformat(want["DeletionDate"])
                if due <= now:
                    # Deleted by the catch-up at startup, as it should be by now.
                    with self.assertRaises(ClientError) as cm:
                        kms.describe_key(KeyId=kid)
                    self.assertEqual(cm.exception.response["Error"]["Code"], "NotFoundException")
                    continue
            got = plain(kms.describe_key(KeyId=kid)["KeyMetadata"])
            if want.get("NextRotationDate") and "NextRotationDate" in got:
                # Automatic rotation may have fallen due since the fixture was made.
                self.assertGreaterEqual(got["NextRotationDate"], want["NextRotationDate"])
                want = dict(want, NextRotationDate=got["NextRotationDate"],
                            CurrentKeyMaterialId=got.get("CurrentKeyMaterialId"))
            self.assertEqual(got, want, kid)
            # Listed by tag key (the fixture recorded them in the order they were added).
            self.assertEqual(kms.list_resource_tags(KeyId=kid)["Tags"],
                             sorted(rec["tags"], key=lambda t: t["TagKey"]), kid)
            self.assertEqual(kms.get_key_policy(KeyId=kid)["Policy"], rec["policy"], kid)
            # Asymmetric keys and keys in custom key stores have no rotations to list.
            if want["KeySpec"] == "SYMMETRIC_DEFAULT" and want["Origin"] != "AWS_CLOUDHSM":
                self.assertGreaterEqual(len(kms.list_key_rotations(KeyId=kid)["Rotations"]),
                                        rec["rotations"], kid)
            if "grants" in rec:
                grants = sorted(plain(kms.list_grants(KeyId=kid)["Grants"]),
                                key=lambda g: g["GrantId"])
                self.assertEqual(grants, rec["grants"], kid)
            if "rotation_status" in rec:
                status = plain(kms.get_key_rotation_status(KeyId=kid))
                status.pop("ResponseMetadata", None)
                for k in ("NextRotationDate", "OnDemandRotationStartDate"):
                    status.pop(k, None)
                    rec["rotation_status"].pop(k, None)
                self.assertEqual(status, rec["rotation_status"], kid)

        for a in expected["aliases"]:
            kms = clients[a["region"]]
            got = {x["AliasName"]: x.get("TargetKeyId")
                   for x in kms.list_aliases(Limit=100)["Aliases"]}
            self.assertEqual(got.get(a["AliasName"]), a["TargetKeyId"], a)

        decrypted = 0
        for ct in expected["ciphertexts"]:
            kms = clients[ct["region"]]
            kw = {"EncryptionContext": ct["context"]} if ct["context"] else {}
            blob = base64.b64decode(ct["ciphertext"])
            md = kms.describe_key(KeyId=ct["key_id"])["KeyMetadata"]
            if md["KeyState"] == "Disabled":
                with self.assertRaises(ClientError) as cm:
                    kms.decrypt(CiphertextBlob=blob, **kw)
                self.assertEqual(cm.exception.response["Error"]["Code"], "DisabledException")
                kms.enable_key(KeyId=ct["key_id"])
            out = kms.decrypt(CiphertextBlob=blob, **kw)
            self.assertEqual(out["Plaintext"], base64.b64decode(ct["plaintext"]))
            decrypted += 1
        self.assertEqual(decrypted, len(expected["ciphertexts"]))

        # Fully usable after the upgrade, and at the binary's schema version.
        kms = clients["us-east-1"]
        kid = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=kid, Plaintext=b"new")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"new")
        self.assertEqual(srv.stop(), 0)
        db = sqlite3.connect(os.path.join(data, "kmsd.db"))
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.close()
        self.assertGreaterEqual(version, expected["schema_version"])
        migrations = glob.glob(os.path.join(REPO_ROOT, "storage", "migrations", "*.sql"))
        self.assertEqual(version, len(migrations))


if __name__ == "__main__":
    unittest.main()
