"""The README's runnable snippets, run against a real kmsd (endpoint swapped for the test's)."""
import json
import os
import re
import subprocess
import tempfile
import unittest

from botocore.exceptions import ClientError

from harness import KmsdTestCase

README = os.path.join(os.path.dirname(__file__), "..", "..", "..", "README.md")


def blocks(lang):
    text = open(README).read()
    return re.findall(r"```%s\n(.*?)```" % re.escape(lang), text, flags=re.S)


class ReadmeTest(KmsdTestCase):
    def local(self, text):
        return text.replace("http://localhost:8080", self.server.endpoint)

    def cli_env(self, **extra):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        env.pop("AWS_PROFILE", None)
        env.update(extra)
        return env

    def test_python_snippets(self):
        python = blocks("python")
        use_it = next(b for b in python if "generate_data_key" in b)
        clock = next(b for b in python if "_kmsd/clock" in b)
        scope = {}
        exec(self.local(use_it), scope)  # asserts the envelope round trip itself
        self.assertIn("key", scope)
        with self.assertRaises(ClientError) as cm:
            exec(self.local(clock), scope)
        self.assertEqual(cm.exception.response["Error"]["Code"], "NotFoundException")

    def test_audit_snippet(self):
        python = blocks("python")
        use_it = next(b for b in python if "generate_data_key" in b)
        audit = next(b for b in python if "_kmsd/audit" in b)
        scope = {}
        exec(self.local(use_it), scope)
        scope["key_arn"] = self.kms.describe_key(KeyId=scope["key"])["KeyMetadata"]["Arn"]
        exec(self.local(audit), scope)  # asserts on the Decrypt record itself
        self.assertEqual(scope["record"]["eventName"], "Decrypt")
        self.assertEqual(scope["record"]["resources"][0]["ARN"], scope["key_arn"])

    def test_cli_snippet(self):
        line = next(l for b in blocks("sh") for l in b.splitlines() if l.startswith("aws "))
        out = subprocess.run(self.local(line).split(), env=self.cli_env(AWS_DEFAULT_REGION="us-east-1"),
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["KeyMetadata"]["Description"], "demo")

    def test_cli_profile_snippet(self):
        ini = next(b for b in blocks("ini") if "[profile kmsd]" in b)
        with tempfile.NamedTemporaryFile("w", suffix=".ini", delete=False) as f:
            f.write(self.local(ini))
        try:
            out = subprocess.run(["aws", "kms", "create-key", "--profile", "kmsd"],
                                 env=self.cli_env(AWS_CONFIG_FILE=f.name),
                                 capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(f.name)
        self.assertEqual(out.returncode, 0, out.stderr)
        key = json.loads(out.stdout)["KeyMetadata"]["KeyId"]
        self.assertEqual(self.kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"], key)

    def test_endpoint_environment_variable(self):
        self.assertIn("AWS_ENDPOINT_URL_KMS=http://localhost:8080", open(README).read())
        out = subprocess.run(["aws", "kms", "create-key", "--region", "us-east-1"],
                             env=self.cli_env(AWS_ENDPOINT_URL_KMS=self.server.endpoint),
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        # The key was made here (not by whatever endpoint the CLI would use otherwise).
        key = json.loads(out.stdout)["KeyMetadata"]["KeyId"]
        self.assertEqual(self.kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"], key)


if __name__ == "__main__":
    unittest.main()
