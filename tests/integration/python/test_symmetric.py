"""Symmetric cryptography through boto3: envelope encryption, ciphertext blob
shape and size, Decrypt/ReEncrypt failure matrix, data keys, GenerateRandom.

Reference: kms-reference.md §3.5, §4, §8.
"""

import base64
import os
import unittest

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from harness import KmsdTestCase, key_arn, alias_arn

INCORRECT_KEY_MSG = ("The key ID in the request does not identify a CMK that can "
                     "perform this operation.")


def expected_blob_len(p):
    """kms-reference §4.2: 58-byte clear header + DER ContentInfo whose
    encrypted content is p + 27 bytes (all DER lengths minimal)."""
    def ln(n):
        return 1 if n < 128 else 2 if n < 256 else 3

    def tlv(n):
        return 1 + ln(n) + n

    e = p + 27
    eci = tlv(11 + 32 + tlv(e))
    enc_data = tlv(3 + eci)
    explicit0 = tlv(enc_data)
    content_info = tlv(11 + explicit0)
    return 58 + content_info


# Table from kms-reference §4.2 (plaintext bytes -> blob bytes).
SIZE_TABLE = {1: 153, 4: 156, 16: 168, 24: 176, 32: 184, 48: 201, 52: 207,
              64: 220, 128: 285, 256: 418, 1024: 1186, 4096: 4258}
# Overhead thresholds from §4.2: first P with a new overhead.
THRESHOLDS = {1: 152, 36: 153, 49: 154, 51: 155, 56: 156, 101: 157, 160: 158,
              174: 159, 177: 160, 183: 161, 229: 162}


class SelfCheck(unittest.TestCase):
    def test_size_formula_matches_reference_table(self):
        for p, n in SIZE_TABLE.items():
            self.assertEqual(expected_blob_len(p), n, p)
        for p, overhead in THRESHOLDS.items():
            self.assertEqual(expected_blob_len(p) - p, overhead, p)
            if p > 1:
                self.assertEqual(expected_blob_len(p - 1) - (p - 1), overhead - 1, p)


