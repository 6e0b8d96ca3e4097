"""Strict mode: real SigV4 from boto3 and the AWS CLI, checked against a principals file."""
import json
import os
import subprocess
import tempfile
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import KmsdServer

PRINCIPALS = """\
accounts:
  "111122223333":
    root: {access_key_id: AKIAROOT1111EXAMPLE, secret_access_key: rootsecret}
    users:
      - name: alice
        access_key_id: AKIAALICE111EXAMPLE
        secret_access_key: "alice/secret+key"
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
  "444455556666":
    roles:
      - name: app
        access_key_id: ASIAAPP11111EXAMPLE
        secret_access_key: appsecret
        session_token: "FwoGZXIvYXdzEXAMPLETOKEN"
        session_name: app-session
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
"""


class StrictAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kmsd-auth-")
        cls.principals = os.path.join(cls.tmp, "principals.yaml")
        with open(cls.principals, "w") as f:
            f.write(PRINCIPALS)
        cls.server = KmsdServer(extra_args=["--auth", "strict", "--principals", cls.principals])
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def client(self, key, secret, token=None, region="us-east-1"):
        return boto3.client("kms", endpoint_url=self.server.endpoint, region_name=region,
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            aws_session_token=token,
                            config=Config(retries={"mode": "standard", "total_max_attempts": 1}))

    def error(self, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        return cm.exception.response["Error"]

    def test_users_and_roles_sign_in_and_own_their_accounts_keys(self):
        alice = self.client("AKIAALICE111EXAMPLE", "alice/secret+key")
        key = alice.create_key(Description="alice's")["KeyMetadata"]
        self.assertEqual(key["AWSAccountId"], "111122223333")
        blob = alice.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 3000)["CiphertextBlob"]
        self.assertEqual(alice.decrypt(CiphertextBlob=blob)["Plaintext"], b"x" * 3000)
        app = self.client("ASIAAPP11111EXAMPLE", "appsecret", "FwoGZXIvYXdzEXAMPLETOKEN",
                          region="eu-west-1")
        app_key = app.create_key()["KeyMetadata"]
        self.assertEqual(app_key["Arn"].split(":")[3:5], ["eu-west-1", "444455556666"])

    def test_authentication_errors(self):
        err = self.error(self.client("AKIAALICE111EXAMPLE", "wrong").list_keys)
        self.assertEqual(err["Code"], "InvalidSignatureException")
        self.assertEqual(err["Message"],
                         "The request signature we calculated does not match the signature you "
                         "provided. Check your AWS Secret Access Key and signing method. Consult "
                         "the service documentation for details.")
        err = self.error(self.client("AKIAUNKNOWN1EXAMPLE", "x").list_keys)
        self.assertEqual(err["Code"], "UnrecognizedClientException")
        self.assertEqual(err["Message"], "The security token included in the request is invalid.")
        err = self.error(self.client("ASIAAPP11111EXAMPLE", "appsecret").list_keys)
        self.assertEqual(err["Code"], "UnrecognizedClientException")

    def test_unsigned_request(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        conn.request("POST", "/", body=b"{}", headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.ListKeys"})
        r = conn.getresponse()
        body = json.loads(r.read())
        conn.close()
        self.assertEqual(r.status, 400)
        self.assertEqual(body["__type"], "MissingAuthenticationTokenException")
        self.assertEqual(r.getheader("x-amzn-ErrorType"), "MissingAuthenticationTokenException")
        self.assertEqual(self.server.health()[0], 200)  # health needs no signature

    def test_aws_cli_with_profiles(self):
        config = os.path.join(self.tmp, "config")
        with open(config, "w") as f:
            f.write("[profile alice]\nregion = us-east-1\naws_access_key_id = AKIAALICE111EXAMPLE\n"
                    "aws_secret_access_key = alice/secret+key\n"
                    "[profile bad]\nregion = us-east-1\naws_access_key_id = AKIAALICE111EXAMPLE\n"
                    "aws_secret_access_key = nope\n")
        env = dict(os.environ, AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            env.pop(var, None)
        base = ["aws", "--endpoint-url", self.server.endpoint, "kms", "list-keys"]
        ok = subprocess.run(base + ["--profile", "alice"], env=env, capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertIn("Keys", json.loads(ok.stdout))
        bad = subprocess.run(base + ["--profile", "bad"], env=env, capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("InvalidSignatureException", bad.stderr)


class AdminTokenTest(unittest.TestCase):
    def test_admin_endpoints_need_the_token_but_health_does_not(self):
        import http.client
        server = KmsdServer(extra_args=["--admin-token", "s3cret"])
        server.start()
        try:
            def call(method, path, token=None):
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
                headers = {"Authorization": "Bearer " + token} if token else {}
                conn.request(method, path, headers=headers)
                status = conn.getresponse().status
                conn.close()
                return status
            self.assertEqual(call("GET", "/_kmsd/health"), 200)
            self.assertEqual(call("POST", "/_kmsd/reset"), 401)
            self.assertEqual(call("POST", "/_kmsd/reset", "wrong"), 401)
            self.assertEqual(call("GET", "/_kmsd/clock"), 401)
            self.assertEqual(call("POST", "/_kmsd/reset", "s3cret"), 200)
            self.assertEqual(call("POST", "/moto-api/reset", "s3cret"), 200)
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
