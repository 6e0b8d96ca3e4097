"""Seeding from local-kms's seed YAML (--seed / KMS_SEED_PATH)."""
import base64
import os
import subprocess
import tempfile
import textwrap
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from harness import KmsdServer

KEY_ID = "bc436485-5092-42b8-92a3-0aa8b93536dc"
RSA_ID = "ff275b92-0def-4dfc-b0f6-87c96b26c6c7"
EC_ID = "800d5768-3fd7-4edd-a4b8-4c81c3e4c147"
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

    def asymmetric_seed(self, rsa_pem, ec_pem, ec_usage="SIGN_VERIFY"):
        indent = lambda pem: textwrap.indent(pem, " " * 10)
        return ("Keys:\n  Asymmetric:\n    Rsa:\n"
                "      - Metadata:\n          KeyId: %s\n          KeyUsage: ENCRYPT_DECRYPT\n"
                "        PrivateKeyPem: |\n%s"
                "    Ecc:\n"
                "      - Metadata:\n          KeyId: %s\n          KeyUsage: %s\n"
                "          Description: seeded ECC\n"
                "        PrivateKeyPem: |\n%s") % (
                    RSA_ID, indent(rsa_pem), EC_ID, ec_usage, indent(ec_pem))

    def openssl_key(self, *args):
        return subprocess.run(["openssl"] + list(args), check=True, capture_output=True,
                              text=True).stdout

    def test_asymmetric_keys_from_pem_as_local_kms_writes_them(self):
        """local-kms's Keys.Asymmetric: a PKCS#8 RSA key and a SEC1 ("EC PRIVATE KEY") key made
        by the openssl CLI load unchanged; their spec comes from the key."""
        rsa_pem = self.openssl_key("genpkey", "-algorithm", "RSA", "-pkeyopt",
                                   "rsa_keygen_bits:2048")
        ec_pem = self.openssl_key("ecparam", "-name", "prime256v1", "-genkey", "-noout")
        self.assertIn("BEGIN PRIVATE KEY", rsa_pem)
        self.assertIn("BEGIN EC PRIVATE KEY", ec_pem)
        with open(self.seed, "w") as f:
            f.write(self.asymmetric_seed(rsa_pem, ec_pem))
        s = self.server("--seed", self.seed)
        s.start()
        kms = s.client()
        rsa_md = kms.describe_key(KeyId=RSA_ID)["KeyMetadata"]
        self.assertEqual((rsa_md["KeySpec"], rsa_md["KeyUsage"]), ("RSA_2048", "ENCRYPT_DECRYPT"))
        ec_md = kms.describe_key(KeyId=EC_ID)["KeyMetadata"]
        self.assertEqual((ec_md["KeySpec"], ec_md["KeyUsage"], ec_md["Description"]),
                         ("ECC_NIST_P256", "SIGN_VERIFY", "seeded ECC"))
        # The seeded keys are the PEM keys: their public halves, and what they do.
        for key_id, pem in ((RSA_ID, rsa_pem), (EC_ID, ec_pem)):
            private = serialization.load_pem_private_key(pem.encode(), None)
            expected = private.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.assertEqual(kms.get_public_key(KeyId=key_id)["PublicKey"], expected)
        ec_private = serialization.load_pem_private_key(ec_pem.encode(), None)
        sig = kms.sign(KeyId=EC_ID, Message=b"seeded", SigningAlgorithm="ECDSA_SHA_256")
        ec_private.public_key().verify(sig["Signature"], b"seeded", ec.ECDSA(hashes.SHA256()))
        rsa_private = serialization.load_pem_private_key(rsa_pem.encode(), None)
        ct = kms.encrypt(KeyId=RSA_ID, Plaintext=b"to the seed",
                         EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                            label=None)
        self.assertEqual(rsa_private.decrypt(ct, oaep), b"to the seed")
        # A restart with the same file keeps the keys as they are.
        s.stop()
        s.start()
        self.assertEqual(s.client().describe_key(KeyId=EC_ID)["KeyMetadata"]["CreationDate"],
                         ec_md["CreationDate"])

    def test_bad_asymmetric_seed_entries_stop_startup(self):
        rsa_pem = self.openssl_key("genpkey", "-algorithm", "RSA", "-pkeyopt",
                                   "rsa_keygen_bits:2048")
        ec_pem = self.openssl_key("ecparam", "-name", "secp256k1", "-genkey", "-noout")
        self.refused(self.asymmetric_seed(rsa_pem, "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                          "-----END PRIVATE KEY-----\n"),
                     "is not an unencrypted PEM private key")
        self.refused(self.asymmetric_seed(rsa_pem, rsa_pem), "a RSA_2048 key under Keys.Asymmetric.Ecc")
        self.refused(self.asymmetric_seed(rsa_pem, ec_pem, "KEY_AGREEMENT"),
                     "KeyUsage KEY_AGREEMENT is not compatible with KeySpec ECC_SECG_P256K1")
        # A P-256 key whose public point is another key's: the halves do not belong together.
        mine = ec.generate_private_key(ec.SECP256R1())
        other = ec.generate_private_key(ec.SECP256R1()).public_key()
        der = bytearray(mine.private_bytes(serialization.Encoding.DER,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
        point = other.public_bytes(serialization.Encoding.X962,
                                   serialization.PublicFormat.UncompressedPoint)
        der[-65:] = point  # SEC1 ends with the 65-byte uncompressed public point
        mismatched = ("-----BEGIN EC PRIVATE KEY-----\n%s\n-----END EC PRIVATE KEY-----\n" %
                      base64.b64encode(bytes(der)).decode())
        self.refused(self.asymmetric_seed(rsa_pem, mismatched), "is not a consistent key pair")
        rsa_1024 = self.openssl_key("genpkey", "-algorithm", "RSA", "-pkeyopt",
                                    "rsa_keygen_bits:1024")
        self.refused(self.asymmetric_seed(rsa_1024, ec_pem), "is not an RSA 2048/3072/4096")

    def test_bad_seed_files_stop_startup(self):
        self.refused(SEED.replace(OLD, "abcd"), "64 hex characters")
        self.refused(SEED.replace("TargetKeyId: " + KEY_ID, "TargetKeyId: nope"), "unknown key")
        self.refused("Keys: [unclosed", "not valid YAML")

    def test_missing_seed_file_stops_startup(self):
        s = self.server("--seed", os.path.join(self.tmp, "absent.yaml"))
        self.assertNotEqual(s.spawn().wait(timeout=10), 0)
        self.assertIn("no such file", s.stderr())


if __name__ == "__main__":
    unittest.main()
