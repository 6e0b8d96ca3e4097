"""Asymmetric, HMAC and key-agreement KMS keys through boto3, checked against verifiers that are
not part of kmsd: Python `cryptography`, the `openssl` CLI and PyJWT (Debian's /usr/bin/python3).

Covers CreateKey KeySpec x KeyUsage, DescribeKey algorithm lists, GetPublicKey, Sign/Verify (RSA
PKCS#1 v1.5 and PSS, ECDSA, Ed25519, Ed25519ph, SM2DSA), RSA-OAEP Encrypt/Decrypt/ReEncrypt,
GenerateMac/VerifyMac, DeriveSharedSecret, GenerateDataKeyPair(WithoutPlaintext), DryRun,
GetKeyLastUsage, disabled keys, grants, policy condition keys and persistence across a restart.

RSA key generation is the slow part (RSA_4096 takes seconds), so the classes that need RSA keys
create them once, concurrently, in setUpClass and do not reset the server between tests.
"""

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from harness import ACCOUNT, KmsdServer, KmsdTestCase, key_arn

OPENSSL = "/usr/bin/openssl" if os.path.exists("/usr/bin/openssl") else shutil.which("openssl")
SYSTEM_PYTHON = "/usr/bin/python3"
DRY_RUN_MSG = "The request would have succeeded, but the DryRun option is set."
ROOT = "arn:aws:iam::%s:root" % ACCOUNT

RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
               "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
               "RSASSA_PSS_SHA_512"]
RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
SIGNING_ALGORITHMS = {
    "RSA_2048": RSA_SIGNING, "RSA_3072": RSA_SIGNING, "RSA_4096": RSA_SIGNING,
    "ECC_NIST_P256": ["ECDSA_SHA_256"], "ECC_NIST_P384": ["ECDSA_SHA_384"],
    "ECC_NIST_P521": ["ECDSA_SHA_512"], "ECC_SECG_P256K1": ["ECDSA_SHA_256"],
    "ECC_NIST_EDWARDS25519": ["ED25519_SHA_512", "ED25519_PH_SHA_512"],
}
# DER SubjectPublicKeyInfo sizes as AWS returns them.
SPKI_LEN = {"RSA_2048": 294, "RSA_3072": 422, "RSA_4096": 550, "ECC_NIST_P256": 91,
            "ECC_NIST_P384": 120, "ECC_NIST_P521": 158, "ECC_SECG_P256K1": 88,
            "ECC_NIST_EDWARDS25519": 44, "SM2": 91}
CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1,
          "ECC_NIST_P521": ec.SECP521R1, "ECC_SECG_P256K1": ec.SECP256K1}
HASHES = {"1": hashes.SHA1, "256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
HMAC_SPECS = {"HMAC_224": ("HMAC_SHA_224", 28), "HMAC_256": ("HMAC_SHA_256", 32),
              "HMAC_384": ("HMAC_SHA_384", 48), "HMAC_512": ("HMAC_SHA_512", 64)}
KEY_PAIR_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                  "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"]
ALGORITHM_LISTS = ("SigningAlgorithms", "EncryptionAlgorithms", "MacAlgorithms",
                   "KeyAgreementAlgorithms")


# ---- helpers --------------------------------------------------------------------------------

def alg_hash(alg):
    """The hash an AWS algorithm name ends with: RSASSA_PSS_SHA_384 -> SHA384()."""
    return HASHES[alg.rsplit("_", 1)[1]]()


def oaep(alg):
    h = alg_hash(alg)
    return padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)


def oaep_limit(spec, alg):
    """Largest plaintext RSAES-OAEP can take: modulus - 2*hash - 2 bytes."""
    return int(spec[4:]) // 8 - 2 * alg_hash(alg).digest_size - 2


def spki(pub):
    return pub.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def local_verify(pub, alg, message, signature, digest=False):
    """Verify with `cryptography`; raises InvalidSignature. digest=True: `message` is the
    digest (KMS MessageType DIGEST), so it must not be hashed again."""
    if alg.startswith("ED25519_SHA"):
        pub.verify(signature, message)
        return
    h = alg_hash(alg)
    chosen = utils.Prehashed(h) if digest else h
    if alg.startswith("RSASSA_PKCS1"):
        pub.verify(signature, message, padding.PKCS1v15(), chosen)
    elif alg.startswith("RSASSA_PSS"):
        pss = padding.PSS(mgf=padding.MGF1(alg_hash(alg)), salt_length=h.digest_size)
        pub.verify(signature, message, pss, chosen)
    elif alg.startswith("ECDSA"):
        pub.verify(signature, message, ec.ECDSA(chosen))
    else:
        raise AssertionError("no local verifier for " + alg)


def flip_bit(data, index=0, bit=0):
    b = bytearray(data)
    b[index] ^= 1 << bit
    return bytes(b)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# The SM2 curve (GB/T 32918.5, as `openssl ecparam -name SM2 -param_enc explicit` prints it), for
# an ECDH check that does not go through kmsd or OpenSSL's SM2 code (neither `cryptography` nor the
# openssl CLI derives on SM2 keys).
SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
SM2_A = SM2_P - 3
SM2_G = (0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
         0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0)


def sm2_mul(k, point):
    """k * point on the SM2 curve, affine double-and-add (None is the point at infinity)."""
    def add(p1, p2):
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2 and (y1 + y2) % SM2_P == 0:
            return None
        if p1 == p2:
            lam = (3 * x1 * x1 + SM2_A) * pow(2 * y1, -1, SM2_P)
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, SM2_P)
        x3 = (lam * lam - x1 - x2) % SM2_P
        return x3, (lam * (x1 - x3) - y1) % SM2_P
    out = None
    while k:
        if k & 1:
            out = add(out, point)
        point = add(point, point)
        k >>= 1
    return out


def sm2_point(spki_der):
    """The public point of a DER SPKI of an SM2 key (its last 65 bytes: 04 || X || Y)."""
    assert spki_der[-65] == 4, spki_der.hex()
    return int.from_bytes(spki_der[-64:-32], "big"), int.from_bytes(spki_der[-32:], "big")


def create_keys(kms, specs):
    """{name: (KeySpec, KeyUsage)} -> {name: KeyMetadata}. One at a time: kmsd generates one
    RSA key at a time and throttles a second (README: compatibility)."""
    return {name: kms.create_key(KeySpec=spec, KeyUsage=usage, Description=name)["KeyMetadata"]
            for name, (spec, usage) in specs.items()}


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": ROOT},
         "Action": "kms:*", "Resource": "*"}] + list(statements)})


def deny(action, condition):
    return {"Effect": "Deny", "Principal": {"AWS": ROOT}, "Action": action, "Resource": "*",
            "Condition": condition}


def deny_message(action, arn):
    return ("User: %s is not authorized to perform: kms:%s on resource: %s with an explicit "
            "deny in a resource-based policy" % (ROOT, action, arn))


class AsymmetricTestCase(KmsdTestCase):
    """KmsdTestCase plus helpers for files, the openssl CLI and public keys."""

    shared_keys = {}  # name -> (KeySpec, KeyUsage), created once in setUpClass

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.keys = create_keys(cls.kms, cls.shared_keys) if cls.shared_keys else {}
        except Exception:
            cls.server.cleanup()
            raise

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="kmsd-asym-")
        self.addCleanup(shutil.rmtree, d, True)
        return d

    def write(self, d, name, data):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        return name

    def openssl(self, d, *args):
        if OPENSSL is None:
            self.skipTest("openssl CLI not found")
        return subprocess.run([OPENSSL] + list(args), cwd=d, capture_output=True, timeout=60)

    def pem_file(self, d, der, name="pub.pem"):
        """Write a DER SPKI and convert it to PEM with the openssl CLI (which also parses it)."""
        self.write(d, name + ".der", der)
        p = self.openssl(d, "pkey", "-pubin", "-inform", "DER", "-in", name + ".der",
                         "-out", name)
        self.assertEqual(p.returncode, 0, p.stderr)
        return name

    def public_key(self, key_id):
        return serialization.load_der_public_key(self.kms.get_public_key(KeyId=key_id)["PublicKey"])

    def check_spki(self, der, spec):
        """The DER SPKI parses with `cryptography`, is canonical and is a key of `spec`."""
        self.assertEqual(len(der), SPKI_LEN[spec], spec)
        pub = serialization.load_der_public_key(der)
        self.assertEqual(spki(pub), der, spec)
        if spec.startswith("RSA_"):
            self.assertIsInstance(pub, rsa.RSAPublicKey)
            self.assertEqual(pub.key_size, int(spec[4:]))
            self.assertEqual(pub.public_numbers().e, 65537)
        elif spec == "ECC_NIST_EDWARDS25519":
            self.assertIsInstance(pub, ed25519.Ed25519PublicKey)
        else:
            self.assertIsInstance(pub, ec.EllipticCurvePublicKey)
            self.assertEqual(pub.curve.name, CURVES[spec].name)
        return pub

    def assertOnlyAlgorithmList(self, md, field, value):
        self.assertEqual(md.get(field), value, md)
        for other in ALGORITHM_LISTS:
            if other != field:
                self.assertNotIn(other, md, other)


# ---- CreateKey and DescribeKey --------------------------------------------------------------

