"""Fixed key IDs and key material for test fixtures: kmsd's own seed format (--seed, a `Keys:`
list in CreateKey's member names), loaded at start and again after POST /_kmsd/reset.

What the seeded keys compute is checked outside kmsd: MACs with Python's hmac, signatures and
public keys with `cryptography`, and ciphertexts across two servers seeded alike.
"""

import base64
import hashlib
import hmac
import json
import os
import shutil
import tempfile
import textwrap
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from harness import KmsdServer

ACCOUNT = "111122223333"
SYM_ID = "0b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
HMAC_ID = "1b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
K1_ID = "2b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
ED_ID = "3b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
RSA_ID = "4b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
GEN_ID = "5b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
EXT_ID = "6b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
WEST_ID = "7b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
OTHER_ID = "8b3a5b7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
MRK_ID = "mrk-0b3a5b7e1c2d4e5f8a9b0c1d2e3f4a5b"
SYM_MATERIAL = bytes(range(32))
HMAC_MATERIAL = bytes(range(100, 140))


def pem(private_key):
    return private_key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


def spki(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


class FixtureSeedTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.k1 = ec.derive_private_key(0xC0FFEE, ec.SECP256K1())
        cls.ed = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
        cls.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-fixtures-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.cleanup()

    def write_seed(self, text):
        path = os.path.join(self.tmp, "seed-%d.yaml" % len(os.listdir(self.tmp)))
        with open(path, "w") as f:
            f.write(text)
        return path

    def server(self, seed):
        s = KmsdServer(extra_args=["--seed", seed])
        self.servers.append(s)
        return s

    def seed_text(self):
        ind = lambda text: textwrap.indent(text, " " * 6)
        return textwrap.dedent("""\
            Keys:
              - KeyId: %(sym)s
                Description: fixed symmetric key
                KeyMaterial: %(sym_material)s
                Aliases: [alias/fixtures/app, alias/fixtures/other]
                Tags: {team: payments, env: test}
                Grants:
                  - Name: app-decrypt
                    GranteePrincipal: "arn:aws:iam::%(account)s:role/app"
                    RetiringPrincipal: "arn:aws:iam::%(account)s:role/ops"
                    Operations: [Decrypt, Encrypt]
                    Constraints: {EncryptionContextSubset: {app: fixture}}
                RotationPeriodInDays: 180
                Policy:
                  Version: "2012-10-17"
                  Statement:
                    - Sid: Root
                      Effect: Allow
                      Principal: {AWS: "arn:aws:iam::%(account)s:root"}
                      Action: "kms:*"
                      Resource: "*"
              - KeyId: %(hmac)s
                KeySpec: HMAC_256
                KeyUsage: GENERATE_VERIFY_MAC
                KeyMaterial: %(hmac_material)s
              - KeyId: %(k1)s
                KeySpec: ECC_SECG_P256K1
                KeyUsage: SIGN_VERIFY
                Aliases: [alias/fixtures/ethereum]
                PrivateKeyPem: |
            %(k1_pem)s
              - KeyId: %(ed)s
                KeyUsage: SIGN_VERIFY
                PrivateKeyPem: |
            %(ed_pem)s
              - KeyId: %(rsa)s
                KeySpec: RSA_2048
                KeyUsage: ENCRYPT_DECRYPT
                PrivateKeyPem: |
            %(rsa_pem)s
              - KeyId: %(gen)s
                Description: generated material, fixed ID
                Enabled: false
              - KeyId: %(ext)s
                Origin: EXTERNAL
              - KeyId: %(west)s
                Region: us-west-2
                KeyMaterial: %(sym_material)s
              - KeyId: %(other)s
                Account: "444455556666"
                Description: another account's
              - KeyId: %(mrk)s
                MultiRegion: true
                ReplicaRegions: [us-west-2, eu-west-1]
                KeyMaterial: %(sym_material)s
                Aliases: [alias/fixtures/dr]
            """) % {
            "sym": SYM_ID, "hmac": HMAC_ID, "k1": K1_ID, "ed": ED_ID, "rsa": RSA_ID,
            "gen": GEN_ID, "ext": EXT_ID, "west": WEST_ID, "other": OTHER_ID, "mrk": MRK_ID,
            "account": ACCOUNT,
            "sym_material": base64.b64encode(SYM_MATERIAL).decode(),
            "hmac_material": base64.b64encode(HMAC_MATERIAL).decode(),
            "k1_pem": ind(pem(self.k1)).rstrip("\n"),
            "ed_pem": ind(pem(self.ed)).rstrip("\n"),
            "rsa_pem": ind(pem(self.rsa)).rstrip("\n"),
        }

    def test_every_kind_of_fixture_key(self):
        s = self.server(self.write_seed(self.seed_text()))
        s.start()
        kms = s.client()
        sym = kms.describe_key(KeyId="alias/fixtures/app")["KeyMetadata"]
        self.assertEqual((sym["KeyId"], sym["Description"], sym["KeyState"]),
                         (SYM_ID, "fixed symmetric key", "Enabled"))
        self.assertEqual(kms.describe_key(KeyId="alias/fixtures/other")["KeyMetadata"]["KeyId"],
                         SYM_ID)
        self.assertEqual(kms.list_resource_tags(KeyId=SYM_ID)["Tags"],
                         [{"TagKey": "env", "TagValue": "test"},
                          {"TagKey": "team", "TagValue": "payments"}])
        status = kms.get_key_rotation_status(KeyId=SYM_ID)
        self.assertTrue(status["KeyRotationEnabled"])
        self.assertEqual(status["RotationPeriodInDays"], 180)
        [grant] = kms.list_grants(KeyId=SYM_ID)["Grants"]
        self.assertRegex(grant["GrantId"], "^[0-9a-f]{64}$")
        self.assertEqual((grant["Name"], grant["GranteePrincipal"], sorted(grant["Operations"]),
                          grant["Constraints"]),
                         ("app-decrypt", "arn:aws:iam::%s:role/app" % ACCOUNT,
                          ["Decrypt", "Encrypt"], {"EncryptionContextSubset": {"app": "fixture"}}))
        policy = json.loads(kms.get_key_policy(KeyId=SYM_ID)["Policy"])
        self.assertEqual(policy["Statement"][0]["Sid"], "Root")

        msg = b"fixture message"
        mac = kms.generate_mac(KeyId=HMAC_ID, Message=msg, MacAlgorithm="HMAC_SHA_256")["Mac"]
        self.assertEqual(mac, hmac.new(HMAC_MATERIAL, msg, hashlib.sha256).digest())

        k1 = kms.describe_key(KeyId="alias/fixtures/ethereum")["KeyMetadata"]
        self.assertEqual((k1["KeyId"], k1["KeySpec"]), (K1_ID, "ECC_SECG_P256K1"))
        self.assertEqual(kms.get_public_key(KeyId=K1_ID)["PublicKey"], spki(self.k1))
        sig = kms.sign(KeyId=K1_ID, Message=msg, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
        self.k1.public_key().verify(sig, msg, ec.ECDSA(hashes.SHA256()))

        self.assertEqual(kms.describe_key(KeyId=ED_ID)["KeyMetadata"]["KeySpec"],
                         "ECC_NIST_EDWARDS25519")
        sig = kms.sign(KeyId=ED_ID, Message=msg, SigningAlgorithm="ED25519_SHA_512")["Signature"]
        self.ed.public_key().verify(sig, msg)

        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                            label=None)
        ct = self.rsa.public_key().encrypt(b"to the fixture", oaep)
        self.assertEqual(kms.decrypt(KeyId=RSA_ID, CiphertextBlob=ct,
                                     EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"],
                         b"to the fixture")

        self.assertEqual(kms.describe_key(KeyId=GEN_ID)["KeyMetadata"]["KeyState"], "Disabled")
        ext = kms.describe_key(KeyId=EXT_ID)["KeyMetadata"]
        self.assertEqual((ext["Origin"], ext["KeyState"]), ("EXTERNAL", "PendingImport"))
        west = s.client(region="us-west-2").describe_key(KeyId=WEST_ID)["KeyMetadata"]
        self.assertEqual(west["Arn"], "arn:aws:kms:us-west-2:%s:key/%s" % (ACCOUNT, WEST_ID))
        # A multi-Region key and its replicas, each with the alias, sharing the material.
        east_md = kms.describe_key(KeyId="alias/fixtures/dr")["KeyMetadata"]
        self.assertEqual(east_md["MultiRegionConfiguration"]["MultiRegionKeyType"], "PRIMARY")
        self.assertEqual(sorted(r["Region"] for r in
                                east_md["MultiRegionConfiguration"]["ReplicaKeys"]),
                         ["eu-west-1", "us-west-2"])
        blob = kms.encrypt(KeyId="alias/fixtures/dr", Plaintext=b"dr")["CiphertextBlob"]
        for region in ("us-west-2", "eu-west-1"):
            client = s.client(region=region)
            md = client.describe_key(KeyId="alias/fixtures/dr")["KeyMetadata"]
            self.assertEqual((md["KeyId"], md["MultiRegionConfiguration"]["MultiRegionKeyType"]),
                             (MRK_ID, "REPLICA"))
            self.assertEqual(md["CurrentKeyMaterialId"], east_md["CurrentKeyMaterialId"])
            self.assertEqual(client.decrypt(CiphertextBlob=blob)["Plaintext"], b"dr")
        # The other account's key exists there: its default policy refuses this account's caller
        # (AccessDenied), where a key that does not exist would be NotFound.
        other_arn = "arn:aws:kms:us-east-1:444455556666:key/" + OTHER_ID
        with self.assertRaises(Exception) as cm:
            kms.describe_key(KeyId=other_arn)
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")
        with self.assertRaises(Exception) as cm:
            kms.describe_key(KeyId=other_arn.replace(OTHER_ID, GEN_ID))
        self.assertEqual(cm.exception.response["Error"]["Code"], "NotFoundException")

    def test_servers_seeded_alike_decrypt_each_others_ciphertexts(self):
        seed = self.write_seed(self.seed_text())
        a, b = self.server(seed), self.server(seed)
        a.start()
        b.start()
        blob = a.client().encrypt(KeyId="alias/fixtures/app", Plaintext=b"recorded",
                                  EncryptionContext={"fixture": "1"})["CiphertextBlob"]
        out = b.client().decrypt(CiphertextBlob=blob, EncryptionContext={"fixture": "1"})
        self.assertEqual((out["Plaintext"], out["KeyId"]),
                         (b"recorded", "arn:aws:kms:us-east-1:%s:key/%s" % (ACCOUNT, SYM_ID)))
        # The same fixed material in another Region is another key: its blobs name other material.
        west = a.client(region="us-west-2").encrypt(KeyId=WEST_ID, Plaintext=b"w")
        self.assertEqual(b.client(region="us-west-2").decrypt(
            CiphertextBlob=west["CiphertextBlob"])["Plaintext"], b"w")
        self.assertNotEqual(
            b.client(region="us-west-2").describe_key(KeyId=WEST_ID)["KeyMetadata"][
                "CurrentKeyMaterialId"],
            b.client().describe_key(KeyId=SYM_ID)["KeyMetadata"]["CurrentKeyMaterialId"])
        with self.assertRaises(Exception) as cm:  # no key in us-east-1 has the blob's material
            b.client().decrypt(CiphertextBlob=west["CiphertextBlob"])
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")
        # Restarted, a server still decrypts what it and its twin recorded.
        b.restart()
        self.assertEqual(b.client().decrypt(CiphertextBlob=blob,
                                            EncryptionContext={"fixture": "1"})["Plaintext"],
                         b"recorded")

    def test_reset_restores_the_seed(self):
        s = self.server(self.write_seed(self.seed_text()))
        s.start()
        kms = s.client()
        grant_id = kms.list_grants(KeyId=SYM_ID)["Grants"][0]["GrantId"]
        kms.revoke_grant(KeyId=SYM_ID, GrantId=grant_id)
        extra = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.delete_alias(AliasName="alias/fixtures/app")
        kms.update_key_description(KeyId=SYM_ID, Description="changed")
        s.reset()
        ids = {k["KeyId"] for k in kms.list_keys()["Keys"]}
        self.assertNotIn(extra, ids)
        self.assertIn(SYM_ID, ids)
        md = kms.describe_key(KeyId="alias/fixtures/app")["KeyMetadata"]
        self.assertEqual(md["Description"], "fixed symmetric key")
        # The grant is back, with the same ID.
        self.assertEqual([g["GrantId"] for g in kms.list_grants(KeyId=SYM_ID)["Grants"]],
                         [grant_id])

    def test_export_captures_a_fixture(self):
        s = self.server(self.write_seed(self.seed_text()))
        s.extra_args = s.extra_args + ["--allow-export-material"]
        s.start()
        kms = s.client()
        status, body = s.admin("GET", "/_kmsd/export")
        self.assertEqual(status, 200)
        doc = json.loads(body)
        entries = {e["KeyId"]: e for e in doc["Keys"]}
        self.assertEqual(base64.b64decode(entries[SYM_ID]["KeyMaterial"]), SYM_MATERIAL)
        self.assertEqual(entries[SYM_ID]["Aliases"], ["alias/fixtures/app", "alias/fixtures/other"])
        self.assertEqual(entries[SYM_ID]["RotationPeriodInDays"], 180)
        self.assertEqual(sorted(entries[MRK_ID]["ReplicaRegions"]), ["eu-west-1", "us-west-2"])
        self.assertIn("-----BEGIN PRIVATE KEY-----", entries[K1_ID]["PrivateKeyPem"])
        self.assertFalse(entries[GEN_ID]["Enabled"])
        self.assertNotIn("KeyMaterial", entries[EXT_ID])
        # A key made at run time is captured too, and a server seeded from the export has it,
        # with the same material: what the first server encrypts, the second decrypts.
        made = kms.create_key(Description="made at run time")["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=made, Plaintext=b"captured")["CiphertextBlob"]
        status, body = s.admin("GET", "/_kmsd/export")
        seed = self.write_seed(body.decode())
        twin = self.server(seed)
        twin.start()
        twin_kms = twin.client()
        self.assertEqual(twin_kms.describe_key(KeyId=made)["KeyMetadata"]["Description"],
                         "made at run time")
        sig = twin_kms.sign(KeyId=K1_ID, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        self.k1.public_key().verify(sig["Signature"], b"m", ec.ECDSA(hashes.SHA256()))
        # The export names the material's ID, so ciphertexts recorded before it decrypt too.
        self.assertEqual(twin_kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"captured")
        fresh = twin_kms.encrypt(KeyId=made, Plaintext=b"both ways")["CiphertextBlob"]
        self.assertEqual(kms.decrypt(CiphertextBlob=fresh)["Plaintext"], b"both ways")

    def test_export_without_the_flag_has_no_material(self):
        s = self.server(self.write_seed(self.seed_text()))
        s.start()
        status, body = s.admin("GET", "/_kmsd/export")
        self.assertEqual(status, 200)
        for entry in json.loads(body)["Keys"]:
            self.assertNotIn("KeyMaterial", entry)
            self.assertNotIn("PrivateKeyPem", entry)
        self.assertNotIn(base64.b64encode(SYM_MATERIAL).decode(), body.decode())

    def test_localstack_custom_id_and_material_tags(self):
        seed = self.write_seed("Keys: []\n")
        a, b = self.server(seed), self.server(seed)
        a.start()
        b.start()
        tags = [{"TagKey": "_custom_id_", "TagValue": SYM_ID},
                {"TagKey": "_custom_key_material_",
                 "TagValue": base64.b64encode(SYM_MATERIAL).decode()},
                {"TagKey": "kept", "TagValue": "yes"}]
        for s in (a, b):
            md = s.client().create_key(Tags=tags)["KeyMetadata"]
            self.assertEqual(md["KeyId"], SYM_ID)
            self.assertEqual(s.client().list_resource_tags(KeyId=SYM_ID)["Tags"],
                             [{"TagKey": "kept", "TagValue": "yes"}])
        blob = a.client().encrypt(KeyId=SYM_ID, Plaintext=b"localstack")["CiphertextBlob"]
        self.assertEqual(b.client().decrypt(CiphertextBlob=blob)["Plaintext"], b"localstack")
        kms = a.client()
        with self.assertRaises(Exception) as cm:
            kms.create_key(Tags=tags[:1])
        self.assertEqual(cm.exception.response["Error"]["Code"], "AlreadyExistsException")
        with self.assertRaises(Exception) as cm:
            kms.create_key(Tags=[{"TagKey": "_custom_id_", "TagValue": "not-an-id"}])
        self.assertEqual(cm.exception.response["Error"]["Code"], "ValidationException")
        # An HMAC key's custom material gives Python's MAC.
        hmac_md = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", Tags=[
            {"TagKey": "_custom_key_material_",
             "TagValue": base64.b64encode(HMAC_MATERIAL).decode()}])["KeyMetadata"]
        mac = kms.generate_mac(KeyId=hmac_md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
        self.assertEqual(mac["Mac"], hmac.new(HMAC_MATERIAL, b"m", hashlib.sha256).digest())
        self.assertEqual(len(kms.list_keys()["Keys"]), 2)

    def refused(self, text, fragment):
        s = self.server(self.write_seed(text))
        proc = s.spawn()
        self.assertNotEqual(proc.wait(timeout=20), 0)
        self.assertIn(fragment, s.stderr())

    def test_errors_name_the_entry_and_the_field(self):
        sym = base64.b64encode(SYM_MATERIAL).decode()
        cases = (
            ("Keys:\n  - KeyId: %s\n  - KeyId: %s\n" % (SYM_ID, SYM_ID),
             "Keys[1] (KeyId %s) KeyId: the same key as Keys[0] (KeyId %s)" % (SYM_ID, SYM_ID)),
            ("Keys:\n  - KeyId: %s\n    Aliases: [alias/same]\n  - KeyId: %s\n"
             "    Aliases: [alias/same]\n" % (SYM_ID, GEN_ID),
             "Keys[1] (KeyId %s) Aliases: 'alias/same' is Keys[0] (KeyId %s)'s already"
             % (GEN_ID, SYM_ID)),
            ("Keys:\n  - KeyId: not-an-id\n",
             "Keys[0] (KeyId not-an-id) KeyId: a UUID or mrk- followed by 32 hex digits"),
            ("Keys:\n  - KeyId: %s\n    KeyMaterial: %s\n"
             % (SYM_ID, base64.b64encode(b"short").decode()),
             "Keys[0] (KeyId %s) KeyMaterial: Key material for a SYMMETRIC_DEFAULT key must be "
             "256 bits (32 bytes) long." % SYM_ID),
            ("Keys:\n  - KeyId: %s\n    KeySpec: HMAC_256\n" % HMAC_ID,
             "Keys[0] (KeyId %s) KeySpec: You must specify a KeyUsage value" % HMAC_ID),
            ("Keys:\n  - KeyId: %s\n    KeySpec: ECC_NIST_P256\n    KeyUsage: SIGN_VERIFY\n"
             "    PrivateKeyPem: |\n%s" % (K1_ID, textwrap.indent(pem(self.k1), " " * 6)),
             "Keys[0] (KeyId %s) PrivateKeyPem: a ECC_SECG_P256K1 key, not ECC_NIST_P256"
             % K1_ID),
            ("Keys:\n  - KeyId: %s\n    KeyMaterial: %s\n    Aliases: [alias/aws/s3]\n"
             % (SYM_ID, sym),
             "Keys[0] (KeyId %s) Aliases: 'alias/aws/s3' is not an alias name" % SYM_ID),
            ("Keys:\n  - KeyId: %s\n    Policy: '{\"Statement\": 1}'\n" % SYM_ID,
             "Keys[0] (KeyId %s) Policy:" % SYM_ID),
            ("Keys:\n  - KeyId: %s\n    Grants: [{GranteePrincipal: 'arn:aws:iam::%s:root', "
             "Operations: [Sign]}]\n" % (SYM_ID, ACCOUNT),
             "Keys[0] (KeyId %s) Grants[0]: Grant operation Sign is not valid for key usage "
             "ENCRYPT_DECRYPT" % SYM_ID),
            ("Keys:\n  - KeyId: %s\n    ReplicaRegions: [us-east-1]\n" % MRK_ID,
             "Keys[0] (KeyId %s) ReplicaRegions: 'us-east-1' is not another Region" % MRK_ID),
            ("Keys:\n  - KeyId: %s\n    MultiRegion: true\n" % SYM_ID,
             "Keys[0] (KeyId %s) MultiRegion: multi-Region keys, and only they, have mrk- key IDs"
             % SYM_ID),
        )
        for text, fragment in cases:
            with self.subTest(fragment=fragment):
                self.refused(text, fragment)


if __name__ == "__main__":
    unittest.main()
