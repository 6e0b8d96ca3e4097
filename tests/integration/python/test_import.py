"""Imported key material (Origin EXTERNAL) through boto3 and the AWS CLI, with the material
wrapped by tools that are not kmsd: Python `cryptography` (RSA-OAEP, RFC 5649 AES key wrap with
padding) and the `openssl` CLI (`pkeyutl` for RSA-OAEP, `enc -id-aes256-wrap-pad`). What the
imported keys then do is checked the same way: signatures verify under the original public key,
MACs equal Python's hmac, RSA ciphertexts made with the original public key decrypt.

Covers GetParametersForImport (every wrapping algorithm and spec AWS offers outside China, and
the refusals), ImportKeyMaterial (expiry on the KMS clock, re-import, ImportType
NEW_KEY_MATERIAL with RotateKeyOnDemand, every error with the key's state unchanged),
DeleteImportedKeyMaterial, ListKeyRotations of imported material, a restart, and the policy
condition keys of import.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from harness import ACCESS_KEY, ACCOUNT, SECRET_KEY, KmsdTestCase, key_arn

OPENSSL = "/usr/bin/openssl" if os.path.exists("/usr/bin/openssl") else shutil.which("openssl")
DAY = 86400
WRAPPING_ALGORITHMS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
                       "RSA_AES_KEY_WRAP_SHA_256"]
HASH = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256}
KEEP = "KEY_MATERIAL_DOES_NOT_EXPIRE"


def oaep(alg):
    h = HASH["SHA_1" if alg.endswith("SHA_1") else "SHA_256"]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def wrap(public_der, material, alg):
    """Wraps material the way AWS documents, with Python `cryptography`."""
    public = serialization.load_der_public_key(public_der)
    if alg.startswith("RSA_AES_KEY_WRAP"):
        aes_key = os.urandom(32)
        return public.encrypt(aes_key, oaep(alg)) + aes_key_wrap_with_padding(aes_key, material)
    return public.encrypt(material, oaep(alg))


def pkcs8(private_key):
    return private_key.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def spki(private_key):
    return private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


class ImportTestBase(KmsdTestCase):

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="kmsd-import-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def external_key(self, **kw):
        return self.create_key(Origin="EXTERNAL", **kw)

    def params(self, key_id, alg="RSAES_OAEP_SHA_256", spec="RSA_2048"):
        return self.kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=alg,
                                                  WrappingKeySpec=spec)

    def import_material(self, key_id, material, alg="RSAES_OAEP_SHA_256", spec="RSA_2048",
                        params=None, **kw):
        p = params or self.params(key_id, alg, spec)
        kw.setdefault("ExpirationModel", KEEP)
        return self.kms.import_key_material(
            KeyId=key_id, ImportToken=p["ImportToken"],
            EncryptedKeyMaterial=wrap(p["PublicKey"], material, alg), **kw)

    def describe(self, key_id):
        return self.kms.describe_key(KeyId=key_id)["KeyMetadata"]

    def kms_now(self):
        status, body = self.server.admin("GET", "/_kmsd/clock")
        self.assertEqual(status, 200)
        return json.loads(body)["now"]

    def advance(self, seconds):
        status, body = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": seconds})
        self.assertEqual(status, 200, body)

    def openssl(self, *args, data=None):
        p = subprocess.run([OPENSSL] + list(args), input=data, capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return p.stdout

    def path(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def wrap_with_openssl(self, public_der, material, alg):
        """The same wrapping with the openssl CLI, as AWS's guide does it."""
        md = "sha1" if alg.endswith("SHA_1") else "sha256"
        pub = self.path("wrapping.der", public_der)
        oaep_args = ["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pub,
                     "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:" + md,
                     "-pkeyopt", "rsa_mgf1_md:" + md]
        if not alg.startswith("RSA_AES_KEY_WRAP"):
            return self.openssl(*oaep_args, "-in", self.path("material.bin", material))
        aes_key = os.urandom(32)
        wrapped_key = self.openssl(*oaep_args, "-in", self.path("aes.bin", aes_key))
        wrapped_material = self.openssl("enc", "-id-aes256-wrap-pad", "-K", aes_key.hex(),
                                        "-iv", "A65959A6", "-in",
                                        self.path("material.bin", material))
        return wrapped_key + wrapped_material