class KeySpecTest(AsymmetricTestCase):

    def test_key_usage_is_required_for_non_symmetric_specs(self):
        """CreateKey with an asymmetric or HMAC KeySpec and no KeyUsage is a
        ValidationException; nothing is created."""
        for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519", "ECC_SECG_P256K1",
                     "HMAC_256"):
            with self.subTest(spec=spec):
                self.assertKmsError(self.kms.create_key, "ValidationException",
                                    "You must specify a KeyUsage value for all KMS keys except "
                                    "for symmetric encryption keys.", KeySpec=spec)
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_incompatible_spec_and_usage(self):
        """A KeyUsage the KeySpec does not support is a ValidationException naming both."""
        for spec, usage in (("RSA_2048", "KEY_AGREEMENT"), ("RSA_4096", "GENERATE_VERIFY_MAC"),
                            ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
                            ("ECC_NIST_P384", "GENERATE_VERIFY_MAC"),
                            ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
                            ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"),
                            ("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT"),
                            ("HMAC_256", "SIGN_VERIFY"), ("HMAC_512", "ENCRYPT_DECRYPT"),
                            ("SYMMETRIC_DEFAULT", "SIGN_VERIFY")):
            with self.subTest(spec=spec, usage=usage):
                self.assertKmsError(self.kms.create_key, "ValidationException",
                                    "KeyUsage %s is not compatible with KeySpec %s"
                                    % (usage, spec), KeySpec=spec, KeyUsage=usage)
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_ml_dsa_is_unsupported(self):
        """ML-DSA needs OpenSSL 3.5: UnsupportedOperationException, no key created."""
        for spec in ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87"):
            with self.subTest(spec=spec):
                e = self.assertKmsError(self.kms.create_key, "UnsupportedOperationException",
                                        KeySpec=spec, KeyUsage="SIGN_VERIFY")
                self.assertIn(spec, e.response["Error"]["Message"])
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_metadata_lists_only_the_algorithms_of_the_key_usage(self):
        """DescribeKey (and CreateKey) carry exactly one algorithm list, the one of the key's
        usage; CurrentKeyMaterialId only for SYMMETRIC_DEFAULT."""
        cases = [
            ("RSA_2048", "SIGN_VERIFY", "SigningAlgorithms", RSA_SIGNING),
            ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", RSA_ENCRYPTION),
            ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
            ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
            ("ECC_NIST_P521", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_512"]),
            ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
            ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms",
             ["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
            ("ECC_NIST_P256", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
            ("ECC_NIST_P384", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
            ("ECC_NIST_P521", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
        ] + [(spec, "GENERATE_VERIFY_MAC", "MacAlgorithms", [alg])
             for spec, (alg, _) in HMAC_SPECS.items()]
        for spec, usage, field, algs in cases:
            with self.subTest(spec=spec, usage=usage):
                created = self.create_key(KeySpec=spec, KeyUsage=usage)
                md = self.kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"]
                self.assertEqual(md, created)
                self.assertEqual((md["KeySpec"], md["CustomerMasterKeySpec"], md["KeyUsage"]),
                                 (spec, spec, usage))
                self.assertEqual((md["KeyState"], md["Origin"], md["Enabled"]),
                                 ("Enabled", "AWS_KMS", True))
                self.assertOnlyAlgorithmList(md, field, algs)
                self.assertNotIn("CurrentKeyMaterialId", md)
        sym = self.kms.describe_key(KeyId=self.create_key()["KeyId"])["KeyMetadata"]
        self.assertOnlyAlgorithmList(sym, "EncryptionAlgorithms", ["SYMMETRIC_DEFAULT"])
        self.assertRegex(sym["CurrentKeyMaterialId"], "^[0-9a-f]{64}$")

    def test_sm2_only_in_china_regions(self):
        """SM2 keys and SM2 data key pairs: ValidationException outside cn-*; in cn-north-1 all
        three usages exist under the aws-cn partition, with SM2DSA / SM2PKE / ECDH."""
        for usage in ("SIGN_VERIFY", "ENCRYPT_DECRYPT", "KEY_AGREEMENT"):
            with self.subTest(usage=usage):
                self.assertKmsError(self.kms.create_key, "ValidationException",
                                    KeySpec="SM2", KeyUsage=usage)
        sym = self.create_key()["KeyId"]
        self.assertKmsError(self.kms.generate_data_key_pair, "ValidationException",
                            KeyId=sym, KeyPairSpec="SM2")
        self.assertEqual(len(self.kms.list_keys()["Keys"]), 1)
        cn = self.server.client(region="cn-north-1")
        expect = {"SIGN_VERIFY": ("SigningAlgorithms", ["SM2DSA"]),
                  "ENCRYPT_DECRYPT": ("EncryptionAlgorithms", ["SM2PKE"]),
                  "KEY_AGREEMENT": ("KeyAgreementAlgorithms", ["ECDH"])}
        d = self.tmpdir()
        for usage, (field, algs) in expect.items():
            with self.subTest(region="cn-north-1", usage=usage):
                md = cn.create_key(KeySpec="SM2", KeyUsage=usage)["KeyMetadata"]
                self.assertEqual(md["Arn"], "arn:aws-cn:kms:cn-north-1:%s:key/%s"
                                 % (ACCOUNT, md["KeyId"]))
                self.assertOnlyAlgorithmList(md, field, algs)
                pk = cn.get_public_key(KeyId=md["KeyId"])
                self.assertEqual(len(pk["PublicKey"]), SPKI_LEN["SM2"])
                self.assertEqual(pk[field], algs)
                self.write(d, "sm2.der", pk["PublicKey"])
                p = self.openssl(d, "pkey", "-pubin", "-inform", "DER", "-in", "sm2.der",
                                 "-noout", "-text")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(b"ASN1 OID: SM2", p.stdout)

    def test_sm2_signature_and_encryption_interoperate_with_openssl(self):
        """SM2DSA signatures verify with openssl (SM3, default ID 1234567812345678), an
        openssl SM2 ciphertext decrypts with SM2PKE, two SM2 KEY_AGREEMENT keys derive the same
        ECDH secret from each other's public key, and the secret with a peer key made by openssl
        is the one computed here on the curve from the peer's private scalar."""
        cn = self.server.client(region="cn-north-1")
        d = self.tmpdir()
        sk = cn.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        self.pem_file(d, cn.get_public_key(KeyId=sk["KeyId"])["PublicKey"], "sm2.pem")
        msg = b"SM2 message signed in a China Region"
        sig = cn.sign(KeyId=sk["KeyId"], Message=msg, SigningAlgorithm="SM2DSA")
        self.assertEqual((sig["KeyId"], sig["SigningAlgorithm"]), (sk["Arn"], "SM2DSA"))
        self.write(d, "msg", msg)
        self.write(d, "sig", sig["Signature"])
        self.write(d, "bad", msg + b"!")
        verify = ["dgst", "-sm3", "-verify", "sm2.pem", "-signature", "sig",
                  "-sigopt", "distid:1234567812345678"]
        p = self.openssl(d, *(verify + ["msg"]))
        self.assertEqual((p.returncode, p.stdout), (0, b"Verified OK\n"), p.stderr)
        p = self.openssl(d, *(verify + ["bad"]))
        self.assertNotEqual(p.returncode, 0)

        ek = cn.create_key(KeySpec="SM2", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
        self.pem_file(d, cn.get_public_key(KeyId=ek["KeyId"])["PublicKey"], "sm2e.pem")
        self.write(d, "pt", b"SM2 plaintext from openssl")
        p = self.openssl(d, "pkeyutl", "-encrypt", "-pubin", "-inkey", "sm2e.pem", "-in", "pt",
                         "-out", "ct")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(d, "ct"), "rb") as f:
            ct = f.read()
        out = cn.decrypt(CiphertextBlob=ct, KeyId=ek["KeyId"], EncryptionAlgorithm="SM2PKE")
        self.assertEqual(out["Plaintext"], b"SM2 plaintext from openssl")
        self.assertEqual(out["EncryptionAlgorithm"], "SM2PKE")

        a, b = (cn.create_key(KeySpec="SM2", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
                for _ in range(2))
        pub_a = cn.get_public_key(KeyId=a)["PublicKey"]
        pub_b = cn.get_public_key(KeyId=b)["PublicKey"]
        s_ab = cn.derive_shared_secret(KeyId=a, KeyAgreementAlgorithm="ECDH", PublicKey=pub_b)
        s_ba = cn.derive_shared_secret(KeyId=b, KeyAgreementAlgorithm="ECDH", PublicKey=pub_a)
        self.assertEqual(len(s_ab["SharedSecret"]), 32)
        self.assertEqual(s_ab["SharedSecret"], s_ba["SharedSecret"])
        # Agreeing with itself proves nothing about ECDH: a peer key made by openssl, and the
        # secret computed here from its private scalar and the KMS key's public point.
        p = self.openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2",
                         "-outform", "DER", "-out", "peer.der")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.openssl(d, "pkey", "-inform", "DER", "-in", "peer.der", "-pubout",
                         "-outform", "DER", "-out", "peer_pub.der")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.openssl(d, "pkey", "-inform", "DER", "-in", "peer.der", "-text", "-noout")
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout.decode()
        scalar = int("".join(text.split("priv:")[1].split("pub:")[0].split()).replace(":", ""), 16)
        with open(os.path.join(d, "peer_pub.der"), "rb") as f:
            peer_pub = f.read()
        self.assertEqual(sm2_mul(scalar, SM2_G), sm2_point(peer_pub))  # the arithmetic is SM2's
        out = cn.derive_shared_secret(KeyId=a, KeyAgreementAlgorithm="ECDH", PublicKey=peer_pub)
        shared = sm2_mul(scalar, sm2_point(pub_a))
        self.assertEqual(out["SharedSecret"], shared[0].to_bytes(32, "big"))

        sym = cn.create_key()["KeyMetadata"]["KeyId"]
        pair = cn.generate_data_key_pair(KeyId=sym, KeyPairSpec="SM2")
        self.write(d, "priv.der", pair["PrivateKeyPlaintext"])
        p = self.openssl(d, "pkey", "-inform", "DER", "-in", "priv.der", "-pubout",
                         "-outform", "DER", "-out", "derived.der")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(d, "derived.der"), "rb") as f:
            self.assertEqual(f.read(), pair["PublicKey"])


# ---- Sign / Verify / GetPublicKey -----------------------------------------------------------

class SignVerifyTest(AsymmetricTestCase):
    reset_between_tests = False
    shared_keys = {
        "RSA_4096": ("RSA_4096", "SIGN_VERIFY"), "RSA_3072": ("RSA_3072", "SIGN_VERIFY"),
        "RSA_2048": ("RSA_2048", "SIGN_VERIFY"), "ECC_NIST_P256": ("ECC_NIST_P256", "SIGN_VERIFY"),
        "ECC_NIST_P384": ("ECC_NIST_P384", "SIGN_VERIFY"),
        "ECC_NIST_P521": ("ECC_NIST_P521", "SIGN_VERIFY"),
        "ECC_SECG_P256K1": ("ECC_SECG_P256K1", "SIGN_VERIFY"),
        "ECC_NIST_EDWARDS25519": ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
        "p256-other": ("ECC_NIST_P256", "SIGN_VERIFY"),
        "rsa-encrypt": ("RSA_2048", "ENCRYPT_DECRYPT"),
        "symmetric": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
        "hmac": ("HMAC_256", "GENERATE_VERIFY_MAC"),
        "agreement": ("ECC_NIST_P256", "KEY_AGREEMENT"),
    }
    SIGNING_SPECS = list(SIGNING_ALGORITHMS)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pub = {name: serialization.load_der_public_key(
            cls.kms.get_public_key(KeyId=cls.keys[name]["KeyId"])["PublicKey"])
            for name in cls.SIGNING_SPECS}

    def sign(self, name, message, alg, message_type=None):
        kw = {"MessageType": message_type} if message_type else {}
        out = self.kms.sign(KeyId=self.keys[name]["KeyId"], Message=message,
                            SigningAlgorithm=alg, **kw)
        self.assertEqual(out["KeyId"], self.keys[name]["Arn"])
        self.assertEqual(out["SigningAlgorithm"], alg)
        self.assertEqual(set(out) - {"ResponseMetadata"},
                         {"KeyId", "Signature", "SigningAlgorithm"})
        return out["Signature"]

    def kms_verify(self, name, message, signature, alg, message_type=None):
        kw = {"MessageType": message_type} if message_type else {}
        out = self.kms.verify(KeyId=self.keys[name]["KeyId"], Message=message,
                              Signature=signature, SigningAlgorithm=alg, **kw)
        out.pop("ResponseMetadata")
        self.assertEqual(out, {"KeyId": self.keys[name]["Arn"], "SignatureValid": True,
                               "SigningAlgorithm": alg})

    def test_get_public_key_for_every_signing_spec(self):
        """GetPublicKey returns a canonical DER SPKI of the key's type and size, KeySpec,
        CustomerMasterKeySpec, KeyUsage and SigningAlgorithms only; DescribeKey agrees."""
        for spec in self.SIGNING_SPECS:
            with self.subTest(spec=spec):
                md = self.keys[spec]
                out = self.kms.get_public_key(KeyId=md["KeyId"])
                out.pop("ResponseMetadata")
                self.check_spki(out.pop("PublicKey"), spec)
                self.assertEqual(out, {"KeyId": md["Arn"], "KeySpec": spec,
                                       "CustomerMasterKeySpec": spec, "KeyUsage": "SIGN_VERIFY",
                                       "SigningAlgorithms": SIGNING_ALGORITHMS[spec]})
                desc = self.kms.describe_key(KeyId=md["Arn"])["KeyMetadata"]
                self.assertOnlyAlgorithmList(desc, "SigningAlgorithms", SIGNING_ALGORITHMS[spec])
                self.assertNotIn("CurrentKeyMaterialId", desc)
        self.assertNotEqual(spki(self.pub["ECC_NIST_P256"]), self.kms.get_public_key(
            KeyId=self.keys["p256-other"]["KeyId"])["PublicKey"])

    def test_get_public_key_refused_for_symmetric_and_hmac_keys(self):
        """Symmetric and HMAC keys have no public key: UnsupportedOperationException."""
        for name, spec in (("symmetric", "SYMMETRIC_DEFAULT"), ("hmac", "HMAC_256")):
            with self.subTest(key=name):
                arn = self.keys[name]["Arn"]
                self.assertKmsError(self.kms.get_public_key, "UnsupportedOperationException",
                                    "%s key spec is %s which is not valid for GetPublicKey."
                                    % (arn, spec), KeyId=arn)

    def test_rsa_signatures_verify_with_cryptography(self):
        """Every RSA size and algorithm, RAW and DIGEST: the signature has the modulus length,
        verifies with `cryptography` (PSS salt = digest length, MGF1 with the same hash) and with
        Verify; PKCS#1 v1.5 is deterministic so RAW and DIGEST give the same bytes."""
        msg = os.urandom(200)
        for spec in ("RSA_2048", "RSA_3072", "RSA_4096"):
            pub = self.pub[spec]
            for alg in RSA_SIGNING:
                with self.subTest(spec=spec, alg=alg):
                    digest = hashlib.new(alg_hash(alg).name, msg).digest()
                    raw = self.sign(spec, msg, alg)
                    dig = self.sign(spec, digest, alg, "DIGEST")
                    self.assertEqual(len(raw), int(spec[4:]) // 8)
                    local_verify(pub, alg, msg, raw)
                    local_verify(pub, alg, msg, dig)
                    local_verify(pub, alg, digest, dig, digest=True)
                    with self.assertRaises(InvalidSignature):
                        local_verify(pub, alg, msg + b"x", raw)
                    if "PKCS1" in alg:
                        self.assertEqual(raw, dig)
                    else:
                        self.assertNotEqual(raw, self.sign(spec, msg, alg))  # random salt
                    self.kms_verify(spec, msg, raw, alg)
                    self.kms_verify(spec, digest, raw, alg, "DIGEST")

    def test_rsa_pss_salt_length_and_mgf1_hash(self):
        """PSS uses a salt as long as the digest and MGF1 with the signing hash: verifying with
        any other salt length or MGF1 hash fails."""
        pub = self.pub["RSA_2048"]
        msg = b"pss parameters"
        for alg in ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"):
            with self.subTest(alg=alg):
                h = alg_hash(alg)
                sig = self.sign("RSA_2048", msg, alg)
                pub.verify(sig, msg, padding.PSS(padding.MGF1(h), h.digest_size), h)
                for salt in (0, 20, h.digest_size - 1, h.digest_size + 1):
                    with self.assertRaises(InvalidSignature):
                        pub.verify(sig, msg, padding.PSS(padding.MGF1(h), salt), h)
                other = hashes.SHA1()
                with self.assertRaises(InvalidSignature):
                    pub.verify(sig, msg, padding.PSS(padding.MGF1(other), h.digest_size), h)

    def test_ecdsa_signatures_verify_with_cryptography(self):
        """ECDSA on P-256/P-384/P-521/secp256k1: strict-DER (r, s) that verifies with
        `cryptography` for RAW and DIGEST; a DIGEST message is not hashed a second time."""
        msg = os.urandom(100)
        for spec in ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1"):
            alg = SIGNING_ALGORITHMS[spec][0]
            pub = self.pub[spec]
            with self.subTest(spec=spec):
                digest = hashlib.new(alg_hash(alg).name, msg).digest()
                raw = self.sign(spec, msg, alg, "RAW")
                dig = self.sign(spec, digest, alg, "DIGEST")
                for sig in (raw, dig):
                    r, s = utils.decode_dss_signature(sig)
                    self.assertEqual(utils.encode_dss_signature(r, s), sig)
                    self.assertTrue(0 < r and 0 < s)
                    self.assertLessEqual(max(r.bit_length(), s.bit_length()), pub.key_size)
                    local_verify(pub, alg, msg, sig)
                    local_verify(pub, alg, digest, sig, digest=True)
                with self.assertRaises(InvalidSignature):  # hashed twice: not what was signed
                    pub.verify(dig, digest, ec.ECDSA(alg_hash(alg)))
                with self.assertRaises(InvalidSignature):
                    local_verify(pub, alg, msg[1:], raw)
                self.assertNotEqual(raw, self.sign(spec, msg, alg))  # randomized k
                self.kms_verify(spec, msg, raw, alg)
                self.kms_verify(spec, digest, raw, alg, "DIGEST")
                self.kms_verify(spec, msg, dig, alg, "RAW")

    def test_ed25519_signature_verifies_with_cryptography(self):
        """ED25519_SHA_512 with RAW is pure Ed25519 (RFC 8032): 64 bytes, deterministic,
        verifies with `cryptography` up to a 4096-byte message."""
        pub = self.pub["ECC_NIST_EDWARDS25519"]
        for msg in (b"x", b"ed25519 message", os.urandom(4096)):
            with self.subTest(length=len(msg)):
                sig = self.sign("ECC_NIST_EDWARDS25519", msg, "ED25519_SHA_512", "RAW")
                self.assertEqual(len(sig), 64)
                pub.verify(sig, msg)
                self.assertEqual(sig, self.sign("ECC_NIST_EDWARDS25519", msg, "ED25519_SHA_512"))
                with self.assertRaises(InvalidSignature):
                    pub.verify(sig, msg + b"\0")
                self.kms_verify("ECC_NIST_EDWARDS25519", msg, sig, "ED25519_SHA_512", "RAW")

    def test_ed25519ph_round_trip(self):
        """ED25519_PH_SHA_512 takes the 64-byte SHA-512 digest (DIGEST): deterministic 64-byte
        signature that Verify accepts and that is not a pure Ed25519 signature of either the
        message or the digest; a flipped bit is KMSInvalidSignatureException. (No independent
        Ed25519ph verifier here: `cryptography` and OpenSSL 3.0 lack Ed25519ph.)"""
        name = "ECC_NIST_EDWARDS25519"
        pub = self.pub[name]
        msg = b"prehashed ed25519"
        digest = hashlib.sha512(msg).digest()
        sig = self.sign(name, digest, "ED25519_PH_SHA_512", "DIGEST")
        self.assertEqual(len(sig), 64)
        self.assertEqual(sig, self.sign(name, digest, "ED25519_PH_SHA_512", "DIGEST"))
        self.assertNotEqual(sig, self.sign(name, digest, "ED25519_SHA_512", "RAW"))
        for m in (msg, digest):
            with self.assertRaises(InvalidSignature):
                pub.verify(sig, m)
        self.kms_verify(name, digest, sig, "ED25519_PH_SHA_512", "DIGEST")
        key = self.keys[name]["KeyId"]
        for bad_sig, bad_digest in ((flip_bit(sig, 5), digest), (sig, flip_bit(digest, 63, 7)),
                                    (sig, hashlib.sha512(msg + b".").digest())):
            self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=key,
                                Message=bad_digest, Signature=bad_sig, MessageType="DIGEST",
                                SigningAlgorithm="ED25519_PH_SHA_512")
        # The pure signature of the digest is not an Ed25519ph signature.
        pure = self.sign(name, digest, "ED25519_SHA_512", "RAW")
        self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=key,
                            Message=digest, Signature=pure, MessageType="DIGEST",
                            SigningAlgorithm="ED25519_PH_SHA_512")

    def test_ed25519_algorithms_need_their_message_type(self):
        """ED25519_SHA_512 needs RAW, ED25519_PH_SHA_512 needs a 64-byte DIGEST."""
        key = self.keys["ECC_NIST_EDWARDS25519"]["KeyId"]
        for fn, extra in ((self.kms.sign, {}), (self.kms.verify, {"Signature": b"s" * 64})):
            with self.subTest(op=fn.__name__):
                self.assertKmsError(fn, "ValidationException",
                                    "The ED25519_SHA_512 signing algorithm requires MessageType "
                                    "RAW.", KeyId=key, Message=b"d" * 64, MessageType="DIGEST",
                                    SigningAlgorithm="ED25519_SHA_512", **extra)
                self.assertKmsError(fn, "ValidationException",
                                    "The ED25519_PH_SHA_512 signing algorithm requires "
                                    "MessageType DIGEST.", KeyId=key, Message=b"d" * 64,
                                    SigningAlgorithm="ED25519_PH_SHA_512", **extra)
                self.assertKmsError(fn, "ValidationException",
                                    "Digest is invalid length for algorithm ED25519_PH_SHA_512.",
                                    KeyId=key, Message=b"d" * 32, MessageType="DIGEST",
                                    SigningAlgorithm="ED25519_PH_SHA_512", **extra)

    def test_openssl_verifies_ecdsa(self):
        """openssl CLI verifies P-256 (dgst and pkeyutl -rawin), P-384 (DIGEST-signed) and
        secp256k1 signatures, and rejects them for a changed message."""
        d = self.tmpdir()
        msg = b"verified by the openssl command line"
        self.write(d, "msg", msg)
        self.write(d, "bad", msg.upper())
        cases = (("ECC_NIST_P256", "sha256", None), ("ECC_NIST_P384", "sha384", "DIGEST"),
                 ("ECC_NIST_P521", "sha512", None), ("ECC_SECG_P256K1", "sha256", None))
        for spec, md, mtype in cases:
            with self.subTest(spec=spec):
                alg = SIGNING_ALGORITHMS[spec][0]
                pem = self.pem_file(d, spki(self.pub[spec]), spec + ".pem")
                m = hashlib.new(md, msg).digest() if mtype else msg
                self.write(d, "sig", self.sign(spec, m, alg, mtype))
                p = self.openssl(d, "dgst", "-" + md, "-verify", pem, "-signature", "sig", "msg")
                self.assertEqual((p.returncode, p.stdout), (0, b"Verified OK\n"), p.stderr)
                p = self.openssl(d, "dgst", "-" + md, "-verify", pem, "-signature", "sig", "bad")
                self.assertEqual((p.returncode, p.stdout), (1, b"Verification failure\n"))
        self.write(d, "sig", self.sign("ECC_NIST_P256", msg, "ECDSA_SHA_256"))
        p = self.openssl(d, "pkeyutl", "-verify", "-pubin", "-inkey", "ECC_NIST_P256.pem",
                         "-rawin", "-digest", "sha256", "-in", "msg", "-sigfile", "sig")
        self.assertEqual((p.returncode, p.stdout), (0, b"Signature Verified Successfully\n"),
                         p.stderr)

    def test_openssl_verifies_rsa(self):
        """openssl CLI verifies RSASSA-PSS (saltlen = digest) on RSA_2048/3072/4096 and PKCS#1
        v1.5 SHA-384, and rejects a PSS signature checked as PKCS#1 v1.5."""
        d = self.tmpdir()
        msg = b"RSA signature for openssl " * 10
        self.write(d, "msg", msg)
        pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
        for spec, alg in (("RSA_2048", "RSASSA_PSS_SHA_256"), ("RSA_3072", "RSASSA_PSS_SHA_384"),
                          ("RSA_4096", "RSASSA_PSS_SHA_512"),
                          ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384")):
            with self.subTest(spec=spec, alg=alg):
                md = "-" + alg_hash(alg).name
                pem = self.pem_file(d, spki(self.pub[spec]), spec + ".pem")
                self.write(d, "sig", self.sign(spec, msg, alg))
                opts = pss if "PSS" in alg else []
                p = self.openssl(d, "dgst", md, *opts, "-verify", pem, "-signature", "sig", "msg")
                self.assertEqual((p.returncode, p.stdout), (0, b"Verified OK\n"), p.stderr)
                other = [] if "PSS" in alg else pss
                p = self.openssl(d, "dgst", md, *other, "-verify", pem, "-signature", "sig",
                                 "msg")
                self.assertEqual(p.returncode, 1, p.stdout)

    def test_openssl_verifies_ed25519(self):
        """openssl pkeyutl -rawin verifies an ED25519_SHA_512 signature."""
        d = self.tmpdir()
        msg = b"Ed25519 for openssl"
        self.write(d, "msg", msg)
        self.write(d, "bad", msg + b"?")
        pem = self.pem_file(d, spki(self.pub["ECC_NIST_EDWARDS25519"]))
        self.write(d, "sig", self.sign("ECC_NIST_EDWARDS25519", msg, "ED25519_SHA_512"))
        args = ["pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-sigfile", "sig", "-in"]
        p = self.openssl(d, *(args + ["msg"]))
        self.assertEqual((p.returncode, p.stdout), (0, b"Signature Verified Successfully\n"),
                         p.stderr)
        p = self.openssl(d, *(args + ["bad"]))
        self.assertNotEqual(p.returncode, 0)

    def test_jwt_signed_by_kms_verifies_with_pyjwt(self):
        """JWTs signed through Sign (ES256/ES384/ES512 as r||s, RS256, PS256, EdDSA) verify with
        PyJWT given the PEM public key; a changed payload does not."""
        probe = subprocess.run([SYSTEM_PYTHON, "-I", "-c", "import jwt"], capture_output=True) \
            if os.path.exists(SYSTEM_PYTHON) else None
        if probe is None or probe.returncode != 0:
            self.skipTest("%s has no PyJWT (import jwt)" % SYSTEM_PYTHON)
        claims = {"sub": "kmsd", "iss": "test_asymmetric", "n": 42}
        cases = (("ES256", "ECC_NIST_P256", "ECDSA_SHA_256", 32),
                 ("ES384", "ECC_NIST_P384", "ECDSA_SHA_384", 48),
                 ("ES512", "ECC_NIST_P521", "ECDSA_SHA_512", 66),
                 ("RS256", "RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", None),
                 ("PS256", "RSA_3072", "RSASSA_PSS_SHA_256", None),
                 ("EdDSA", "ECC_NIST_EDWARDS25519", "ED25519_SHA_512", None))
        jobs = []
        for jwa, spec, alg, half in cases:
            header = b64url(json.dumps({"alg": jwa, "typ": "JWT"}).encode())
            signing_input = header + "." + b64url(json.dumps(claims).encode())
            sig = self.sign(spec, signing_input.encode(), alg)
            if half:
                r, s = utils.decode_dss_signature(sig)
                sig = r.to_bytes(half, "big") + s.to_bytes(half, "big")
            token = signing_input + "." + b64url(sig)
            forged = header + "." + b64url(json.dumps(dict(claims, n=43)).encode()) + "." + \
                b64url(sig)
            pem = self.pub[spec].public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
            jobs.append({"alg": jwa, "pem": pem.decode(), "token": token})
            jobs.append({"alg": jwa, "pem": pem.decode(), "token": forged})
        script = (
            "import json, sys, jwt\n"
            "out = []\n"
            "for j in json.load(sys.stdin):\n"
            "    try:\n"
            "        out.append(['ok', jwt.decode(j['token'], j['pem'], algorithms=[j['alg']])])\n"
            "    except jwt.InvalidTokenError as e:\n"
            "        out.append(['invalid', type(e).__name__])\n"
            "print(json.dumps(out))\n")
        p = subprocess.run([SYSTEM_PYTHON, "-I", "-c", script], input=json.dumps(jobs).encode(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        results = json.loads(p.stdout)
        for (jwa, *_), good, forged in zip(cases, results[0::2], results[1::2]):
            with self.subTest(jwt=jwa):
                self.assertEqual(good, ["ok", claims])
                self.assertEqual(forged, ["invalid", "InvalidSignatureError"])

    def test_verify_rejects_bad_signatures_with_an_exception(self):
        """Verify never answers SignatureValid false: a changed message or signature, a
        truncated or garbage signature, another key's signature, the other padding or a digest
        hashed again are all KMSInvalidSignatureException."""
        msg = b"original message"
        key = self.keys["ECC_NIST_P256"]["KeyId"]
        sig = self.sign("ECC_NIST_P256", msg, "ECDSA_SHA_256")
        other = self.sign("p256-other", msg, "ECDSA_SHA_256")
        cases = {"changed message": (msg + b".", sig), "flipped signature bit": (msg, flip_bit(
            sig, len(sig) - 1)), "truncated": (msg, sig[:-1]), "garbage": (msg, b"garbage"),
            "other key's signature": (msg, other), "one byte": (msg, b"\0")}
        for name, (m, s) in cases.items():
            with self.subTest(case=name):
                self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=key,
                                    Message=m, Signature=s, SigningAlgorithm="ECDSA_SHA_256")
        rsa_key = self.keys["RSA_2048"]["KeyId"]
        pss = self.sign("RSA_2048", msg, "RSASSA_PSS_SHA_256")
        self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=rsa_key,
                            Message=msg, Signature=pss,
                            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
        self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=rsa_key,
                            Message=msg, Signature=pss, SigningAlgorithm="RSASSA_PSS_SHA_384")
        digest = hashlib.sha256(msg).digest()
        dig_sig = self.sign("RSA_2048", digest, "RSASSA_PKCS1_V1_5_SHA_256", "DIGEST")
        self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=rsa_key,
                            Message=digest, Signature=dig_sig, MessageType="RAW",
                            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")

    def test_message_and_digest_lengths(self):
        """RAW messages are 1..4096 bytes; a DIGEST must have exactly the algorithm's digest
        length (ValidationException naming the algorithm)."""
        key = self.keys["ECC_NIST_P256"]["KeyId"]
        sig = self.sign("ECC_NIST_P256", b"m" * 4096, "ECDSA_SHA_256")
        local_verify(self.pub["ECC_NIST_P256"], "ECDSA_SHA_256", b"m" * 4096, sig)
        e = self.assertKmsError(self.kms.sign, "ValidationException", KeyId=key,
                                Message=b"m" * 4097, SigningAlgorithm="ECDSA_SHA_256")
        self.assertIn("4096", e.response["Error"]["Message"])
        self.assertKmsError(self.kms_nv.sign, "ValidationException", KeyId=key, Message=b"",
                            SigningAlgorithm="ECDSA_SHA_256")
        for name, alg in (("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P384", "ECDSA_SHA_384"),
                          ("ECC_NIST_P521", "ECDSA_SHA_512"),
                          ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
                          ("RSA_2048", "RSASSA_PSS_SHA_384"),
                          ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512")):
            n = alg_hash(alg).digest_size
            for length in (n - 1, n + 1, 1):
                with self.subTest(alg=alg, length=length):
                    self.assertKmsError(self.kms.sign, "ValidationException",
                                        "Digest is invalid length for algorithm %s." % alg,
                                        KeyId=self.keys[name]["KeyId"], Message=b"d" * length,
                                        MessageType="DIGEST", SigningAlgorithm=alg)
            self.assertKmsError(self.kms.verify, "ValidationException",
                                "Digest is invalid length for algorithm %s." % alg,
                                KeyId=self.keys[name]["KeyId"], Message=b"d" * (n + 1),
                                Signature=b"s" * 64, MessageType="DIGEST", SigningAlgorithm=alg)

    def test_algorithm_must_belong_to_the_key_spec(self):
        """Sign/Verify with an algorithm of another key spec: InvalidKeyUsageException."""
        cases = (("ECC_NIST_P256", "ECDSA_SHA_384"), ("ECC_NIST_P256", "ECDSA_SHA_512"),
                 ("ECC_NIST_P256", "RSASSA_PSS_SHA_256"), ("ECC_NIST_P256", "ED25519_SHA_512"),
                 ("ECC_NIST_P384", "ECDSA_SHA_256"), ("ECC_SECG_P256K1", "ECDSA_SHA_384"),
                 ("RSA_2048", "ECDSA_SHA_256"), ("ECC_NIST_EDWARDS25519", "ECDSA_SHA_512"),
                 ("ECC_NIST_EDWARDS25519", "RSASSA_PKCS1_V1_5_SHA_512"))
        for name, alg in cases:
            with self.subTest(key=name, alg=alg):
                msg = "Algorithm %s is incompatible with key spec %s." % (alg, name)
                kid = self.keys[name]["KeyId"]
                self.assertKmsError(self.kms.sign, "InvalidKeyUsageException", msg, KeyId=kid,
                                    Message=b"m", SigningAlgorithm=alg)
                self.assertKmsError(self.kms.verify, "InvalidKeyUsageException", msg, KeyId=kid,
                                    Message=b"m", Signature=b"s" * 64, SigningAlgorithm=alg)

    def test_keys_of_other_usages_cannot_sign_or_verify(self):
        """Sign/Verify on ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC and KEY_AGREEMENT keys:
        InvalidKeyUsageException '<ARN> key usage is X which is not valid for Sign.'; a
        SIGN_VERIFY key cannot Encrypt or GenerateDataKey."""
        for name, usage in (("rsa-encrypt", "ENCRYPT_DECRYPT"), ("symmetric", "ENCRYPT_DECRYPT"),
                            ("hmac", "GENERATE_VERIFY_MAC"), ("agreement", "KEY_AGREEMENT")):
            arn = self.keys[name]["Arn"]
            with self.subTest(key=name):
                self.assertKmsError(self.kms.sign, "InvalidKeyUsageException",
                                    "%s key usage is %s which is not valid for Sign."
                                    % (arn, usage), KeyId=arn, Message=b"m",
                                    SigningAlgorithm="RSASSA_PSS_SHA_256")
                self.assertKmsError(self.kms.verify, "InvalidKeyUsageException",
                                    "%s key usage is %s which is not valid for Verify."
                                    % (arn, usage), KeyId=arn, Message=b"m", Signature=b"s",
                                    SigningAlgorithm="RSASSA_PSS_SHA_256")
        arn = self.keys["ECC_NIST_P256"]["Arn"]
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException",
                            "%s key usage is SIGN_VERIFY which is not valid for Encrypt." % arn,
                            KeyId=arn, Plaintext=b"x")
        self.assertKmsError(self.kms.generate_data_key, "InvalidKeyUsageException", KeyId=arn,
                            KeySpec="AES_256")

    def test_sign_through_alias_and_arn(self):
        """Sign accepts key ID, key ARN, alias name and alias ARN; the response names the key
        ARN and the signature verifies with the key's public key."""
        md = self.keys["ECC_NIST_P384"]
        self.kms.create_alias(AliasName="alias/signer-p384", TargetKeyId=md["KeyId"])
        self.addCleanup(self.kms.delete_alias, AliasName="alias/signer-p384")
        alias_arn = "arn:aws:kms:us-east-1:%s:alias/signer-p384" % ACCOUNT
        for ref in (md["KeyId"], md["Arn"], "alias/signer-p384", alias_arn):
            with self.subTest(ref=ref):
                out = self.kms.sign(KeyId=ref, Message=b"by alias",
                                    SigningAlgorithm="ECDSA_SHA_384")
                self.assertEqual(out["KeyId"], md["Arn"])
                local_verify(self.pub["ECC_NIST_P384"], "ECDSA_SHA_384", b"by alias",
                             out["Signature"])
                v = self.kms.verify(KeyId=ref, Message=b"by alias", Signature=out["Signature"],
                                    SigningAlgorithm="ECDSA_SHA_384")
                self.assertEqual((v["KeyId"], v["SignatureValid"]), (md["Arn"], True))


# ---- RSA encryption -------------------------------------------------------------------------

class RsaEncryptionTest(AsymmetricTestCase):
    reset_between_tests = False
    shared_keys = {"RSA_4096": ("RSA_4096", "ENCRYPT_DECRYPT"),
                   "RSA_3072": ("RSA_3072", "ENCRYPT_DECRYPT"),
                   "RSA_2048": ("RSA_2048", "ENCRYPT_DECRYPT"),
                   "symmetric": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")}
    SIZES = ("RSA_2048", "RSA_3072", "RSA_4096")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pub = {spec: serialization.load_der_public_key(
            cls.kms.get_public_key(KeyId=cls.keys[spec]["KeyId"])["PublicKey"])
            for spec in cls.SIZES}

    def decrypt(self, spec, blob, alg):
        out = self.kms.decrypt(CiphertextBlob=blob, KeyId=self.keys[spec]["KeyId"],
                               EncryptionAlgorithm=alg)
        self.assertEqual(out["KeyId"], self.keys[spec]["Arn"])
        self.assertEqual(out["EncryptionAlgorithm"], alg)
        self.assertNotIn("KeyMaterialId", out)
        return out["Plaintext"]

    def test_get_public_key_of_encryption_keys(self):
        """GetPublicKey/DescribeKey of RSA ENCRYPT_DECRYPT keys: EncryptionAlgorithms
        [RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256] only, no CurrentKeyMaterialId."""
        for spec in self.SIZES:
            with self.subTest(spec=spec):
                md = self.keys[spec]
                out = self.kms.get_public_key(KeyId=md["KeyId"])
                out.pop("ResponseMetadata")
                self.check_spki(out.pop("PublicKey"), spec)
                self.assertEqual(out, {"KeyId": md["Arn"], "KeySpec": spec,
                                       "CustomerMasterKeySpec": spec,
                                       "KeyUsage": "ENCRYPT_DECRYPT",
                                       "EncryptionAlgorithms": RSA_ENCRYPTION})
                desc = self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
                self.assertOnlyAlgorithmList(desc, "EncryptionAlgorithms", RSA_ENCRYPTION)
                self.assertNotIn("CurrentKeyMaterialId", desc)

    def test_ciphertext_from_cryptography_decrypts(self):
        """OAEP ciphertexts made with `cryptography` (MGF1 with the same hash) for every size
        and hash, up to the largest plaintext, decrypt with Decrypt(KeyId,
        EncryptionAlgorithm); the other OAEP hash is InvalidCiphertextException."""
        for spec in self.SIZES:
            for alg in RSA_ENCRYPTION:
                with self.subTest(spec=spec, alg=alg):
                    for n in (1, oaep_limit(spec, alg)):
                        pt = os.urandom(n)
                        ct = self.pub[spec].encrypt(pt, oaep(alg))
                        self.assertEqual(self.decrypt(spec, ct, alg), pt)
                    other = [a for a in RSA_ENCRYPTION if a != alg][0]
                    self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException",
                                        CiphertextBlob=ct, KeyId=self.keys[spec]["KeyId"],
                                        EncryptionAlgorithm=other)

    def test_encrypt_round_trip_and_plaintext_limits(self):
        """Encrypt gives a randomized raw OAEP ciphertext of the modulus length; the largest
        plaintext is modulus - 2*hash - 2 bytes, one more is a ValidationException."""
        for spec in self.SIZES:
            n_bytes = int(spec[4:]) // 8
            modulus = self.pub[spec].public_numbers().n
            for alg in RSA_ENCRYPTION:
                with self.subTest(spec=spec, alg=alg):
                    limit = oaep_limit(spec, alg)
                    pt = os.urandom(limit)
                    out = self.kms.encrypt(KeyId=self.keys[spec]["KeyId"], Plaintext=pt,
                                           EncryptionAlgorithm=alg)
                    self.assertEqual((out["KeyId"], out["EncryptionAlgorithm"]),
                                     (self.keys[spec]["Arn"], alg))
                    self.assertNotIn("KeyMaterialId", out)
                    ct = out["CiphertextBlob"]
                    self.assertEqual(len(ct), n_bytes)
                    self.assertLess(int.from_bytes(ct, "big"), modulus)
                    self.assertEqual(self.decrypt(spec, ct, alg), pt)
                    again = self.kms.encrypt(KeyId=self.keys[spec]["KeyId"], Plaintext=pt,
                                             EncryptionAlgorithm=alg)["CiphertextBlob"]
                    self.assertNotEqual(again, ct)
                    self.assertKmsError(self.kms.encrypt, "ValidationException",
                                        "Algorithm %s and key spec %s cannot encrypt data larger "
                                        "than %d bytes." % (alg, spec, limit),
                                        KeyId=self.keys[spec]["KeyId"],
                                        Plaintext=os.urandom(limit + 1), EncryptionAlgorithm=alg)
        self.assertEqual((oaep_limit("RSA_2048", "RSAES_OAEP_SHA_1"),
                          oaep_limit("RSA_4096", "RSAES_OAEP_SHA_256")), (214, 446))

    def test_openssl_oaep_ciphertext_decrypts(self):
        """openssl pkeyutl -encrypt with OAEP (SHA-256/MGF1-SHA-256, and the SHA-1 default)
        produces ciphertexts Decrypt opens."""
        d = self.tmpdir()
        for spec, alg, opts in (
                ("RSA_2048", "RSAES_OAEP_SHA_256", ["-pkeyopt", "rsa_oaep_md:sha256",
                                                    "-pkeyopt", "rsa_mgf1_md:sha256"]),
                ("RSA_4096", "RSAES_OAEP_SHA_256", ["-pkeyopt", "rsa_oaep_md:sha256",
                                                    "-pkeyopt", "rsa_mgf1_md:sha256"]),
                ("RSA_3072", "RSAES_OAEP_SHA_1", [])):
            with self.subTest(spec=spec, alg=alg):
                pem = self.pem_file(d, spki(self.pub[spec]), spec + ".pem")
                pt = b"openssl wrote this for " + spec.encode()
                self.write(d, "pt", pt)
                p = self.openssl(d, "pkeyutl", "-encrypt", "-pubin", "-inkey", pem,
                                 "-pkeyopt", "rsa_padding_mode:oaep", *opts, "-in", "pt",
                                 "-out", "ct")
                self.assertEqual(p.returncode, 0, p.stderr)
                with open(os.path.join(d, "ct"), "rb") as f:
                    self.assertEqual(self.decrypt(spec, f.read(), alg), pt)

    def test_rsa_keys_need_an_rsa_algorithm(self):
        """Encrypt/Decrypt on an RSA key without EncryptionAlgorithm (SYMMETRIC_DEFAULT) and an
        OAEP algorithm on a symmetric key are InvalidKeyUsageException."""
        kid = self.keys["RSA_2048"]["KeyId"]
        msg = "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException", msg, KeyId=kid,
                            Plaintext=b"x")
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException", msg, KeyId=kid,
                            Plaintext=b"x", EncryptionAlgorithm="SYMMETRIC_DEFAULT")
        ct = self.pub["RSA_2048"].encrypt(b"x", oaep("RSAES_OAEP_SHA_256"))
        self.assertKmsError(self.kms.decrypt, "InvalidKeyUsageException", msg, KeyId=kid,
                            CiphertextBlob=ct)
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException",
                            "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec "
                            "SYMMETRIC_DEFAULT.", KeyId=self.keys["symmetric"]["KeyId"],
                            Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")

    def test_decrypt_of_rsa_ciphertext_needs_the_key_id(self):
        """An RSA ciphertext does not name its key: Decrypt without KeyId, or of garbage or a
        truncated ciphertext, is InvalidCiphertextException."""
        kid = self.keys["RSA_2048"]["KeyId"]
        alg = "RSAES_OAEP_SHA_256"
        ct = self.pub["RSA_2048"].encrypt(b"no key id", oaep(alg))
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", CiphertextBlob=ct,
                            EncryptionAlgorithm=alg)
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", CiphertextBlob=ct)
        for bad in (ct[:-1], flip_bit(ct, 100), os.urandom(256), b"short"):
            self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException",
                                CiphertextBlob=bad, KeyId=kid, EncryptionAlgorithm=alg)
        # A ciphertext for the 3072-bit key does not open with the 2048-bit one.
        ct3 = self.pub["RSA_3072"].encrypt(b"other key", oaep(alg))
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException",
                            CiphertextBlob=ct3, KeyId=kid, EncryptionAlgorithm=alg)

    def test_reencrypt_between_rsa_and_symmetric_keys(self):
        """ReEncrypt RSA -> symmetric -> RSA (other size and hash) -> RSA keeps the plaintext;
        key material IDs appear only for the symmetric side."""
        pt = b"re-encrypted across key types"
        sym = self.keys["symmetric"]
        ct = self.pub["RSA_2048"].encrypt(pt, oaep("RSAES_OAEP_SHA_256"))
        out = self.kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=self.keys["RSA_2048"]["KeyId"],
                                  SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256",
                                  DestinationKeyId=sym["KeyId"])
        self.assertEqual((out["SourceKeyId"], out["KeyId"]), (self.keys["RSA_2048"]["Arn"],
                                                              sym["Arn"]))
        self.assertEqual((out["SourceEncryptionAlgorithm"], out["DestinationEncryptionAlgorithm"]),
                         ("RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT"))
        self.assertNotIn("SourceKeyMaterialId", out)
        self.assertEqual(out["DestinationKeyMaterialId"], sym["CurrentKeyMaterialId"])
        dec = self.kms.decrypt(CiphertextBlob=out["CiphertextBlob"])
        self.assertEqual((dec["Plaintext"], dec["KeyId"]), (pt, sym["Arn"]))

        back = self.kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"],
                                   DestinationKeyId=self.keys["RSA_4096"]["KeyId"],
                                   DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1")
        self.assertEqual((back["SourceKeyId"], back["KeyId"]), (sym["Arn"],
                                                                self.keys["RSA_4096"]["Arn"]))
        self.assertEqual((back["SourceEncryptionAlgorithm"],
                          back["DestinationEncryptionAlgorithm"]),
                         ("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1"))
        self.assertEqual(back["SourceKeyMaterialId"], sym["CurrentKeyMaterialId"])
        self.assertNotIn("DestinationKeyMaterialId", back)
        self.assertEqual(len(back["CiphertextBlob"]), 512)
        self.assertEqual(self.decrypt("RSA_4096", back["CiphertextBlob"], "RSAES_OAEP_SHA_1"), pt)

        again = self.kms.re_encrypt(CiphertextBlob=back["CiphertextBlob"],
                                    SourceKeyId=self.keys["RSA_4096"]["KeyId"],
                                    SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                                    DestinationKeyId=self.keys["RSA_3072"]["KeyId"],
                                    DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.assertEqual(self.decrypt("RSA_3072", again["CiphertextBlob"], "RSAES_OAEP_SHA_256"),
                         pt)


# ---- HMAC -----------------------------------------------------------------------------------

class HmacTest(AsymmetricTestCase):

    def test_mac_lengths_and_determinism(self):
        """GenerateMac for HMAC_224..512: MAC of 28/32/48/64 bytes, deterministic, different for
        another message or another key of the same spec; VerifyMac answers MacValid true."""
        msg = b"authenticate me"
        for spec, (alg, length) in HMAC_SPECS.items():
            with self.subTest(spec=spec):
                md = self.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
                out = self.kms.generate_mac(KeyId=md["KeyId"], Message=msg, MacAlgorithm=alg)
                out.pop("ResponseMetadata")
                mac = out.pop("Mac")
                self.assertEqual(out, {"KeyId": md["Arn"], "MacAlgorithm": alg})
                self.assertEqual(len(mac), length)
                self.assertEqual(self.kms.generate_mac(KeyId=md["Arn"], Message=msg,
                                                       MacAlgorithm=alg)["Mac"], mac)
                self.assertNotEqual(self.kms.generate_mac(KeyId=md["KeyId"], Message=msg + b"!",
                                                          MacAlgorithm=alg)["Mac"], mac)
                other = self.create_key(KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
                self.assertNotEqual(self.kms.generate_mac(KeyId=other["KeyId"], Message=msg,
                                                          MacAlgorithm=alg)["Mac"], mac)
                v = self.kms.verify_mac(KeyId=md["KeyId"], Message=msg, Mac=mac, MacAlgorithm=alg)
                v.pop("ResponseMetadata")
                self.assertEqual(v, {"KeyId": md["Arn"], "MacValid": True, "MacAlgorithm": alg})

    def test_verify_mac_detects_tampering(self):
        """VerifyMac of a changed MAC or message, a truncated or extended MAC, or a MAC from
        another key is KMSInvalidMacException (never MacValid false)."""
        md = self.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")
        other = self.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")
        msg = b"tamper evident"
        mac = self.kms.generate_mac(KeyId=md["KeyId"], Message=msg,
                                    MacAlgorithm="HMAC_SHA_384")["Mac"]
        foreign = self.kms.generate_mac(KeyId=other["KeyId"], Message=msg,
                                        MacAlgorithm="HMAC_SHA_384")["Mac"]
        cases = {"flipped bit": (msg, flip_bit(mac, 47, 7)), "changed message": (b"Tamper "
                 b"evident", mac), "truncated": (msg, mac[:-1]), "extended": (msg, mac + b"\0"),
                 "other key": (msg, foreign), "empty message prefix": (msg[:-1], mac)}
        for name, (m, tag) in cases.items():
            with self.subTest(case=name):
                self.assertKmsError(self.kms.verify_mac, "KMSInvalidMacException",
                                    KeyId=md["KeyId"], Message=m, Mac=tag,
                                    MacAlgorithm="HMAC_SHA_384")

    def test_mac_algorithm_must_match_the_key_spec(self):
        """GenerateMac/VerifyMac with another HMAC algorithm: InvalidKeyUsageException."""
        md = self.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")
        for alg in ("HMAC_SHA_256", "HMAC_SHA_512"):
            with self.subTest(alg=alg):
                msg = "Algorithm %s is incompatible with key spec HMAC_224." % alg
                self.assertKmsError(self.kms.generate_mac, "InvalidKeyUsageException", msg,
                                    KeyId=md["KeyId"], Message=b"m", MacAlgorithm=alg)
                self.assertKmsError(self.kms.verify_mac, "InvalidKeyUsageException", msg,
                                    KeyId=md["KeyId"], Message=b"m", Mac=b"x" * 32,
                                    MacAlgorithm=alg)

    def test_other_key_usages_cannot_mac_and_hmac_keys_cannot_encrypt(self):
        """GenerateMac/VerifyMac on symmetric or signing keys, and Encrypt/Sign on an HMAC key,
        are InvalidKeyUsageException naming the key usage and the operation."""
        sym = self.create_key()["Arn"]
        p256 = self.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["Arn"]
        for arn, usage in ((sym, "ENCRYPT_DECRYPT"), (p256, "SIGN_VERIFY")):
            with self.subTest(usage=usage):
                self.assertKmsError(self.kms.generate_mac, "InvalidKeyUsageException",
                                    "%s key usage is %s which is not valid for GenerateMac."
                                    % (arn, usage), KeyId=arn, Message=b"m",
                                    MacAlgorithm="HMAC_SHA_256")
                self.assertKmsError(self.kms.verify_mac, "InvalidKeyUsageException",
                                    "%s key usage is %s which is not valid for VerifyMac."
                                    % (arn, usage), KeyId=arn, Message=b"m", Mac=b"x" * 32,
                                    MacAlgorithm="HMAC_SHA_256")
        hmac = self.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["Arn"]
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException",
                            "%s key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt."
                            % hmac, KeyId=hmac, Plaintext=b"x")
        self.assertKmsError(self.kms.generate_data_key, "InvalidKeyUsageException",
                            KeyId=hmac, KeySpec="AES_256")

    def test_mac_message_length(self):
        """GenerateMac takes 1..4096 bytes: 4096 works, 4097 is a ValidationException."""
        md = self.create_key(KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")
        mac = self.kms.generate_mac(KeyId=md["KeyId"], Message=b"m" * 4096,
                                    MacAlgorithm="HMAC_SHA_512")["Mac"]
        self.assertEqual(len(mac), 64)
        self.assertTrue(self.kms.verify_mac(KeyId=md["KeyId"], Message=b"m" * 4096, Mac=mac,
                                            MacAlgorithm="HMAC_SHA_512")["MacValid"])
        self.assertKmsError(self.kms.generate_mac, "ValidationException", KeyId=md["KeyId"],
                            Message=b"m" * 4097, MacAlgorithm="HMAC_SHA_512")
        self.assertKmsError(self.kms_nv.generate_mac, "ValidationException", KeyId=md["KeyId"],
                            Message=b"", MacAlgorithm="HMAC_SHA_512")


# ---- DeriveSharedSecret ---------------------------------------------------------------------

class KeyAgreementTest(AsymmetricTestCase):
    CURVE_SPECS = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")

    def agreement_key(self, spec):
        return self.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")

    def test_public_key_of_key_agreement_keys(self):
        """GetPublicKey of KEY_AGREEMENT keys: the curve's SPKI, KeyUsage KEY_AGREEMENT,
        KeyAgreementAlgorithms [ECDH] only."""
        for spec in self.CURVE_SPECS:
            with self.subTest(spec=spec):
                md = self.agreement_key(spec)
                out = self.kms.get_public_key(KeyId=md["KeyId"])
                out.pop("ResponseMetadata")
                self.check_spki(out.pop("PublicKey"), spec)
                self.assertEqual(out, {"KeyId": md["Arn"], "KeySpec": spec,
                                       "CustomerMasterKeySpec": spec, "KeyUsage": "KEY_AGREEMENT",
                                       "KeyAgreementAlgorithms": ["ECDH"]})

    def test_shared_secret_matches_cryptography_ecdh(self):
        """DeriveSharedSecret equals `cryptography`'s ECDH of the peer's private key with the
        KMS public key (32/48/66 bytes); KeyId, KeyAgreementAlgorithm ECDH, KeyOrigin
        AWS_KMS; the same peer gives the same secret, another peer another."""
        for spec in self.CURVE_SPECS:
            with self.subTest(spec=spec):
                md = self.agreement_key(spec)
                kms_pub = self.public_key(md["KeyId"])
                peer = ec.generate_private_key(CURVES[spec]())
                out = self.kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                                    PublicKey=spki(peer.public_key()))
                out.pop("ResponseMetadata")
                secret = out.pop("SharedSecret")
                self.assertEqual(out, {"KeyId": md["Arn"], "KeyAgreementAlgorithm": "ECDH",
                                       "KeyOrigin": "AWS_KMS"})
                self.assertEqual(secret, peer.exchange(ec.ECDH(), kms_pub))
                self.assertEqual(len(secret), (kms_pub.key_size + 7) // 8)
                again = self.kms.derive_shared_secret(KeyId=md["Arn"], KeyAgreementAlgorithm="ECDH",
                                                      PublicKey=spki(peer.public_key()))
                self.assertEqual(again["SharedSecret"], secret)
                peer2 = ec.generate_private_key(CURVES[spec]())
                other = self.kms.derive_shared_secret(KeyId=md["KeyId"],
                                                      KeyAgreementAlgorithm="ECDH",
                                                      PublicKey=spki(peer2.public_key()))
                self.assertEqual(other["SharedSecret"], peer2.exchange(ec.ECDH(), kms_pub))
                self.assertNotEqual(other["SharedSecret"], secret)

    def test_shared_secret_matches_openssl_derive(self):
        """openssl pkeyutl -derive with a peer key made by openssl gives the same secret."""
        d = self.tmpdir()
        md = self.agreement_key("ECC_NIST_P384")
        kms_pem = self.pem_file(d, self.kms.get_public_key(KeyId=md["KeyId"])["PublicKey"])
        p = self.openssl(d, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384",
                         "-out", "peer.pem")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.openssl(d, "pkey", "-in", "peer.pem", "-pubout", "-outform", "DER",
                         "-out", "peer.der")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.openssl(d, "pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", kms_pem,
                         "-out", "secret")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(d, "peer.der"), "rb") as f:
            peer_der = f.read()
        with open(os.path.join(d, "secret"), "rb") as f:
            expected = f.read()
        out = self.kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                            PublicKey=peer_der)
        self.assertEqual(len(expected), 48)
        self.assertEqual(out["SharedSecret"], expected)

    def test_bad_peer_public_keys(self):
        """Garbage, a truncated SPKI, a bare EC point, a key on another curve and an RSA key
        are ValidationException."""
        md = self.agreement_key("ECC_NIST_P256")
        good = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
        bare_point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        cases = {"garbage": os.urandom(91), "truncated": good[:-1], "bare point": bare_point,
                 "P-384 key": spki(ec.generate_private_key(ec.SECP384R1()).public_key()),
                 "secp256k1 key": spki(ec.generate_private_key(ec.SECP256K1()).public_key()),
                 "Ed25519 key": spki(ed25519.Ed25519PrivateKey.generate().public_key()),
                 "RSA key": spki(rsa.generate_private_key(65537, 1024).public_key())}
        for name, der in cases.items():
            with self.subTest(case=name):
                self.assertKmsError(self.kms.derive_shared_secret, "ValidationException",
                                    KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                    PublicKey=der)

    def test_only_key_agreement_keys_derive(self):
        """DeriveSharedSecret on SIGN_VERIFY/ENCRYPT_DECRYPT keys, and Sign/Encrypt on a
        KEY_AGREEMENT key, are InvalidKeyUsageException naming usage and operation."""
        peer = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
        signer = self.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["Arn"]
        sym = self.create_key()["Arn"]
        for arn, usage in ((signer, "SIGN_VERIFY"), (sym, "ENCRYPT_DECRYPT")):
            with self.subTest(usage=usage):
                self.assertKmsError(self.kms.derive_shared_secret, "InvalidKeyUsageException",
                                    "%s key usage is %s which is not valid for "
                                    "DeriveSharedSecret." % (arn, usage), KeyId=arn,
                                    KeyAgreementAlgorithm="ECDH", PublicKey=peer)
        ka = self.agreement_key("ECC_NIST_P256")["Arn"]
        self.assertKmsError(self.kms.sign, "InvalidKeyUsageException",
                            "%s key usage is KEY_AGREEMENT which is not valid for Sign." % ka,
                            KeyId=ka, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException",
                            "%s key usage is KEY_AGREEMENT which is not valid for Encrypt." % ka,
                            KeyId=ka, Plaintext=b"m")


