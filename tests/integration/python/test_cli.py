"""The AWS CLI (v1, `aws` on PATH) against kmsd."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import ACCOUNT, ACCESS_KEY, SECRET_KEY, KmsdTestCase, key_arn, alias_arn


@unittest.skipIf(shutil.which("aws") is None, "aws CLI not on PATH")
class CliTest(KmsdTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        cls.env.update({
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        })

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="kmsd-cli-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def aws(self, *args, check=True):
        cmd = ["aws", "kms"] + list(args) + [
            "--endpoint-url", self.server.endpoint, "--region", "us-east-1", "--output", "json"]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(p.returncode, 0, "%s\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd), p.stdout, p.stderr))
        return p

    def aws_json(self, *args):
        p = self.aws(*args)
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def test_full_flow(self):
        md = self.aws_json("create-key", "--description", "from cli")["KeyMetadata"]
        kid = md["KeyId"]
        self.assertEqual(md["Arn"], key_arn(kid))
        self.assertEqual(md["AWSAccountId"], ACCOUNT)
        self.assertEqual(md["Description"], "from cli")
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertEqual(md["KeySpec"], "SYMMETRIC_DEFAULT")

        p = self.aws("create-alias", "--alias-name", "alias/cli-test", "--target-key-id", kid)
        self.assertEqual(p.stdout.strip(), "")

        plaintext = os.urandom(40)
        pt_path = os.path.join(self.tmp, "plain.bin")
        with open(pt_path, "wb") as f:
            f.write(plaintext)
        enc = self.aws_json("encrypt", "--key-id", "alias/cli-test",
                            "--plaintext", "fileb://" + pt_path)
        self.assertEqual(enc["KeyId"], md["Arn"])
        self.assertEqual(enc["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        blob = base64.b64decode(enc["CiphertextBlob"])
        self.assertEqual(len(blob), 40 + 153)
        self.assertEqual(blob[:3], b"\x01\x02\x02")

        blob_path = os.path.join(self.tmp, "blob.bin")
        with open(blob_path, "wb") as f:
            f.write(blob)
        dec = self.aws_json("decrypt", "--ciphertext-blob", "fileb://" + blob_path)
        self.assertEqual(base64.b64decode(dec["Plaintext"]), plaintext)
        self.assertEqual(dec["KeyId"], md["Arn"])
        self.assertEqual(dec["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")

        aliases = self.aws_json("list-aliases")["Aliases"]
        mine = [a for a in aliases if a["AliasName"] == "alias/cli-test"]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["TargetKeyId"], kid)
        self.assertEqual(mine[0]["AliasArn"], alias_arn("alias/cli-test"))

        desc = self.aws_json("describe-key", "--key-id", "alias/cli-test")["KeyMetadata"]
        self.assertEqual(desc["KeyId"], kid)
        self.assertEqual(desc["Description"], "from cli")
        self.assertEqual(desc["CurrentKeyMaterialId"], md["CurrentKeyMaterialId"])

    def test_encryption_context_and_data_key(self):
        kid = self.aws_json("create-key")["KeyMetadata"]["KeyId"]
        dk = self.aws_json("generate-data-key", "--key-id", kid, "--key-spec", "AES_256",
                           "--encryption-context", "purpose=cli,team=x")
        self.assertEqual(len(base64.b64decode(dk["Plaintext"])), 32)
        blob = base64.b64decode(dk["CiphertextBlob"])
        self.assertEqual(len(blob), 184)
        self.assertEqual(blob[:3], b"\x01\x02\x03")
        blob_path = os.path.join(self.tmp, "dk.bin")
        with open(blob_path, "wb") as f:
            f.write(blob)
        dec = self.aws_json("decrypt", "--ciphertext-blob", "fileb://" + blob_path,
                            "--encryption-context", "team=x,purpose=cli")
        self.assertEqual(dec["Plaintext"], dk["Plaintext"])
        p = self.aws("decrypt", "--ciphertext-blob", "fileb://" + blob_path, check=False)
        self.assertIn(p.returncode, (254, 255), p.stderr)
        self.assertIn("InvalidCiphertextException", p.stderr)

    def test_text_output_pipeline(self):
        kid = self.aws_json("create-key")["KeyMetadata"]["KeyId"]
        pt_path = os.path.join(self.tmp, "p.txt")
        with open(pt_path, "wb") as f:
            f.write(b"hello cli")
        cmd = ["aws", "kms", "encrypt", "--key-id", kid, "--plaintext", "fileb://" + pt_path,
               "--query", "CiphertextBlob", "--output", "text",
               "--endpoint-url", self.server.endpoint, "--region", "us-east-1"]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        blob = base64.b64decode(p.stdout.strip())
        self.assertEqual(len(blob), 9 + 152)

    def test_generate_random(self):
        r = self.aws_json("generate-random", "--number-of-bytes", "64")
        self.assertEqual(len(base64.b64decode(r["Plaintext"])), 64)

    def test_list_keys_and_disable(self):
        kid = self.aws_json("create-key")["KeyMetadata"]["KeyId"]
        keys = self.aws_json("list-keys")["Keys"]
        self.assertEqual(keys, [{"KeyId": kid, "KeyArn": key_arn(kid)}])
        self.aws("disable-key", "--key-id", kid)
        self.assertEqual(self.aws_json("describe-key", "--key-id", kid)["KeyMetadata"]["KeyState"],
                         "Disabled")
        p = self.aws("generate-data-key", "--key-id", kid, "--key-spec", "AES_256", check=False)
        self.assertIn(p.returncode, (254, 255), p.stderr)
        self.assertIn("DisabledException", p.stderr)
        self.assertIn("%s is disabled." % key_arn(kid), p.stderr)

    def test_not_found_error(self):
        p = self.aws("describe-key", "--key-id", "alias/does-not-exist", check=False)
        self.assertIn(p.returncode, (254, 255), p.stderr)
        self.assertIn("NotFoundException", p.stderr)
        self.assertIn("Alias %s is not found." % alias_arn("alias/does-not-exist"), p.stderr)
        self.assertEqual(p.stdout.strip(), "")

    def test_malformed_key_id_error(self):
        p = self.aws("describe-key", "--key-id", "fake-key-id", check=False)
        self.assertIn(p.returncode, (254, 255), p.stderr)
        self.assertIn("NotFoundException", p.stderr)
        self.assertIn("Invalid keyId 'fake-key-id'", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
