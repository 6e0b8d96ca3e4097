"""Secrets hygiene (issue 10): with debug logging on, run every operation that handles plaintext
or key material, including error paths whose request carries plaintext; then search the logs,
every error body, the SQLite file and its WAL/SHM for the plaintexts, data keys, random bytes and
the seeded root key material, in every spelling (raw, base64, hex): zero hits."""

import base64
import json
import os
import shutil
import tempfile
import unittest

from harness import KmsdServer, b64

KEY_ID = "6f0ae2b1-1c8e-4d0a-9a4e-52d2a8f1c0d7"
OTHER_ID = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
ROOT = bytes.fromhex("a1b2c3d4e5f60718293a4b5c6d7e8f90" "0f1e2d3c4b5a69788796a5b4c3d2e1f0")
ROOT2 = bytes.fromhex("d00dfeedcafebabe0badf00ddeadbeef" "1234567890abcdef1234567890abcdef")
SEED = """\
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: %s
          Description: secrets
        BackingKeys:
          - %s
      - Metadata:
          KeyId: %s
          Description: other
        BackingKeys:
          - %s
Aliases:
  - AliasName: alias/secrets
    TargetKeyId: %s
""" % (KEY_ID, ROOT.hex(), OTHER_ID, ROOT2.hex(), KEY_ID)


def spellings(secret):
    """The ways a secret could leak into text or files."""
    out = {secret, secret.hex().encode(), secret.hex().upper().encode()}
    enc = base64.b64encode(secret)
    out |= {enc, enc.rstrip(b"="), base64.urlsafe_b64encode(secret).rstrip(b"=")}
    return out


class SecretsHygieneTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-secrets-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        seed = os.path.join(self.tmp, "seed.yaml")
        with open(seed, "w") as f:
            f.write(SEED)
        self.server = KmsdServer(extra_args=["--log-level", "debug", "--seed", seed])
        self.addCleanup(self.server.cleanup)
        self.server.start()
        self.secrets = {"root key": ROOT, "second root key": ROOT2}
        self.error_bodies = []

    def secret(self, name, n=32):
        value = os.urandom(n)
        self.secrets[name] = value
        return value

    def call(self, op, body, expect=200):
        status, _, data = self.server.raw("TrentService." + op, body)
        if expect is not None:
            self.assertEqual(status, expect, (op, data[:300]))
        if status != 200:
            self.error_bodies.append((op, data))
        return data

    def json_call(self, op, body, expect=200):
        data = self.call(op, body, expect)
        return json.loads(data) if data else None

    def exercise(self):
        pt = self.secret("plaintext")
        enc = self.json_call("Encrypt", {"KeyId": "alias/secrets", "Plaintext": b64(pt),
                                         "EncryptionContext": {"purpose": "hygiene"}})
        blob = enc["CiphertextBlob"]
        self.decrypt_body = self.call("Decrypt", {"CiphertextBlob": blob,
                                                  "EncryptionContext": {"purpose": "hygiene"}})
        self.assertEqual(base64.b64decode(json.loads(self.decrypt_body)["Plaintext"]), pt)
        re = self.json_call("ReEncrypt", {
            "CiphertextBlob": blob, "SourceEncryptionContext": {"purpose": "hygiene"},
            "DestinationKeyId": OTHER_ID})
        out = self.json_call("Decrypt", {"CiphertextBlob": re["CiphertextBlob"]})
        self.assertEqual(base64.b64decode(out["Plaintext"]), pt)

        for spec in ({"KeySpec": "AES_256"}, {"KeySpec": "AES_128"}, {"NumberOfBytes": 48}):
            dk = self.json_call("GenerateDataKey", dict(KeyId=KEY_ID, **spec))
            name = "data key %s" % spec
            self.secrets[name] = base64.b64decode(dk["Plaintext"])
            out = self.json_call("Decrypt", {"CiphertextBlob": dk["CiphertextBlob"]})
            self.assertEqual(base64.b64decode(out["Plaintext"]), self.secrets[name])
        dk = self.json_call("GenerateDataKeyWithoutPlaintext",
                            {"KeyId": KEY_ID, "KeySpec": "AES_256"})
        out = self.json_call("Decrypt", {"CiphertextBlob": dk["CiphertextBlob"]})
        self.secrets["data key without plaintext"] = base64.b64decode(out["Plaintext"])
        rnd = self.json_call("GenerateRandom", {"NumberOfBytes": 64})
        self.secrets["random bytes"] = base64.b64decode(rnd["Plaintext"])

        # Rotation makes new root material inside the HSM; it is used, then decrypted again.
        self.json_call("RotateKeyOnDemand", {"KeyId": KEY_ID})
        pt2 = self.secret("plaintext after rotation", 40)
        blob2 = self.json_call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(pt2)})
        self.json_call("Decrypt", {"CiphertextBlob": blob2["CiphertextBlob"]})

        # Error paths whose requests carry plaintext (or yield none).
        bad_pt = self.secret("plaintext of failed requests", 24)
        self.call("Encrypt", {"KeyId": "alias/missing", "Plaintext": b64(bad_pt)}, 400)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(bad_pt),
                              "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}, 400)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(bad_pt),
                              "GrantTokens": ["x" * 9000]}, 400)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(bad_pt),
                              "EncryptionContext": {"a": 1}}, 400)
        too_long = self.secret("plaintext over the limit", 4097)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(too_long)}, 400)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(bad_pt), "Extra": 1}, None)
        # Malformed JSON around the plaintext: the parser's message must not quote it.
        self.call("Encrypt", '{"KeyId": "%s", "Plaintext": "%s", ' % (KEY_ID, b64(bad_pt)), 400)
        self.call("Encrypt", '{"KeyId": "%s", "Plaintext": "%s\x01"}' % (KEY_ID, b64(bad_pt)),
                  400)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": b64(bad_pt)[:-2] + "!!"}, 400)
        self.call("Encrypt", {"KeyId": KEY_ID, "Plaintext": 12345}, 400)
        self.call("Decrypt", {"CiphertextBlob": blob,
                              "EncryptionContext": {"purpose": "wrong"}}, 400)
        self.call("Decrypt", {"CiphertextBlob": blob, "KeyId": OTHER_ID}, 400)
        self.call("ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": "alias/missing",
                                "SourceEncryptionContext": {"purpose": "hygiene"}}, 400)
        self.call("GenerateDataKey", {"KeyId": KEY_ID, "KeySpec": "AES_256",
                                      "NumberOfBytes": 32}, 400)
        self.call("DisableKey", {"KeyId": OTHER_ID})
        self.call("Encrypt", {"KeyId": OTHER_ID, "Plaintext": b64(bad_pt)}, 400)
        self.call("GenerateDataKey", {"KeyId": OTHER_ID, "KeySpec": "AES_256"}, 400)
        self.call("ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": OTHER_ID,
                                "SourceEncryptionContext": {"purpose": "hygiene"}}, 400)
        self.call("EnableKey", {"KeyId": OTHER_ID})
        # Admin endpoints and the health check, for their log lines.
        self.server.health()

    def hits(self, data):
        found = []
        for name, secret in self.secrets.items():
            for form in spellings(secret):
                if form in data:
                    found.append(name)
                    break
        return found

    def data_files(self):
        out = {}
        for name in sorted(os.listdir(self.server.data_dir)):
            if name.startswith("kmsd.db"):
                with open(os.path.join(self.server.data_dir, name), "rb") as f:
                    out[name] = f.read()
        return out

    def test_no_secret_in_logs_errors_or_database(self):
        self.exercise()
        self.assertGreaterEqual(len(self.error_bodies), 15)
        # While running: the WAL and SHM hold the recent writes.
        running = self.data_files()
        self.assertIn("kmsd.db-wal", running)
        self.assertEqual(self.server.stop(), 0)
        stopped = self.data_files()
        logs = (self.server.stdout() + self.server.stderr()).encode()
        self.assertIn(b"Encrypt", logs)  # debug logging was on: requests are in the log
        problems = []
        for op, body in self.error_bodies:
            for name in self.hits(body):
                problems.append("%s error body: %s" % (op, name))
        for name in self.hits(logs):
            problems.append("logs: %s" % name)
        for label, files in (("running", running), ("stopped", stopped)):
            for fname, data in files.items():
                for name in self.hits(data):
                    problems.append("%s %s: %s" % (label, fname, name))
        self.assertEqual(problems, [])
        # The search itself works: the secret spellings are found where they belong.
        self.assertIn("root key", self.hits(SEED.encode()))
        self.assertIn("plaintext", self.hits(self.decrypt_body))
        print("\nsecrets hygiene: %d secrets x %d spellings searched in %d bytes of logs, %d "
              "error bodies, %s: 0 hits" % (
                  len(self.secrets), len(spellings(ROOT)), len(logs), len(self.error_bodies),
                  ", ".join("%s (%d bytes)" % (n, len(d)) for n, d in running.items())))


if __name__ == "__main__":
    unittest.main()