# ---- GenerateDataKeyPair --------------------------------------------------------------------

class DataKeyPairTest(AsymmetricTestCase):

    def check_pair(self, spec, private_der, public_der):
        """PKCS#8 private key of `spec` whose public half is `public_der`."""
        self.check_spki(public_der, spec)
        priv = serialization.load_der_private_key(private_der, password=None)
        self.assertEqual(spki(priv.public_key()), public_der)
        return priv

    def test_every_key_pair_spec(self):
        """GenerateDataKeyPair for every KeyPairSpec: PKCS#8 private key whose public key is
        PublicKey (DER SPKI), and Decrypt(PrivateKeyCiphertextBlob) gives the private key back."""
        sym = self.create_key()
        pairs = {spec: self.kms.generate_data_key_pair(KeyId=sym["KeyId"], KeyPairSpec=spec)
                 for spec in KEY_PAIR_SPECS}
        for spec, out in pairs.items():
            with self.subTest(spec=spec):
                self.assertEqual((out["KeyId"], out["KeyPairSpec"]), (sym["Arn"], spec))
                self.check_pair(spec, out["PrivateKeyPlaintext"], out["PublicKey"])
                dec = self.kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])
                self.assertEqual(dec["Plaintext"], out["PrivateKeyPlaintext"])
                self.assertEqual(dec["KeyId"], sym["Arn"])
        self.assertEqual(len({p["PublicKey"] for p in pairs.values()}), len(KEY_PAIR_SPECS))

    def test_pairs_are_fresh_and_usable(self):
        """Two calls give two different key pairs, and the private key signs what the public
        key verifies."""
        sym = self.create_key()["KeyId"]
        a = self.kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P256")
        b = self.kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P256")
        self.assertNotEqual(a["PrivateKeyPlaintext"], b["PrivateKeyPlaintext"])
        self.assertNotEqual(a["PublicKey"], b["PublicKey"])
        priv = serialization.load_der_private_key(a["PrivateKeyPlaintext"], password=None)
        sig = priv.sign(b"data key pair", ec.ECDSA(hashes.SHA256()))
        serialization.load_der_public_key(a["PublicKey"]).verify(
            sig, b"data key pair", ec.ECDSA(hashes.SHA256()))

    def test_encryption_context_applies(self):
        """The private key ciphertext is bound to the EncryptionContext."""
        sym = self.create_key()["KeyId"]
        ctx = {"purpose": "key pair", "tenant": "t1"}
        out = self.kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P384",
                                              EncryptionContext=ctx)
        blob = out["PrivateKeyCiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"],
                         out["PrivateKeyPlaintext"])
        for bad in (None, {"purpose": "key pair"}, dict(ctx, tenant="t2")):
            with self.subTest(context=bad):
                kw = {"EncryptionContext": bad} if bad is not None else {}
                self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException",
                                    CiphertextBlob=blob, **kw)

    def test_without_plaintext(self):
        """GenerateDataKeyPairWithoutPlaintext has no PrivateKeyPlaintext; the decrypted
        PrivateKeyCiphertextBlob is the private key of PublicKey."""
        sym = self.create_key()
        for spec in ("ECC_NIST_P521", "ECC_NIST_EDWARDS25519", "RSA_2048"):
            with self.subTest(spec=spec):
                out = self.kms.generate_data_key_pair_without_plaintext(KeyId=sym["KeyId"],
                                                                        KeyPairSpec=spec)
                self.assertNotIn("PrivateKeyPlaintext", out)
                self.assertEqual((out["KeyId"], out["KeyPairSpec"]), (sym["Arn"], spec))
                private = self.kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"])
                self.check_pair(spec, private["Plaintext"], out["PublicKey"])

    def test_key_id_must_be_a_symmetric_encryption_key(self):
        """GenerateDataKeyPair on signing, HMAC or key-agreement keys: InvalidKeyUsageException."""
        for spec, usage in (("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
                            ("ECC_NIST_P256", "KEY_AGREEMENT")):
            arn = self.create_key(KeySpec=spec, KeyUsage=usage)["Arn"]
            for fn in (self.kms.generate_data_key_pair,
                       self.kms.generate_data_key_pair_without_plaintext):
                with self.subTest(usage=usage, op=fn.__name__):
                    e = self.assertKmsError(fn, "InvalidKeyUsageException", KeyId=arn,
                                            KeyPairSpec="ECC_NIST_P256")
                    self.assertIn(arn, e.response["Error"]["Message"])


# ---- DryRun, last usage, disabled keys, grants, policies ------------------------------------

class OperationsTest(AsymmetricTestCase):
    reset_between_tests = False
    shared_keys = {"rsa": ("RSA_2048", "SIGN_VERIFY")}

    def fresh(self, spec, usage):
        return self.create_key(KeySpec=spec, KeyUsage=usage)

    def test_dry_run_on_every_new_operation(self):
        """DryRun:true on Sign, Verify, GenerateMac, VerifyMac, DeriveSharedSecret and
        GenerateDataKeyPair(WithoutPlaintext) is DryRunOperationException, and does not count
        as a use of the key."""
        signer = self.fresh("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
        mac = self.fresh("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
        ka = self.fresh("ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
        sym = self.create_key()["KeyId"]
        sig = self.kms.sign(KeyId=signer, Message=b"m", SigningAlgorithm="ECDSA_SHA_256",
                            DryRun=False)["Signature"]
        fresh_signer = self.fresh("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
        peer = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
        calls = {
            "Sign": (self.kms.sign, dict(KeyId=fresh_signer, Message=b"m",
                                         SigningAlgorithm="ECDSA_SHA_256")),
            "Verify": (self.kms.verify, dict(KeyId=signer, Message=b"m", Signature=sig,
                                             SigningAlgorithm="ECDSA_SHA_256")),
            "GenerateMac": (self.kms.generate_mac, dict(KeyId=mac, Message=b"m",
                                                        MacAlgorithm="HMAC_SHA_256")),
            "VerifyMac": (self.kms.verify_mac, dict(KeyId=mac, Message=b"m", Mac=b"x" * 32,
                                                    MacAlgorithm="HMAC_SHA_256")),
            "DeriveSharedSecret": (self.kms.derive_shared_secret,
                                   dict(KeyId=ka, KeyAgreementAlgorithm="ECDH", PublicKey=peer)),
            "GenerateDataKeyPair": (self.kms.generate_data_key_pair,
                                    dict(KeyId=sym, KeyPairSpec="ECC_NIST_P256")),
            "GenerateDataKeyPairWithoutPlaintext": (
                self.kms.generate_data_key_pair_without_plaintext,
                dict(KeyId=sym, KeyPairSpec="ECC_NIST_P256")),
        }
        # `signer` made the signature for Verify, so its last use is that Sign: the dry-run
        # Verify must leave it so.
        signed = self.kms.get_key_last_usage(KeyId=signer)["KeyLastUsage"]
        self.assertEqual(signed["Operation"], "Sign")
        for name, (fn, kw) in calls.items():
            with self.subTest(op=name):
                # HTTP 400, as test_keys.DryRunTest pins it for the symmetric operations.
                self.assertKmsError(fn, "DryRunOperationException", DRY_RUN_MSG, DryRun=True,
                                    **kw)
        for kid in (fresh_signer, mac, ka, sym):
            self.assertNotIn("KeyLastUsage", self.kms.get_key_last_usage(KeyId=kid))
        self.assertEqual(self.kms.get_key_last_usage(KeyId=signer)["KeyLastUsage"], signed)

    def test_key_last_usage_records_the_new_operations(self):
        """GetKeyLastUsage names Sign, Verify, GenerateMac, VerifyMac and DeriveSharedSecret,
        with the request ID of that call, right after each of them; GetPublicKey and rejected
        signatures or MACs do not count."""
        signer = self.fresh("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
        mac = self.fresh("HMAC_224", "GENERATE_VERIFY_MAC")["KeyId"]
        ka = self.fresh("ECC_NIST_P384", "KEY_AGREEMENT")["KeyId"]
        peer = spki(ec.generate_private_key(ec.SECP384R1()).public_key())

        def check(kid, op, resp):
            last = self.kms.get_key_last_usage(KeyId=kid)["KeyLastUsage"]
            self.assertEqual((last["Operation"], last["KmsRequestId"]),
                             (op, resp["ResponseMetadata"]["RequestId"]))
            return resp

        sig = check(signer, "Sign", self.kms.sign(KeyId=signer, Message=b"m",
                                                  SigningAlgorithm="ECDSA_SHA_256"))["Signature"]
        check(signer, "Verify", self.kms.verify(KeyId=signer, Message=b"m", Signature=sig,
                                                SigningAlgorithm="ECDSA_SHA_256"))
        tag = check(mac, "GenerateMac", self.kms.generate_mac(
            KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_224"))["Mac"]
        check(mac, "VerifyMac", self.kms.verify_mac(KeyId=mac, Message=b"m", Mac=tag,
                                                    MacAlgorithm="HMAC_SHA_224"))
        check(ka, "DeriveSharedSecret", self.kms.derive_shared_secret(
            KeyId=ka, KeyAgreementAlgorithm="ECDH", PublicKey=peer))
        # Only successful cryptographic operations count: not GetPublicKey, not a rejected
        # signature or MAC.
        self.kms.get_public_key(KeyId=ka)
        self.assertEqual(self.kms.get_key_last_usage(KeyId=ka)["KeyLastUsage"]["Operation"],
                         "DeriveSharedSecret")
        self.kms.sign(KeyId=signer, Message=b"n", SigningAlgorithm="ECDSA_SHA_256")
        self.assertKmsError(self.kms.verify, "KMSInvalidSignatureException", KeyId=signer,
                            Message=b"n", Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
        self.assertEqual(self.kms.get_key_last_usage(KeyId=signer)["KeyLastUsage"]["Operation"],
                         "Sign")
        self.kms.generate_mac(KeyId=mac, Message=b"n", MacAlgorithm="HMAC_SHA_224")
        self.assertKmsError(self.kms.verify_mac, "KMSInvalidMacException", KeyId=mac,
                            Message=b"n", Mac=tag, MacAlgorithm="HMAC_SHA_224")
        self.assertEqual(self.kms.get_key_last_usage(KeyId=mac)["KeyLastUsage"]["Operation"],
                         "GenerateMac")

    def test_disabled_keys_refuse_every_operation(self):
        """A disabled signing, HMAC or key-agreement key: Sign, Verify, GetPublicKey,
        GenerateMac and DeriveSharedSecret are DisabledException '<ARN> is disabled.'; enabling
        it again restores them."""
        signer = self.fresh("ECC_NIST_EDWARDS25519", "SIGN_VERIFY")["Arn"]
        mac = self.fresh("HMAC_256", "GENERATE_VERIFY_MAC")["Arn"]
        ka = self.fresh("ECC_NIST_P256", "KEY_AGREEMENT")["Arn"]
        sig = self.kms.sign(KeyId=signer, Message=b"m", SigningAlgorithm="ED25519_SHA_512")[
            "Signature"]
        peer = spki(ec.generate_private_key(ec.SECP256R1()).public_key())
        for arn in (signer, mac, ka):
            self.kms.disable_key(KeyId=arn)
        calls = (("Sign", signer, self.kms.sign, dict(Message=b"m",
                                                       SigningAlgorithm="ED25519_SHA_512")),
                 ("Verify", signer, self.kms.verify, dict(Message=b"m", Signature=sig,
                                                          SigningAlgorithm="ED25519_SHA_512")),
                 ("GetPublicKey", signer, self.kms.get_public_key, {}),
                 ("GenerateMac", mac, self.kms.generate_mac, dict(Message=b"m",
                                                                  MacAlgorithm="HMAC_SHA_256")),
                 ("DeriveSharedSecret", ka, self.kms.derive_shared_secret,
                  dict(KeyAgreementAlgorithm="ECDH", PublicKey=peer)))
        for name, arn, fn, kw in calls:
            with self.subTest(op=name):
                self.assertKmsError(fn, "DisabledException", "%s is disabled." % arn, KeyId=arn,
                                    **kw)
        for arn in (signer, mac, ka):
            self.kms.enable_key(KeyId=arn)
        v = self.kms.verify(KeyId=signer, Message=b"m", Signature=sig,
                            SigningAlgorithm="ED25519_SHA_512")
        self.assertTrue(v["SignatureValid"])
        self.assertEqual(self.kms.get_public_key(KeyId=signer)["KeyId"], signer)
        self.assertEqual(len(self.kms.generate_mac(KeyId=mac, Message=b"m",
                                                   MacAlgorithm="HMAC_SHA_256")["Mac"]), 32)
        self.assertEqual(len(self.kms.derive_shared_secret(
            KeyId=ka, KeyAgreementAlgorithm="ECDH", PublicKey=peer)["SharedSecret"]), 32)
        self.kms.schedule_key_deletion(KeyId=signer, PendingWindowInDays=7)
        self.assertKmsError(self.kms.sign, "KMSInvalidStateException",
                            "%s is pending deletion." % signer, KeyId=signer, Message=b"m",
                            SigningAlgorithm="ED25519_SHA_512")

    def test_rotation_is_for_symmetric_keys_only(self):
        """Enable/DisableKeyRotation refuse asymmetric and HMAC keys with AWS's text and
        RotateKeyOnDemand with no message (kms-reference §5.4 [S]); GetKeyRotationStatus answers
        false for them (as AWS does now, and as Terraform reads for every key)."""
        message = ("You cannot perform this operation on a non-symmetric key or a key with "
                   "non-ENCRYPT_DECRYPT key usage.")
        for spec, usage in (("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
                            ("ECC_NIST_P384", "KEY_AGREEMENT")):
            kid = self.fresh(spec, usage)["KeyId"]
            with self.subTest(spec=spec, usage=usage):
                for call in (self.kms.enable_key_rotation, self.kms.disable_key_rotation):
                    self.assertKmsError(call, "UnsupportedOperationException", message,
                                        KeyId=kid)
                self.assertKmsError(self.kms.rotate_key_on_demand,
                                    "UnsupportedOperationException", "", KeyId=kid)
                status = self.kms.get_key_rotation_status(KeyId=kid)
                self.assertIs(status["KeyRotationEnabled"], False)
                self.assertEqual(status["KeyId"], key_arn(kid))
                self.assertNotIn("RotationPeriodInDays", status)

    def test_grant_operations_must_fit_the_key_usage(self):
        """CreateGrant checks each operation against the key usage and spec: Encrypt or
        GenerateMac on a P-256 signing key and Sign on an HMAC or key-agreement key are
        ValidationException; Sign/Verify/GetPublicKey, GenerateMac/VerifyMac and
        DeriveSharedSecret/GetPublicKey are accepted."""
        grantee = "arn:aws:iam::%s:user/grantee" % ACCOUNT
        signer = self.fresh("ECC_NIST_P256", "SIGN_VERIFY")["KeyId"]
        mac = self.fresh("HMAC_256", "GENERATE_VERIFY_MAC")["KeyId"]
        ka = self.fresh("ECC_NIST_P256", "KEY_AGREEMENT")["KeyId"]
        bad = ((signer, "Encrypt", "SIGN_VERIFY", "ECC_NIST_P256"),
               (signer, "GenerateMac", "SIGN_VERIFY", "ECC_NIST_P256"),
               (signer, "DeriveSharedSecret", "SIGN_VERIFY", "ECC_NIST_P256"),
               (mac, "Sign", "GENERATE_VERIFY_MAC", "HMAC_256"),
               (mac, "GetPublicKey", "GENERATE_VERIFY_MAC", "HMAC_256"),
               (ka, "Sign", "KEY_AGREEMENT", "ECC_NIST_P256"),
               (self.keys["rsa"]["KeyId"], "Decrypt", "SIGN_VERIFY", "RSA_2048"))
        for kid, op, usage, spec in bad:
            with self.subTest(op=op, usage=usage):
                self.assertKmsError(self.kms.create_grant, "ValidationException",
                                    "Grant operation %s is not valid for key usage %s and key "
                                    "spec %s." % (op, usage, spec), KeyId=kid,
                                    GranteePrincipal=grantee, Operations=[op, "DescribeKey"])
        good = ((signer, ["Sign", "Verify", "GetPublicKey"]),
                (mac, ["GenerateMac", "VerifyMac"]),
                (ka, ["DeriveSharedSecret", "GetPublicKey"]))
        for kid, ops in good:
            with self.subTest(ops=ops):
                self.assertEqual(self.kms.list_grants(KeyId=kid)["Grants"], [])
                gid = self.kms.create_grant(KeyId=kid, GranteePrincipal=grantee,
                                            Operations=ops)["GrantId"]
                grants = self.kms.list_grants(KeyId=kid)["Grants"]
                self.assertEqual([(g["GrantId"], sorted(g["Operations"])) for g in grants],
                                 [(gid, sorted(ops))])

    def test_policy_condition_on_signing_algorithm(self):
        """A key policy Deny of kms:Sign when kms:SigningAlgorithm is
        RSASSA_PKCS1_V1_5_SHA_256 blocks that algorithm only: PSS still signs, and Verify of
        PKCS#1 signatures is not affected."""
        arn = self.keys["rsa"]["Arn"]
        pub = self.public_key(arn)
        self.addCleanup(self.kms.put_key_policy, KeyId=arn, PolicyName="default",
                        Policy=policy())
        self.kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy(deny(
            "kms:Sign", {"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}})))
        self.assertKmsError(self.kms.sign, "AccessDeniedException", deny_message("Sign", arn),
                            KeyId=arn, Message=b"m", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
        for alg in ("RSASSA_PSS_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384"):
            sig = self.kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm=alg)["Signature"]
            local_verify(pub, alg, b"m", sig)
        self.kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy())
        sig = self.kms.sign(KeyId=arn, Message=b"m",
                            SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
        self.kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy(deny(
            "kms:Sign", {"StringEquals": {"kms:SigningAlgorithm": "RSASSA_PKCS1_V1_5_SHA_256"}})))
        self.assertTrue(self.kms.verify(KeyId=arn, Message=b"m", Signature=sig,
                                        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
                        ["SignatureValid"])

    def test_policy_conditions_on_message_type_mac_algorithm_and_key_pair_spec(self):
        """kms:MessageType, kms:MacAlgorithm and kms:DataKeyPairSpec in Deny statements block
        only the matching requests."""
        signer = self.fresh("ECC_NIST_P256", "SIGN_VERIFY")["Arn"]
        self.kms.put_key_policy(KeyId=signer, PolicyName="default", Policy=policy(deny(
            "kms:Sign", {"StringEquals": {"kms:MessageType": "DIGEST"}})))
        self.assertKmsError(self.kms.sign, "AccessDeniedException", deny_message("Sign", signer),
                            KeyId=signer, Message=b"d" * 32, MessageType="DIGEST",
                            SigningAlgorithm="ECDSA_SHA_256")
        self.kms.sign(KeyId=signer, Message=b"d" * 32, MessageType="RAW",
                      SigningAlgorithm="ECDSA_SHA_256")

        mac = self.fresh("HMAC_256", "GENERATE_VERIFY_MAC")["Arn"]
        tag = self.kms.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
        self.kms.put_key_policy(KeyId=mac, PolicyName="default", Policy=policy(deny(
            "kms:GenerateMac", {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_256"}})))
        self.assertKmsError(self.kms.generate_mac, "AccessDeniedException",
                            deny_message("GenerateMac", mac), KeyId=mac, Message=b"m",
                            MacAlgorithm="HMAC_SHA_256")
        self.assertTrue(self.kms.verify_mac(KeyId=mac, Message=b"m", Mac=tag,
                                            MacAlgorithm="HMAC_SHA_256")["MacValid"])

        sym = self.create_key()["Arn"]
        self.kms.put_key_policy(KeyId=sym, PolicyName="default", Policy=policy(deny(
            "kms:GenerateDataKeyPair", {"StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P384"}})))
        self.assertKmsError(self.kms.generate_data_key_pair, "AccessDeniedException",
                            deny_message("GenerateDataKeyPair", sym), KeyId=sym,
                            KeyPairSpec="ECC_NIST_P384")
        out = self.kms.generate_data_key_pair(KeyId=sym, KeyPairSpec="ECC_NIST_P256")
        self.assertEqual(out["KeyPairSpec"], "ECC_NIST_P256")


# ---- persistence ----------------------------------------------------------------------------

class RestartTest(unittest.TestCase):
    """Asymmetric, HMAC and key-agreement keys survive a restart on the same data dir."""

    def setUp(self):
        self.server = KmsdServer()
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def test_keys_keep_working_after_restart(self):
        """After a restart: same public keys and metadata; old signatures still verify with
        Verify; new signatures verify with the public key fetched before the restart; HMAC
        and ECDH give the same bytes; an RSA ciphertext made before decrypts; a data key pair
        private key still decrypts."""
        kms = self.server.client()
        specs = {"rsa": ("RSA_2048", "SIGN_VERIFY"), "p256": ("ECC_NIST_P256", "SIGN_VERIFY"),
                 "k1": ("ECC_SECG_P256K1", "SIGN_VERIFY"),
                 "ed": ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
                 "hmac": ("HMAC_384", "GENERATE_VERIFY_MAC"),
                 "ka": ("ECC_NIST_P521", "KEY_AGREEMENT"),
                 "enc": ("RSA_2048", "ENCRYPT_DECRYPT"),
                 "sym": ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT")}
        keys = create_keys(kms, specs)
        algs = {"rsa": "RSASSA_PSS_SHA_512", "p256": "ECDSA_SHA_256", "k1": "ECDSA_SHA_256",
                "ed": "ED25519_SHA_512"}
        msg = b"signed before the restart"
        pubs = {n: kms.get_public_key(KeyId=keys[n]["KeyId"])["PublicKey"]
                for n in ("rsa", "p256", "k1", "ed", "ka", "enc")}
        before = {n: kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"] for n, md in keys.items()}
        sigs = {n: kms.sign(KeyId=keys[n]["KeyId"], Message=msg, SigningAlgorithm=a)["Signature"]
                for n, a in algs.items()}
        mac = kms.generate_mac(KeyId=keys["hmac"]["KeyId"], Message=msg,
                               MacAlgorithm="HMAC_SHA_384")["Mac"]
        peer = ec.generate_private_key(ec.SECP521R1())
        secret = kms.derive_shared_secret(KeyId=keys["ka"]["KeyId"], KeyAgreementAlgorithm="ECDH",
                                          PublicKey=spki(peer.public_key()))["SharedSecret"]
        enc_pub = serialization.load_der_public_key(pubs["enc"])
        ct = enc_pub.encrypt(b"rsa before restart", oaep("RSAES_OAEP_SHA_256"))
        pair = kms.generate_data_key_pair(KeyId=keys["sym"]["KeyId"], KeyPairSpec="ECC_NIST_P256")

        self.server.restart()
        kms = self.server.client()

        for n, md in keys.items():
            self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"], before[n], n)
        for n, der in pubs.items():
            self.assertEqual(kms.get_public_key(KeyId=keys[n]["KeyId"])["PublicKey"], der, n)
        for n, alg in algs.items():
            with self.subTest(key=n):
                self.assertTrue(kms.verify(KeyId=keys[n]["KeyId"], Message=msg, Signature=sigs[n],
                                           SigningAlgorithm=alg)["SignatureValid"])
                new = kms.sign(KeyId=keys[n]["KeyId"], Message=b"after", SigningAlgorithm=alg)
                local_verify(serialization.load_der_public_key(pubs[n]), alg, b"after",
                             new["Signature"])
        self.assertEqual(kms.generate_mac(KeyId=keys["hmac"]["KeyId"], Message=msg,
                                          MacAlgorithm="HMAC_SHA_384")["Mac"], mac)
        self.assertEqual(kms.derive_shared_secret(
            KeyId=keys["ka"]["KeyId"], KeyAgreementAlgorithm="ECDH",
            PublicKey=spki(peer.public_key()))["SharedSecret"], secret)
        self.assertEqual(secret, peer.exchange(ec.ECDH(), serialization.load_der_public_key(
            pubs["ka"])))
        self.assertEqual(kms.decrypt(CiphertextBlob=ct, KeyId=keys["enc"]["KeyId"],
                                     EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"],
                         b"rsa before restart")
        self.assertEqual(kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"],
                         pair["PrivateKeyPlaintext"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