class ImportSymmetricTest(ImportTestBase):

    def test_external_key_waits_for_its_material(self):
        md = self.external_key(Description="byok")
        self.assertEqual(md["Origin"], "EXTERNAL")
        self.assertEqual(md["KeyState"], "PendingImport")
        self.assertFalse(md["Enabled"])
        for absent in ("CurrentKeyMaterialId", "ExpirationModel", "ValidTo"):
            self.assertNotIn(absent, md)
        self.assertKmsError(self.kms.encrypt, "KMSInvalidStateException",
                            md["Arn"] + " is pending import.", KeyId=md["KeyId"],
                            Plaintext=b"x")
        self.assertKmsError(self.kms.enable_key, "KMSInvalidStateException",
                            md["Arn"] + " is pending import.", KeyId=md["KeyId"])

    def test_every_wrapping_algorithm_and_spec(self):
        now = self.kms_now()
        for alg in WRAPPING_ALGORITHMS:
            for spec, bits in (("RSA_2048", 2048), ("RSA_3072", 3072)):
                with self.subTest(alg=alg, spec=spec):
                    md = self.external_key()
                    p = self.params(md["KeyId"], alg, spec)
                    self.assertEqual(p["KeyId"], md["Arn"])
                    valid_to = p["ParametersValidTo"].timestamp()
                    self.assertAlmostEqual(valid_to, now + DAY, delta=120)
                    public = serialization.load_der_public_key(p["PublicKey"])
                    self.assertIsInstance(public, rsa.RSAPublicKey)
                    self.assertEqual(public.key_size, bits)
                    material = os.urandom(32)
                    out = self.import_material(md["KeyId"], material, alg, spec, params=p)
                    self.assertEqual(out["KeyId"], md["Arn"])
                    self.assertRegex(out["KeyMaterialId"], "^[0-9a-f]{64}$")
                    after = self.describe(md["KeyId"])
                    self.assertEqual(after["KeyState"], "Enabled")
                    self.assertTrue(after["Enabled"])
                    self.assertEqual(after["ExpirationModel"], KEEP)
                    self.assertNotIn("ValidTo", after)
                    self.assertEqual(after["CurrentKeyMaterialId"], out["KeyMaterialId"])
                    blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"byok")
                    self.assertEqual(self.kms.decrypt(
                        CiphertextBlob=blob["CiphertextBlob"])["Plaintext"], b"byok")

    def test_openssl_cli_wrapping(self):
        for alg in ("RSAES_OAEP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256"):
            with self.subTest(alg=alg):
                md = self.external_key()
                p = self.params(md["KeyId"], alg, "RSA_2048")
                wrapped = self.wrap_with_openssl(p["PublicKey"], os.urandom(32), alg)
                self.kms.import_key_material(KeyId=md["KeyId"], ImportToken=p["ImportToken"],
                                             EncryptedKeyMaterial=wrapped, ExpirationModel=KEEP)
                self.assertEqual(self.describe(md["KeyId"])["KeyState"], "Enabled")

    def test_material_id_is_fixed_by_key_and_material(self):
        material = os.urandom(32)
        a = self.external_key()["KeyId"]
        b = self.external_key()["KeyId"]
        first = self.import_material(a, material)["KeyMaterialId"]
        self.kms.delete_imported_key_material(KeyId=a)
        again = self.import_material(a, material, "RSA_AES_KEY_WRAP_SHA_1")["KeyMaterialId"]
        other = self.import_material(b, material)["KeyMaterialId"]
        self.assertEqual(first, again)
        self.assertNotEqual(first, other)

    def test_pkcs1_v1_5_and_sm2_are_refused(self):
        kid = self.external_key()["KeyId"]
        self.assertKmsError(self.params, "ValidationException",
                            "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use "
                            "RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or "
                            "RSA_AES_KEY_WRAP_SHA_1.",
                            key_id=kid, alg="RSAES_PKCS1_V1_5")
        for alg, spec in (("SM2PKE", "SM2"), ("RSAES_OAEP_SHA_256", "SM2")):
            self.assertKmsError(self.params, "ValidationException", key_id=kid, alg=alg,
                                spec=spec)
        self.assertEqual(self.describe(kid)["KeyState"], "PendingImport")

    def test_import_operations_need_an_external_key(self):
        md = self.create_key()
        msg = md["Arn"] + " origin is AWS_KMS which is not valid for this operation."
        self.assertKmsError(self.params, "UnsupportedOperationException", msg,
                            key_id=md["KeyId"])
        self.assertKmsError(self.kms.import_key_material, "UnsupportedOperationException", msg,
                            KeyId=md["KeyId"], ImportToken=b"t" * 64,
                            EncryptedKeyMaterial=b"m" * 256, ExpirationModel=KEEP)
        self.assertKmsError(self.kms.delete_imported_key_material,
                            "UnsupportedOperationException", msg, KeyId=md["KeyId"])
        ext = self.external_key()
        self.import_material(ext["KeyId"], os.urandom(32))
        self.assertKmsError(self.kms.enable_key_rotation, "UnsupportedOperationException",
                            ext["Arn"] + " origin is EXTERNAL which is not valid for this "
                            "operation.", KeyId=ext["KeyId"])

    def test_expiration_rules(self):
        kid = self.external_key()["KeyId"]
        now = self.kms_now()
        cases = (
            ({"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
             "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
            ({"ExpirationModel": None},
             "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"),
            ({"ExpirationModel": KEEP, "ValidTo": now + DAY},
             "A validTo date must not be set if the ExpirationModel is "
             "KEY_MATERIAL_DOES_NOT_EXPIRE"),
            ({"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now - 60},
             "The validTo date must be in the future."),
            ({"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": now + 366 * DAY},
             "The validTo date must be no more than 365 days from now."),
        )
        p = self.params(kid)
        wrapped = wrap(p["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_256")
        for extra, message in cases:
            with self.subTest(extra=extra):
                kw = {k: v for k, v in extra.items() if v is not None}
                self.assertKmsError(self.kms.import_key_material, "ValidationException", message,
                                    KeyId=kid, ImportToken=p["ImportToken"],
                                    EncryptedKeyMaterial=wrapped, **kw)
        self.assertEqual(self.describe(kid)["KeyState"], "PendingImport")

    def test_import_and_expiry_are_audited_as_aws_records_them(self):
        """ct-importkeymaterial.html and ct-deleteexpiredkeymaterial.html: the import's record
        keeps neither the token nor the wrapped material, dates validTo as CloudTrail does, and
        the expiry is an AwsServiceEvent at ValidTo on the KMS clock."""
        md = self.external_key()
        valid_to = int(self.kms_now()) + 3600
        p = self.params(md["KeyId"])
        material_id = self.import_material(md["KeyId"], os.urandom(32), params=p,
                                           ExpirationModel="KEY_MATERIAL_EXPIRES",
                                           ValidTo=valid_to)["KeyMaterialId"]
        status, body = self.server.admin("GET", "/_kmsd/audit?eventName=ImportKeyMaterial")
        self.assertEqual(status, 200)
        [record] = json.loads(body)["Records"]
        self.assertEqual(set(record["requestParameters"]),
                         {"keyId", "validTo", "expirationModel"})
        self.assertEqual(record["requestParameters"]["validTo"],
                         time.strftime("%b %-d, %Y, %-I:%M:%S ", time.gmtime(valid_to)) +
                         time.strftime("%p", time.gmtime(valid_to)))
        self.assertEqual(record["responseElements"],
                         {"keyId": md["Arn"], "keyMaterialId": material_id})
        self.assertNotIn(base64.b64encode(p["ImportToken"]).decode()[:40], body.decode())
        self.advance(7200)
        status, body = self.server.admin("GET",
                                         "/_kmsd/audit?eventName=DeleteExpiredKeyMaterial")
        [expired] = json.loads(body)["Records"]
        self.assertEqual(expired["eventType"], "AwsServiceEvent")
        self.assertEqual(expired["serviceEventDetails"],
                         {"keyId": md["KeyId"], "keyMaterialId": material_id})
        self.assertEqual(expired["eventTime"],
                         time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(valid_to)))

    def test_material_expires_on_the_kms_clock(self):
        md = self.external_key()
        material = os.urandom(32)
        valid_to = int(self.kms_now()) + 3600
        self.import_material(md["KeyId"], material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                             ValidTo=valid_to)
        after = self.describe(md["KeyId"])
        self.assertEqual(after["ExpirationModel"], "KEY_MATERIAL_EXPIRES")
        self.assertEqual(after["ValidTo"].timestamp(), valid_to)
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"until then")["CiphertextBlob"]

        self.advance(7200)
        expired = self.describe(md["KeyId"])
        self.assertEqual(expired["KeyState"], "PendingImport")
        self.assertNotIn("ExpirationModel", expired)
        self.assertEqual(expired["CurrentKeyMaterialId"], after["CurrentKeyMaterialId"])
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException",
                            md["Arn"] + " is pending import.", CiphertextBlob=blob)
        rotations = self.kms.list_key_rotations(KeyId=md["KeyId"],
                                                IncludeKeyMaterial="ALL_KEY_MATERIAL")
        self.assertEqual([(r["KeyMaterialState"], r["ImportState"])
                          for r in rotations["Rotations"]], [("CURRENT", "PENDING_IMPORT")])

        # Other material is refused and changes nothing; the same material brings it back.
        self.assertKmsError(self.import_material, "IncorrectKeyMaterialException",
                            key_id=md["KeyId"], material=os.urandom(32))
        self.assertEqual(self.describe(md["KeyId"])["KeyState"], "PendingImport")
        self.import_material(md["KeyId"], material)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"until then")

    def test_token_and_wrapping_errors_leave_the_key_unchanged(self):
        md = self.external_key()
        kid = md["KeyId"]
        p = self.params(kid)
        other = self.params(self.external_key()["KeyId"])
        material = os.urandom(32)
        good = wrap(p["PublicKey"], material, "RSAES_OAEP_SHA_256")
        token = bytearray(p["ImportToken"])
        token[-1] ^= 1
        cases = (
            ("InvalidImportTokenException", other["ImportToken"], good),
            ("InvalidImportTokenException", bytes(token), good),
            ("InvalidImportTokenException", b"not a token at all", good),
            ("InvalidCiphertextException", p["ImportToken"], good[:-1] + bytes([good[-1] ^ 1])),
            ("InvalidCiphertextException", p["ImportToken"],
             wrap(other["PublicKey"], material, "RSAES_OAEP_SHA_256")),
            ("IncorrectKeyMaterialException", p["ImportToken"],
             wrap(p["PublicKey"], os.urandom(16), "RSAES_OAEP_SHA_256")),
        )
        for code, token_bytes, wrapped in cases:
            with self.subTest(code=code, token=len(token_bytes)):
                self.assertKmsError(self.kms.import_key_material, code, KeyId=kid,
                                    ImportToken=token_bytes, EncryptedKeyMaterial=wrapped,
                                    ExpirationModel=KEEP)
                self.assertEqual(self.describe(kid)["KeyState"], "PendingImport")
        # A token is good for 24 hours of KMS time.
        self.advance(DAY + 60)
        self.assertKmsError(self.kms.import_key_material, "ExpiredImportTokenException",
                            KeyId=kid, ImportToken=p["ImportToken"], EncryptedKeyMaterial=good,
                            ExpirationModel=KEEP)
        self.assertEqual(self.describe(kid)["KeyState"], "PendingImport")

    def test_delete_and_reimport(self):
        md = self.external_key()
        material = os.urandom(32)
        mid = self.import_material(md["KeyId"], material)["KeyMaterialId"]
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
        out = self.kms.delete_imported_key_material(KeyId=md["KeyId"])
        self.assertEqual((out["KeyId"], out["KeyMaterialId"]), (md["Arn"], mid))
        gone = self.describe(md["KeyId"])
        self.assertEqual(gone["KeyState"], "PendingImport")
        self.assertNotIn("ExpirationModel", gone)
        self.assertEqual(gone["CurrentKeyMaterialId"], mid)
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException",
                            md["Arn"] + " is pending import.", CiphertextBlob=blob)
        # Deleting again changes nothing.
        self.kms.delete_imported_key_material(KeyId=md["KeyId"])
        self.import_material(md["KeyId"], material, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"kept")
        # A disabled key keeps its state through deletion and re-import... of its material.
        self.kms.disable_key(KeyId=md["KeyId"])
        self.import_material(md["KeyId"], material)
        self.assertEqual(self.describe(md["KeyId"])["KeyState"], "Disabled")

    def test_new_key_material_and_on_demand_rotation(self):
        md = self.external_key()
        kid = md["KeyId"]
        first = self.import_material(kid, os.urandom(32),
                                     KeyMaterialDescription="first")["KeyMaterialId"]
        old_blob = self.kms.encrypt(KeyId=kid, Plaintext=b"old")["CiphertextBlob"]
        self.assertKmsError(self.kms.rotate_key_on_demand, "KMSInvalidStateException",
                            "No available key material pending rotation for the key: %s."
                            % md["Arn"], KeyId=kid)
        valid_to = int(self.kms_now()) + 30 * DAY
        second = self.import_material(kid, os.urandom(32), ImportType="NEW_KEY_MATERIAL",
                                      KeyMaterialDescription="second",
                                      ExpirationModel="KEY_MATERIAL_EXPIRES",
                                      ValidTo=valid_to)["KeyMaterialId"]
        self.assertEqual(self.describe(kid)["CurrentKeyMaterialId"], first)
        listed = self.kms.list_key_rotations(KeyId=kid, IncludeKeyMaterial="ALL_KEY_MATERIAL")
        rows = [{k: v for k, v in r.items()} for r in listed["Rotations"]]
        self.assertEqual(rows[0], {"KeyId": kid, "KeyMaterialId": first,
                                   "KeyMaterialDescription": "first", "ImportState": "IMPORTED",
                                   "KeyMaterialState": "CURRENT", "ExpirationModel": KEEP})
        self.assertEqual(rows[1]["KeyMaterialState"], "PENDING_ROTATION")
        self.assertEqual(rows[1]["ExpirationModel"], "KEY_MATERIAL_EXPIRES")
        self.assertEqual(rows[1]["ValidTo"].timestamp(), valid_to)
        self.assertNotIn("RotationDate", rows[1])
        self.assertEqual(self.kms.list_key_rotations(KeyId=kid)["Rotations"], [])

        third = os.urandom(32)
        p = self.params(kid)
        err = self.assertKmsError(
            self.kms.import_key_material, "KMSInvalidStateException", KeyId=kid,
            ImportToken=p["ImportToken"], ImportType="NEW_KEY_MATERIAL", ExpirationModel=KEEP,
            EncryptedKeyMaterial=wrap(p["PublicKey"], third, "RSAES_OAEP_SHA_256"))
        msg = err.response["Error"]["Message"]
        self.assertRegex(msg, r"^New key material \(id: [0-9a-f]{64}\) cannot be imported into "
                         r"KMS key %s, because another key material \(id: %s\) is pending "
                         r"rotation\.$" % (kid, second))
        self.assertKmsError(self.import_material, "IncorrectKeyMaterialException", key_id=kid,
                            material=os.urandom(32), ImportType="EXISTING_KEY_MATERIAL")

        self.assertEqual(self.kms.rotate_key_on_demand(KeyId=kid)["KeyId"], md["Arn"])
        self.assertEqual(self.describe(kid)["CurrentKeyMaterialId"], second)
        [rotation] = self.kms.list_key_rotations(KeyId=kid)["Rotations"]
        self.assertEqual((rotation["KeyMaterialId"], rotation["KeyMaterialState"],
                          rotation["RotationType"]), (second, "CURRENT", "ON_DEMAND"))
        new_blob = self.kms.encrypt(KeyId=kid, Plaintext=b"new")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=old_blob)["Plaintext"], b"old")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=new_blob)["Plaintext"], b"new")
        self.assertEqual(self.describe(kid)["ValidTo"].timestamp(), valid_to)
        # Deleting the first material makes the key unusable: all must be imported.
        self.kms.delete_imported_key_material(KeyId=kid, KeyMaterialId=first)
        self.assertEqual(self.describe(kid)["KeyState"], "PendingImport")

    def test_restart_keeps_material_and_tokens(self):
        md = self.external_key()
        material = os.urandom(32)
        self.import_material(md["KeyId"], material)
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"durable")["CiphertextBlob"]
        pending = self.external_key()["KeyId"]
        p = self.params(pending)
        self.server.restart()
        # The class's clients follow the server to its new port.
        type(self).kms = self.server.client()
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"durable")
        self.import_material(pending, os.urandom(32), params=p)
        self.assertEqual(self.describe(pending)["KeyState"], "Enabled")

    def test_import_condition_keys(self):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:GetParametersForImport",
             "Resource": "*",
             "Condition": {"StringNotEquals": {"kms:WrappingAlgorithm":
                                               "RSA_AES_KEY_WRAP_SHA_256"}}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:GetParametersForImport",
             "Resource": "*",
             "Condition": {"StringNotEquals": {"kms:WrappingKeySpec": "RSA_4096"}}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:ImportKeyMaterial",
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"}}}]}
        kid = self.external_key(Policy=json.dumps(policy))["KeyId"]
        self.assertKmsError(self.params, "AccessDeniedException", key_id=kid,
                            alg="RSAES_OAEP_SHA_256", spec="RSA_4096")
        self.assertKmsError(self.params, "AccessDeniedException", key_id=kid,
                            alg="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_2048")
        p = self.params(kid, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
        material = os.urandom(32)
        wrapped = wrap(p["PublicKey"], material, "RSA_AES_KEY_WRAP_SHA_256")
        self.assertKmsError(self.kms.import_key_material, "AccessDeniedException", KeyId=kid,
                            ImportToken=p["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ValidTo=int(self.kms_now()) + DAY)
        self.kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"],
                                     EncryptedKeyMaterial=wrapped, ExpirationModel=KEEP)
        self.assertEqual(self.describe(kid)["KeyState"], "Enabled")


class ImportAsymmetricAndHmacTest(ImportTestBase):

    def test_hmac_material_gives_pythons_macs(self):
        for spec, alg, digest, good_len, bad_len in (
                ("HMAC_224", "HMAC_SHA_224", hashlib.sha224, 64, 27),
                ("HMAC_256", "HMAC_SHA_256", hashlib.sha256, 40, 65),
                ("HMAC_384", "HMAC_SHA_384", hashlib.sha384, 48, 47),
                ("HMAC_512", "HMAC_SHA_512", hashlib.sha512, 128, 129)):
            with self.subTest(spec=spec):
                md = self.external_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
                self.assertKmsError(self.import_material, "IncorrectKeyMaterialException",
                                    key_id=md["KeyId"], material=os.urandom(bad_len))
                material = os.urandom(good_len)
                self.import_material(md["KeyId"], material)
                msg = b"message for " + spec.encode()
                mac = self.kms.generate_mac(KeyId=md["KeyId"], Message=msg,
                                            MacAlgorithm=alg)["Mac"]
                self.assertEqual(mac, hmac.new(material, msg, digest).digest())
                self.assertNotIn("CurrentKeyMaterialId", self.describe(md["KeyId"]))

    def test_ecc_and_ed25519_keys_sign_for_their_public_keys(self):
        cases = (("ECC_NIST_P256", ec.generate_private_key(ec.SECP256R1()), "ECDSA_SHA_256",
                  "RSAES_OAEP_SHA_256", "RSA_2048"),
                 ("ECC_NIST_P384", ec.generate_private_key(ec.SECP384R1()), "ECDSA_SHA_384",
                  "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
                 ("ECC_NIST_P521", ec.generate_private_key(ec.SECP521R1()), "ECDSA_SHA_512",
                  "RSAES_OAEP_SHA_1", "RSA_3072"),
                 ("ECC_SECG_P256K1", ec.generate_private_key(ec.SECP256K1()), "ECDSA_SHA_256",
                  "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
                 ("ECC_NIST_EDWARDS25519", ed25519.Ed25519PrivateKey.generate(),
                  "ED25519_SHA_512", "RSAES_OAEP_SHA_256", "RSA_2048"))
        for spec, private, alg, wrapping, wrapping_spec in cases:
            with self.subTest(spec=spec):
                md = self.external_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
                self.import_material(md["KeyId"], pkcs8(private), wrapping, wrapping_spec)
                self.assertEqual(self.kms.get_public_key(KeyId=md["KeyId"])["PublicKey"],
                                 spki(private))
                msg = b"signed by imported " + spec.encode()
                sig = self.kms.sign(KeyId=md["KeyId"], Message=msg,
                                    SigningAlgorithm=alg)["Signature"]
                if spec == "ECC_NIST_EDWARDS25519":
                    private.public_key().verify(sig, msg)
                else:
                    h = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
                    private.public_key().verify(sig, msg, ec.ECDSA(h[alg[-3:]]()))

    def test_rsa_material_needs_aes_key_wrap(self):
        md = self.external_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
        for alg in ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"):
            self.assertKmsError(self.params, "ValidationException",
                                "To import RSA key material, use an RSA_AES_KEY_WRAP_SHA_1 or "
                                "RSA_AES_KEY_WRAP_SHA_256 wrapping algorithm.",
                                key_id=md["KeyId"], alg=alg)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        p = self.params(md["KeyId"], "RSA_AES_KEY_WRAP_SHA_256", "RSA_3072")
        wrapped = self.wrap_with_openssl(p["PublicKey"], pkcs8(private),
                                         "RSA_AES_KEY_WRAP_SHA_256")
        self.kms.import_key_material(KeyId=md["KeyId"], ImportToken=p["ImportToken"],
                                     EncryptedKeyMaterial=wrapped, ExpirationModel=KEEP)
        ct = private.public_key().encrypt(b"to the imported key", oaep("RSAES_OAEP_SHA_256"))
        out = self.kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct,
                               EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertEqual(out["Plaintext"], b"to the imported key")

    def test_p521_under_rsa_2048_oaep_is_refused(self):
        md = self.external_key(KeySpec="ECC_NIST_P521", KeyUsage="SIGN_VERIFY")
        self.assertKmsError(self.params, "ValidationException", key_id=md["KeyId"],
                            alg="RSAES_OAEP_SHA_256", spec="RSA_2048")

    def test_asymmetric_material_cannot_change(self):
        md = self.external_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
        private = ec.generate_private_key(ec.SECP256R1())
        self.import_material(md["KeyId"], pkcs8(private))
        other = ec.generate_private_key(ec.SECP256R1())
        self.assertKmsError(self.import_material, "IncorrectKeyMaterialException",
                            key_id=md["KeyId"], material=pkcs8(other))
        self.assertKmsError(self.import_material, "IncorrectKeyMaterialException",
                            key_id=md["KeyId"], material=pkcs8(ec.generate_private_key(
                                ec.SECP384R1())))
        self.assertKmsError(self.import_material, "ValidationException",
                            "ImportType is valid only for symmetric encryption keys.",
                            key_id=md["KeyId"], material=pkcs8(private),
                            ImportType="EXISTING_KEY_MATERIAL")
        self.kms.delete_imported_key_material(KeyId=md["KeyId"])
        self.assertKmsError(self.kms.get_public_key, "KMSInvalidStateException",
                            md["Arn"] + " is pending import.", KeyId=md["KeyId"])
        self.import_material(md["KeyId"], pkcs8(private))
        self.assertEqual(self.kms.get_public_key(KeyId=md["KeyId"])["PublicKey"], spki(private))


@unittest.skipIf(shutil.which("aws") is None, "aws CLI not on PATH")
class ImportCliTest(ImportTestBase):
    """The BYOK ceremony as AWS's guide shows it: the AWS CLI and openssl only."""

    def aws(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""})
        cmd = ["aws", "kms"] + list(args) + ["--endpoint-url", self.server.endpoint,
                                             "--region", "us-east-1", "--output", "json"]
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, "%s\n%s" % (" ".join(cmd), p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def test_cli_ceremony(self):
        kid = self.aws("create-key", "--origin", "EXTERNAL")["KeyMetadata"]["KeyId"]
        p = self.aws("get-parameters-for-import", "--key-id", kid,
                     "--wrapping-algorithm", "RSA_AES_KEY_WRAP_SHA_256",
                     "--wrapping-key-spec", "RSA_2048")
        token = self.path("token.bin", base64.b64decode(p["ImportToken"]))
        public = base64.b64decode(p["PublicKey"])
        wrapped = self.wrap_with_openssl(public, self.openssl("rand", "32"),
                                         "RSA_AES_KEY_WRAP_SHA_256")
        out = self.aws("import-key-material", "--key-id", kid,
                       "--encrypted-key-material", "fileb://" + self.path("wrapped.bin", wrapped),
                       "--import-token", "fileb://" + token,
                       "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
        self.assertEqual(out["KeyId"], key_arn(kid))
        enc = self.aws("encrypt", "--key-id", kid, "--plaintext",
                       "fileb://" + self.path("plain.bin", b"cli byok"))
        dec = self.aws("decrypt", "--ciphertext-blob",
                       "fileb://" + self.path("blob.bin", base64.b64decode(enc["CiphertextBlob"])))
        self.assertEqual(base64.b64decode(dec["Plaintext"]), b"cli byok")


if __name__ == "__main__":
    unittest.main()