class EnvelopeTest(KmsdTestCase):

    def _key_and_alias(self, alias="alias/envelope"):
        md = self.create_key(Description="envelope key")
        self.kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
        return md

    def test_envelope_flow(self):
        md = self._key_and_alias()
        arn = md["Arn"]
        self.assertEqual(arn, key_arn(md["KeyId"]))
        dk = self.kms.generate_data_key(KeyId="alias/envelope", KeySpec="AES_256")
        self.assertEqual(dk["KeyId"], arn)
        self.assertEqual(len(dk["Plaintext"]), 32)
        self.assertEqual(len(dk["CiphertextBlob"]), 184)
        self.assertEqual(dk["CiphertextBlob"][:3], b"\x01\x02\x03")
        self.assertEqual(dk["KeyMaterialId"], md["CurrentKeyMaterialId"])
        self.assertNotIn("CiphertextForRecipient", dk)

        # Encrypt locally with the data key, then forget it.
        nonce = os.urandom(12)
        secret = b"the quick brown fox " * 50
        sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, secret, b"hdr")
        blob = dk["CiphertextBlob"]
        del dk

        # Decrypt without KeyId: the blob names its key.
        out = self.kms.decrypt(CiphertextBlob=blob)
        self.assertEqual(out["KeyId"], arn)
        self.assertEqual(out["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(out["KeyMaterialId"], md["CurrentKeyMaterialId"])
        self.assertEqual(AESGCM(out["Plaintext"]).decrypt(nonce, sealed, b"hdr"), secret)

        # Decrypt with KeyId given in every accepted form.
        for kid in (md["KeyId"], arn, "alias/envelope", alias_arn("alias/envelope")):
            out2 = self.kms.decrypt(CiphertextBlob=blob, KeyId=kid)
            self.assertEqual(out2["Plaintext"], out["Plaintext"], kid)
            self.assertEqual(out2["KeyId"], arn, kid)

    def test_envelope_with_encryption_context(self):
        md = self._key_and_alias()
        ctx = {"purpose": "test", "tenant": "t-1", "unicode": "\u00e9\u4e2d"}
        dk = self.kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256",
                                        EncryptionContext=ctx)
        # Context does not change the size (§4.2).
        self.assertEqual(len(dk["CiphertextBlob"]), 184)
        blob = dk["CiphertextBlob"]
        # Order of pairs is irrelevant.
        reordered = dict(reversed(list(ctx.items())))
        out = self.kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)
        self.assertEqual(out["Plaintext"], dk["Plaintext"])
        self.assertEqual(out["KeyId"], md["Arn"])

        bad_contexts = [
            None,                                            # missing
            {},                                              # empty
            {"purpose": "test", "tenant": "t-2", "unicode": ctx["unicode"]},  # value differs
            dict(ctx, extra="x"),                            # extra pair
            {"purpose": "test", "tenant": "t-1"},            # pair missing
            {"Purpose": "test", "tenant": "t-1", "unicode": ctx["unicode"]},  # case of key
            {"purpose": "TEST", "tenant": "t-1", "unicode": ctx["unicode"]},  # case of value
        ]
        for bad in bad_contexts:
            kw = {"CiphertextBlob": blob}
            if bad is not None:
                kw["EncryptionContext"] = bad
            with self.subTest(context=bad):
                self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "", **kw)

    def test_context_on_blob_without_context_fails(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"abc")["CiphertextBlob"]
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=blob, EncryptionContext={"a": "b"})

    def test_empty_context_equals_no_context(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"abc",
                                EncryptionContext={})["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"abc")
        blob2 = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"abc")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob2, EncryptionContext={})["Plaintext"],
                         b"abc")

    def test_context_encoding_is_unambiguous(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret",
                                EncryptionContext={"ab": "c"})["CiphertextBlob"]
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=blob, EncryptionContext={"a": "bc"})
        blob2 = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret",
                                 EncryptionContext={"a": "b", "c": "d"})["CiphertextBlob"]
        for bad in ({"a": "bc", "": "d"}, {"a": "b,c", "": "d"}, {"a": "b", "cd": ""},
                    {"ac": "bd"}):
            with self.subTest(context=bad):
                self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                                    CiphertextBlob=blob2, EncryptionContext=bad)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob,
                                          EncryptionContext={"ab": "c"})["Plaintext"], b"secret")

    def test_tampered_truncated_extended_blobs(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x" * 32)["CiphertextBlob"]
        self.assertEqual(len(blob), 184)
        variants = {
            "appended byte": blob + b"\x00",
            "appended blob": blob + blob,
            "last byte cut": blob[:-1],
            "header only": blob[:58],
            "header cut": blob[:20],
            "single byte": blob[:1],
            "zeros": b"\x00" * len(blob),
            "random": os.urandom(184),
        }
        for pos in (40, 50, 60, 100, len(blob) - 20, len(blob) - 1):
            t = bytearray(blob)
            t[pos] ^= 0x01
            variants["bit flip at %d" % pos] = bytes(t)
        for name, bad in variants.items():
            with self.subTest(variant=name):
                self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                                    CiphertextBlob=bad)
        # The original still decrypts.
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x" * 32)

    def test_wrong_key_id_is_incorrect_key(self):
        md1 = self.create_key()
        md2 = self.create_key()
        self.kms.create_alias(AliasName="alias/other", TargetKeyId=md2["KeyId"])
        blob = self.kms.encrypt(KeyId=md1["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
        for kid in (md2["KeyId"], md2["Arn"], "alias/other", alias_arn("alias/other")):
            with self.subTest(key=kid):
                self.assertKmsError(self.kms.decrypt, "IncorrectKeyException",
                                    INCORRECT_KEY_MSG, CiphertextBlob=blob, KeyId=kid)
        # Also for ReEncrypt's SourceKeyId.
        self.assertKmsError(self.kms.re_encrypt, "IncorrectKeyException", INCORRECT_KEY_MSG,
                            CiphertextBlob=blob, SourceKeyId=md2["KeyId"],
                            DestinationKeyId=md2["KeyId"])

    def test_incorrect_key_checked_before_context(self):
        md1 = self.create_key()
        md2 = self.create_key()
        blob = self.kms.encrypt(KeyId=md1["KeyId"], Plaintext=b"hello",
                                EncryptionContext={"k": "v"})["CiphertextBlob"]
        self.assertKmsError(self.kms.decrypt, "IncorrectKeyException", INCORRECT_KEY_MSG,
                            CiphertextBlob=blob, KeyId=md2["KeyId"],
                            EncryptionContext={"k": "wrong"})

    def test_disabled_key(self):
        md = self.create_key()
        arn = md["Arn"]
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
        self.kms.disable_key(KeyId=md["KeyId"])
        msg = "%s is disabled." % arn
        self.assertKmsError(self.kms.decrypt, "DisabledException", msg, CiphertextBlob=blob)
        self.assertKmsError(self.kms.decrypt, "DisabledException", msg,
                            CiphertextBlob=blob, KeyId=md["KeyId"])
        self.assertKmsError(self.kms.encrypt, "DisabledException", msg,
                            KeyId=md["KeyId"], Plaintext=b"x")
        self.assertKmsError(self.kms.generate_data_key, "DisabledException", msg,
                            KeyId=md["KeyId"], KeySpec="AES_256")
        self.assertKmsError(self.kms.generate_data_key_without_plaintext, "DisabledException",
                            msg, KeyId=md["KeyId"], KeySpec="AES_256")
        self.assertKmsError(self.kms.re_encrypt, "DisabledException", msg,
                            CiphertextBlob=blob, DestinationKeyId=md["KeyId"])
        self.kms.enable_key(KeyId=md["KeyId"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"hello")

    def test_blob_of_deleted_key_is_access_denied(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"orphan")["CiphertextBlob"]
        self.server.reset()
        self.assertKmsError(self.kms.decrypt, "AccessDeniedException",
                            "User: arn:aws:iam::111122223333:root is not authorized to perform: "
                            "kms:Decrypt on the resource associated with this ciphertext because "
                            "the resource does not exist in this Region, no resource-based "
                            "policies allow access, or a resource-based policy explicitly denies "
                            "access",
                            CiphertextBlob=blob)

    def test_reencrypt_destination_disabled(self):
        md1 = self.create_key()
        md2 = self.create_key()
        blob = self.kms.encrypt(KeyId=md1["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
        self.kms.disable_key(KeyId=md2["KeyId"])
        self.assertKmsError(self.kms.re_encrypt, "DisabledException",
                            "%s is disabled." % md2["Arn"],
                            CiphertextBlob=blob, DestinationKeyId=md2["KeyId"])


class BlobShapeTest(KmsdTestCase):

    def setUp(self):
        super().setUp()
        self.md = self.create_key()

    def test_encrypt_sizes_1_to_35(self):
        for p in range(1, 36):
            blob = self.kms.encrypt(KeyId=self.md["KeyId"], Plaintext=os.urandom(p))["CiphertextBlob"]
            self.assertEqual(len(blob), p + 152, "plaintext %d bytes" % p)
            self.assertEqual(blob[:3], b"\x01\x02\x02", p)

    def test_encrypt_sizes_table_and_thresholds(self):
        sizes = set(SIZE_TABLE)
        for p in THRESHOLDS:
            sizes.update({p, max(1, p - 1)})
        sizes.update({35, 36, 255, 256, 257, 4095})
        for p in sorted(sizes):
            pt = os.urandom(p)
            blob = self.kms.encrypt(KeyId=self.md["KeyId"], Plaintext=pt)["CiphertextBlob"]
            want = SIZE_TABLE.get(p, expected_blob_len(p))
            self.assertEqual(len(blob), want, "plaintext %d bytes" % p)
            self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], pt, p)

    def test_4096_bytes(self):
        pt = os.urandom(4096)
        blob = self.kms.encrypt(KeyId=self.md["KeyId"], Plaintext=pt)["CiphertextBlob"]
        self.assertEqual(len(blob), 4258)
        self.assertEqual(len(base64.b64encode(blob)), 5680)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], pt)

    def test_data_key_sizes(self):
        kid = self.md["KeyId"]
        r = self.kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
        self.assertEqual((len(r["Plaintext"]), len(r["CiphertextBlob"])), (32, 184))
        self.assertEqual(len(base64.b64encode(r["CiphertextBlob"])), 248)
        r = self.kms.generate_data_key(KeyId=kid, KeySpec="AES_128")
        self.assertEqual((len(r["Plaintext"]), len(r["CiphertextBlob"])), (16, 168))
        self.assertEqual(r["CiphertextBlob"][:3], b"\x01\x02\x03")
        for n in (1, 35, 36, 64, 1024):
            r = self.kms.generate_data_key(KeyId=kid, NumberOfBytes=n)
            self.assertEqual(len(r["Plaintext"]), n)
            self.assertEqual(len(r["CiphertextBlob"]), expected_blob_len(n), n)
            self.assertEqual(r["CiphertextBlob"][:3], b"\x01\x02\x03")
            self.assertEqual(self.kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"],
                             r["Plaintext"])

    def test_blob_layout(self):
        """§4.1 layout: 01 02 {02|03} 00 78, 32-byte key-dependent id, 01,
        16-byte nonce, 4-byte big-endian length of the remainder, DER."""
        kid = self.md["KeyId"]
        other = self.create_key()["KeyId"]
        blobs = [self.kms.encrypt(KeyId=kid, Plaintext=b"a" * 20)["CiphertextBlob"],
                 self.kms.encrypt(KeyId=kid, Plaintext=b"a" * 20)["CiphertextBlob"],
                 self.kms.generate_data_key(KeyId=kid, KeySpec="AES_256")["CiphertextBlob"]]
        for b in blobs:
            self.assertEqual(b[0:2], b"\x01\x02")
            self.assertEqual(b[3:5], b"\x00\x78")
            self.assertEqual(b[37], 0x01)
            self.assertEqual(int.from_bytes(b[54:58], "big"), len(b) - 58)
            self.assertEqual(b[58], 0x30)  # DER SEQUENCE
        self.assertTrue(base64.b64encode(blobs[0]).startswith(b"AQICAH"))
        self.assertTrue(base64.b64encode(blobs[2]).startswith(b"AQIDAH"))
        # The 32-byte identifier is the same for all blobs of one key...
        self.assertEqual(blobs[0][5:37], blobs[1][5:37])
        self.assertEqual(blobs[0][5:37], blobs[2][5:37])
        # ...and differs between keys.
        ob = self.kms.encrypt(KeyId=other, Plaintext=b"a" * 20)["CiphertextBlob"]
        self.assertNotEqual(ob[5:37], blobs[0][5:37])
        # Every Encrypt is non-deterministic.
        self.assertNotEqual(blobs[0], blobs[1])
        self.assertNotEqual(blobs[0][38:54], blobs[1][38:54])

    def test_blobs_open_and_are_made_with_pythons_cryptography(self):
        """The blob's cryptography, checked by a library kmsd does not use: with the key's
        material known (the _custom_key_material_ tag), Python's `cryptography` derives the
        message key (HKDF-SHA256: salt = the blob's nonce, info = "kmsd-blob-v1") and opens the
        AES-256-GCM part (AAD: the 58-byte header, then the context as u32 count and u32-length-
        prefixed keys and values in key order); and a blob it seals itself, kmsd decrypts."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF
        material = os.urandom(32)
        kid = self.kms.create_key(Tags=[{"TagKey": "_custom_key_material_",
                                         "TagValue": base64.b64encode(material).decode()}]
                                  )["KeyMetadata"]["KeyId"]
        gcm_params = bytes.fromhex("060960864801650304012e") + bytes.fromhex("3011040c")

        def encoded(ctx):
            out = len(ctx).to_bytes(4, "big")
            for k, v in sorted((k.encode(), v.encode()) for k, v in ctx.items()):
                out += len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v
            return out

        def msg_key(nonce):
            return HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce,
                        info=b"kmsd-blob-v1").derive(material)

        for plain, ctx, kind in [(b"x", {}, 2), (os.urandom(300), {"b": "2", "a": "\u00e9"}, 2),
                                 (None, {"tenant": "t-1"}, 3)]:
            if plain is None:
                dk = self.kms.generate_data_key(KeyId=kid, NumberOfBytes=200,
                                                EncryptionContext=ctx)
                plain, blob = dk["Plaintext"], dk["CiphertextBlob"]
            else:
                blob = self.kms.encrypt(KeyId=kid, Plaintext=plain,
                                        EncryptionContext=ctx)["CiphertextBlob"]
            with self.subTest(size=len(plain), kind=kind):
                self.assertEqual(blob[2], kind)
                at = blob.index(gcm_params) + len(gcm_params)
                iv, sealed = blob[at:at + 12], blob[-(len(plain) + 27):]
                inner = AESGCM(msg_key(blob[38:54])).decrypt(iv, sealed, blob[:58] + encoded(ctx))
                self.assertEqual(inner, bytes([1, kind]) + bytes(9) + plain)

                # The same layout sealed here, with a fresh nonce and IV, decrypts in kmsd.
                nonce, iv2 = os.urandom(16), os.urandom(12)
                header = blob[:38] + nonce + blob[54:58]
                resealed = AESGCM(msg_key(nonce)).encrypt(
                    iv2, bytes([1, kind]) + bytes(9) + plain, header + encoded(ctx))
                mine = header + blob[58:at] + iv2 + blob[at + 12:-len(sealed)] + resealed
                self.assertEqual(len(mine), len(blob))
                out = self.kms.decrypt(CiphertextBlob=mine, EncryptionContext=ctx)
                self.assertEqual(out["Plaintext"], plain)
                self.assertEqual(out["KeyId"], key_arn(kid))

    def test_context_does_not_change_size(self):
        kid = self.md["KeyId"]
        a = self.kms.encrypt(KeyId=kid, Plaintext=b"p" * 10)["CiphertextBlob"]
        b = self.kms.encrypt(KeyId=kid, Plaintext=b"p" * 10,
                             EncryptionContext={"k" * 50: "v" * 200, "x": "y"})["CiphertextBlob"]
        self.assertEqual(len(a), len(b))
        self.assertEqual(len(a), 162)


class ResponsesTest(KmsdTestCase):

    def test_encrypt_response(self):
        md = self.create_key()
        self.kms.create_alias(AliasName="alias/resp", TargetKeyId=md["KeyId"])
        for kid in (md["KeyId"], md["Arn"], "alias/resp", alias_arn("alias/resp")):
            r = self.kms.encrypt(KeyId=kid, Plaintext=b"data")
            self.assertEqual(r["KeyId"], md["Arn"], kid)
            self.assertEqual(r["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
            self.assertEqual(len(r["CiphertextBlob"]), 156)
            self.assertEqual(r["CiphertextBlob"][:3], b"\x01\x02\x02")
            self.assertEqual(set(r) - {"ResponseMetadata"},
                             {"CiphertextBlob", "KeyId", "EncryptionAlgorithm"})

    def test_encrypt_explicit_algorithm(self):
        md = self.create_key()
        r = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"data",
                             EncryptionAlgorithm="SYMMETRIC_DEFAULT")
        d = self.kms.decrypt(CiphertextBlob=r["CiphertextBlob"],
                             EncryptionAlgorithm="SYMMETRIC_DEFAULT")
        self.assertEqual(d["Plaintext"], b"data")

    def test_decrypt_response(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"data")["CiphertextBlob"]
        r = self.kms.decrypt(CiphertextBlob=blob)
        self.assertEqual(r["KeyId"], md["Arn"])
        self.assertEqual(r["Plaintext"], b"data")
        self.assertEqual(r["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(r["KeyMaterialId"], md["CurrentKeyMaterialId"])
        desc = self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
        self.assertEqual(r["KeyMaterialId"], desc["CurrentKeyMaterialId"])
        self.assertNotIn("CiphertextForRecipient", r)

    def test_reencrypt(self):
        md1 = self.create_key()
        md2 = self.create_key()
        self.kms.create_alias(AliasName="alias/dest", TargetKeyId=md2["KeyId"])
        blob = self.kms.encrypt(KeyId=md1["KeyId"], Plaintext=b"move me",
                                EncryptionContext={"a": "1"})["CiphertextBlob"]
        r = self.kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                                DestinationKeyId="alias/dest",
                                DestinationEncryptionContext={"b": "2"})
        self.assertEqual(r["SourceKeyId"], md1["Arn"])
        self.assertEqual(r["KeyId"], md2["Arn"])
        self.assertEqual(r["SourceEncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(r["DestinationEncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        self.assertEqual(r["SourceKeyMaterialId"], md1["CurrentKeyMaterialId"])
        self.assertEqual(r["DestinationKeyMaterialId"], md2["CurrentKeyMaterialId"])
        new = r["CiphertextBlob"]
        self.assertNotEqual(new, blob)
        d = self.kms.decrypt(CiphertextBlob=new, EncryptionContext={"b": "2"})
        self.assertEqual(d["Plaintext"], b"move me")
        self.assertEqual(d["KeyId"], md2["Arn"])
        # Old context no longer applies to the new blob.
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=new, EncryptionContext={"a": "1"})
        # Source context is checked.
        self.assertKmsError(self.kms.re_encrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=blob, DestinationKeyId=md2["KeyId"])

    def test_reencrypt_same_key_with_source_key_id(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"same")["CiphertextBlob"]
        r = self.kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=md["Arn"],
                                DestinationKeyId=md["KeyId"])
        self.assertEqual(r["SourceKeyId"], md["Arn"])
        self.assertEqual(r["KeyId"], md["Arn"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"], b"same")

    def test_reencrypt_bad_blob(self):
        md = self.create_key()
        self.assertKmsError(self.kms.re_encrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=b"\x01\x02\x02" + b"\x00" * 181,
                            DestinationKeyId=md["KeyId"])

    def test_generate_data_key_without_plaintext(self):
        md = self.create_key()
        r = self.kms.generate_data_key_without_plaintext(KeyId=md["KeyId"], KeySpec="AES_256",
                                                         EncryptionContext={"c": "d"})
        self.assertNotIn("Plaintext", r)
        self.assertEqual(r["KeyId"], md["Arn"])
        self.assertEqual(r["KeyMaterialId"], md["CurrentKeyMaterialId"])
        self.assertEqual(len(r["CiphertextBlob"]), 184)
        self.assertEqual(r["CiphertextBlob"][:3], b"\x01\x02\x03")
        d = self.kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"c": "d"})
        self.assertEqual(len(d["Plaintext"]), 32)
        r = self.kms.generate_data_key_without_plaintext(KeyId=md["KeyId"], KeySpec="AES_128")
        self.assertEqual(len(r["CiphertextBlob"]), 168)
        self.assertEqual(len(self.kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"]), 16)
        r = self.kms.generate_data_key_without_plaintext(KeyId=md["KeyId"], NumberOfBytes=64)
        self.assertEqual(len(r["CiphertextBlob"]), 220)
        self.assertEqual(len(self.kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"]), 64)

    def test_data_keys_are_random(self):
        md = self.create_key()
        a = self.kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
        b = self.kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
        self.assertNotEqual(a["Plaintext"], b["Plaintext"])
        self.assertNotEqual(a["CiphertextBlob"], b["CiphertextBlob"])

    def test_generate_data_key_spec_errors(self):
        md = self.create_key()
        msg = "Please specify either number of bytes or key spec."
        self.assertKmsError(self.kms.generate_data_key, "ValidationException", msg,
                            KeyId=md["KeyId"])
        self.assertKmsError(self.kms.generate_data_key, "ValidationException", msg,
                            KeyId=md["KeyId"], KeySpec="AES_256", NumberOfBytes=32)
        self.assertKmsError(self.kms.generate_data_key_without_plaintext, "ValidationException",
                            msg, KeyId=md["KeyId"])

    def test_generate_data_key_bad_key_spec_enum(self):
        md = self.create_key()
        e = self.assertKmsError(self.kms.generate_data_key, "ValidationException",
                                KeyId=md["KeyId"], KeySpec="AES_512")
        m = e.response["Error"]["Message"]
        prefix = ("1 validation error detected: Value 'AES_512' at 'keySpec' failed to satisfy "
                  "constraint: Member must satisfy enum value set: [")
        self.assertTrue(m.startswith(prefix), m)
        self.assertTrue(m.endswith("]"), m)
        self.assertEqual(set(m[len(prefix):-1].split(", ")), {"AES_256", "AES_128"})

    def test_generate_data_key_number_of_bytes_range(self):
        md = self.create_key()
        self.assertKmsError(
            self.kms_nv.generate_data_key, "ValidationException",
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value less than or equal to 1024",
            KeyId=md["KeyId"], NumberOfBytes=1025)
        self.assertKmsError(
            self.kms_nv.generate_data_key, "ValidationException",
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1",
            KeyId=md["KeyId"], NumberOfBytes=0)


class GenerateRandomTest(KmsdTestCase):

    def test_sizes(self):
        for n in (1, 2, 16, 32, 100, 1023, 1024):
            r = self.kms.generate_random(NumberOfBytes=n)
            self.assertEqual(len(r["Plaintext"]), n)
            self.assertNotIn("CiphertextForRecipient", r)

    def test_random(self):
        a = self.kms.generate_random(NumberOfBytes=32)["Plaintext"]
        b = self.kms.generate_random(NumberOfBytes=32)["Plaintext"]
        self.assertNotEqual(a, b)
        big = self.kms.generate_random(NumberOfBytes=1024)["Plaintext"]
        # 1024 random bytes use well over 200 distinct byte values.
        self.assertGreater(len(set(big)), 200)

    def test_errors(self):
        self.assertKmsError(self.kms_nv.generate_random, "ValidationException",
                            "NumberOfBytes is required.")
        self.assertKmsError(
            self.kms_nv.generate_random, "ValidationException",
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1",
            NumberOfBytes=0)
        self.assertKmsError(
            self.kms_nv.generate_random, "ValidationException",
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value less than or equal to 1024",
            NumberOfBytes=1025)
        self.assertKmsError(
            self.kms_nv.generate_random, "ValidationException",
            "1 validation error detected: Value '-1' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1",
            NumberOfBytes=-1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
