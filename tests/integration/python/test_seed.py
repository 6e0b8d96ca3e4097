"""Seeding from local-kms's seed YAML (--seed / KMS_SEED_PATH)."""
import os
import tempfile
import unittest

from harness import KmsdServer

KEY_ID = "bc436485-5092-42b8-92a3-0aa8b93536dc"
OLD = "5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9"
NEW = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
SEED = """\
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: %s
          Description: seeded
        BackingKeys:
          - %s
          - %s
Aliases:
  - AliasName: alias/testing
    TargetKeyId: %s
""" % (KEY_ID, OLD, NEW, KEY_ID)


class SeedTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-seed-")
        self.seed = os.path.join(self.tmp, "seed.yaml")
        with open(self.seed, "w") as f:
            f.write(SEED)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.cleanup()

    def server(self, *args):
        s = KmsdServer(extra_args=list(args))
        self.servers.append(s)
        return s

    def test_seeded_keys_and_aliases(self):
        a = self.server("--seed", self.seed)
        a.start()
        kms = a.client()
        meta = kms.describe_key(KeyId="alias/testing")["KeyMetadata"]
        self.assertEqual(meta["KeyId"], KEY_ID)
        self.assertEqual(meta["Description"], "seeded")
        self.assertEqual(meta["KeyState"], "Enabled")
        rotations = kms.list_key_rotations(KeyId=KEY_ID, IncludeKeyMaterial="ALL_KEY_MATERIAL")
        self.assertEqual(len(rotations["Rotations"]), 2)
        blob = kms.encrypt(KeyId="alias/testing", Plaintext=b"fixture")["CiphertextBlob"]

        # A second, fresh kmsd seeded from the same file decrypts the first one's blobs.
        b = self.server("--seed", self.seed)
        b.start()
        out = b.client().decrypt(CiphertextBlob=blob)
        self.assertEqual(out["Plaintext"], b"fixture")
        self.assertEqual(out["KeyId"], meta["Arn"])

        # Restarting with the same file changes nothing.
        a.stop()
        a.start(extra_args=[])
        again = a.client().describe_key(KeyId=KEY_ID)["KeyMetadata"]
        self.assertEqual(again["CreationDate"], meta["CreationDate"])
        self.assertEqual(again["CurrentKeyMaterialId"], meta["CurrentKeyMaterialId"])

    def test_env_variable_and_optional_missing_file(self):
        s = self.server()
        s.start(env={"KMS_SEED_PATH": self.seed})
        self.assertEqual(s.client().describe_key(KeyId=KEY_ID)["KeyMetadata"]["KeyId"], KEY_ID)
        t = self.server("--seed", os.path.join(self.tmp, "absent.yaml"), "--seed-optional")
        t.start()
        self.assertEqual(t.client().list_keys()["Keys"], [])

    def refused(self, text, fragment):
        with open(self.seed, "w") as f:
            f.write(text)
        s = self.server("--seed", self.seed)
        proc = s.spawn()
        rc = proc.wait(timeout=10)
        self.assertNotEqual(rc, 0)
        self.assertIn(fragment, s.stderr())

    def test_bad_seed_files_stop_startup(self):
        self.refused("Keys:\n  Asymmetric:\n    Ecc: []\n", "asymmetric keys")
        self.refused(SEED.replace(OLD, "abcd"), "64 hex characters")
        self.refused(SEED.replace("TargetKeyId: " + KEY_ID, "TargetKeyId: nope"), "unknown key")
        self.refused("Keys: [unclosed", "not valid YAML")

    def test_missing_seed_file_stops_startup(self):
        s = self.server("--seed", os.path.join(self.tmp, "absent.yaml"))
        self.assertNotEqual(s.spawn().wait(timeout=10), 0)
        self.assertIn("no such file", s.stderr())


if __name__ == "__main__":
    unittest.main()
