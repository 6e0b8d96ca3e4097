"""--log-format json (issue 14): one JSON object per line on stderr, and at debug one line per
request naming its operation, result, key ARN and caller, never a plaintext."""
import base64
import json
import unittest

from harness import KmsdTestCase

SECRET = b"plaintext-that-must-not-be-logged"


class JsonLogTest(KmsdTestCase):
    server_args = ["--log-format", "json", "--log-level", "debug"]
    reset_between_tests = False

    def lines(self):
        out = []
        for line in self.server.stderr().splitlines():
            if line.strip():
                out.append(json.loads(line))  # every line is one JSON object
        return out

    def test_every_line_is_json_and_requests_are_logged(self):
        key = self.kms.create_key()["KeyMetadata"]
        blob = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=SECRET)["CiphertextBlob"]
        self.kms.decrypt(CiphertextBlob=blob)
        with self.assertRaises(Exception):
            self.kms.describe_key(KeyId="alias/missing")
        lines = self.lines()
        for entry in lines:
            self.assertEqual(set(entry), {"time", "level", "logger", "message"})
            self.assertRegex(entry["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        messages = [e["message"] for e in lines if e["message"].startswith("request ")]
        encrypt = [m for m in messages if " TrentService.Encrypt 200 OK " in m]
        self.assertEqual(len(encrypt), 1, messages)
        self.assertIn("key=" + key["Arn"], encrypt[0])
        self.assertIn("caller=arn:aws:iam::111122223333:root", encrypt[0])
        decrypt = [m for m in messages if " TrentService.Decrypt 200 OK " in m]
        self.assertIn("key=" + key["Arn"], decrypt[0])  # the key its ciphertext named
        self.assertTrue(any(" TrentService.DescribeKey 400 NotFoundException " in m
                            and "key=-" in m for m in messages), messages)
        self.assertTrue(any(e["level"] == "info" and e["message"].startswith("loaded ")
                            for e in lines))
        text = self.server.stderr()
        self.assertNotIn(SECRET.decode(), text)
        self.assertNotIn(base64.b64encode(SECRET).decode(), text)


if __name__ == "__main__":
    unittest.main()
