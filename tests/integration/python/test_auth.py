"""Strict mode: real SigV4 from boto3 and the AWS CLI, checked against a principals file."""
import calendar
import datetime
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import KmsdServer, ServerStartError

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


def amz_date_of(when):
    """YYYYMMDD'T'HHMMSS'Z' of a datetime (UTC) or of epoch seconds."""
    if not isinstance(when, datetime.datetime):
        when = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def sigv4_request(port, key, secret, target, body, token=None, unsigned=(), region="us-east-1",
                  service="kms", scope_date=None, headers_override=None, amz_date=None,
                  omit_headers=(), auth_parts=("Credential", "SignedHeaders", "Signature"),
                  return_headers=False):
    """POSTs a SigV4-signed KMS request built by hand, so that a test can leave a header out of
    SignedHeaders or scope the credential wrongly (the SDKs never do). Returns (status, body),
    or (status, body, headers sent) with return_headers=True.

    amz_date: the X-Amz-Date to send and sign with (default: now); the scope date follows it
        unless scope_date is given.
    omit_headers: lower-case names of headers not sent at all (so not signed either), e.g.
        ("x-amz-date",).
    auth_parts: the Authorization parameters to send, in this order; leave some out to send
        an incomplete header (the signature is still computed over what is sent)."""
    if amz_date is None:
        amz_date = amz_date_of(datetime.datetime.now(datetime.timezone.utc))
    date = scope_date or amz_date[:8]
    payload = json.dumps(body).encode()
    headers = {"host": "127.0.0.1:%d" % port, "content-type": "application/x-amz-json-1.1",
               "x-amz-date": amz_date, "x-amz-target": "TrentService." + target}
    if token is not None:
        headers["x-amz-security-token"] = token
    for name in omit_headers:
        headers.pop(name, None)
    signed = sorted(h for h in headers if h not in unsigned)
    canonical = "\n".join(["POST", "/", ""] + ["%s:%s" % (h, headers[h]) for h in signed] +
                          ["", ";".join(signed), hashlib.sha256(payload).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    values = {"Credential": "%s/%s" % (key, scope), "SignedHeaders": ";".join(signed),
              "Signature": signature}
    headers["authorization"] = "AWS4-HMAC-SHA256 " + ", ".join(
        "%s=%s" % (name, values[name]) for name in auth_parts)
    headers.update(headers_override or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/", body=payload, headers=headers)
        r = conn.getresponse()
        answer = (r.status, json.loads(r.read() or b"{}"))
    finally:
        conn.close()
    return answer + (headers,) if return_headers else answer


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
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def client(self, key, secret, token=None, region="us-east-1"):
        return boto3.client("kms", endpoint_url=self.server.endpoint, region_name=region,
                            aws_access_key_id=key, aws_secret_access_key=secret,
                            aws_session_token=token,
                            config=Config(retries={"mode": "standard", "total_max_attempts": 1}))

    def error(self, fn, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        return cm.exception.response["Error"]

    def raw(self, target, body, **kw):
        kw.setdefault("key", "AKIAALICE111EXAMPLE")
        kw.setdefault("secret", "alice/secret+key")
        return sigv4_request(self.server.port, target=target, body=body, **kw)

    def assertRejected(self, answer, type_, message):
        status, body = answer
        self.assertEqual(status, 400, body)
        self.assertEqual(body.get("__type"), type_, body)
        self.assertEqual(body.get("message"), message)

    def test_hand_signed_request_is_accepted(self):
        status, body = self.raw("ListKeys", {})
        self.assertEqual(status, 200, body)
        self.assertIn("Keys", body)

    def test_host_date_target_and_token_must_be_signed(self):
        def needs(header):
            return "'%s' must be a 'SignedHeader' in the AWS Authorization." % header
        self.assertRejected(self.raw("ListKeys", {}, unsigned=("host",)),
                            "InvalidSignatureException",
                            "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                            "Authorization.")
        self.assertRejected(self.raw("ListKeys", {}, unsigned=("x-amz-date",)),
                            "InvalidSignatureException", needs("X-Amz-Date"))
        self.assertRejected(self.raw("ListKeys", {}, unsigned=("x-amz-target",)),
                            "InvalidSignatureException", needs("X-Amz-Target"))
        self.assertRejected(
            self.raw("ListKeys", {}, key="ASIAAPP11111EXAMPLE", secret="appsecret",
                     token="FwoGZXIvYXdzEXAMPLETOKEN", unsigned=("x-amz-security-token",)),
            "InvalidSignatureException", needs("X-Amz-Security-Token"))
        # content-type need not be signed (AWS does not ask for it either).
        self.assertEqual(self.raw("ListKeys", {}, unsigned=("content-type",))[0], 200)

    def test_signed_describe_key_cannot_be_replayed_as_another_operation(self):
        alice = self.client("AKIAALICE111EXAMPLE", "alice/secret+key")
        key = alice.create_key(Description="replay target")["KeyMetadata"]["KeyId"]
        # The same signed bytes with another X-Amz-Target: the signature covers the target.
        self.assertEqual(self.raw("DescribeKey", {"KeyId": key})[0], 200)
        answer = self.raw("DescribeKey", {"KeyId": key}, headers_override={
            "x-amz-target": "TrentService.ScheduleKeyDeletion"})
        self.assertEqual(answer[1].get("__type"), "InvalidSignatureException", answer)
        # Left unsigned, the target is refused before it could be swapped.
        self.assertRejected(
            self.raw("DescribeKey", {"KeyId": key}, unsigned=("x-amz-target",),
                     headers_override={"x-amz-target": "TrentService.ScheduleKeyDeletion"}),
            "InvalidSignatureException",
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.")
        self.assertEqual(alice.describe_key(KeyId=key)["KeyMetadata"]["KeyState"], "Enabled")

    def test_credential_scope_region_service_and_date(self):
        # boto3 signs for whatever Region it is given; kmsd wants the shape of a Region.
        err = self.error(self.client("AKIAALICE111EXAMPLE", "alice/secret+key",
                                     region="local").list_keys)
        self.assertEqual(err["Code"], "InvalidSignatureException")
        self.assertEqual(err["Message"],
                         "Credential should be scoped to a valid region, not 'local'. ")
        self.assertRejected(self.raw("ListKeys", {}, service="s3"), "InvalidSignatureException",
                            "Credential should be scoped to correct service: 'kms'. ")
        today = datetime.datetime.now(datetime.timezone.utc)
        status, body = self.raw("ListKeys", {}, scope_date="20200101")
        self.assertEqual(body.get("__type"), "InvalidSignatureException", body)
        self.assertRegex(body["message"],
                         r"^Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                         r"version of date from HTTP: '20200101' != '\d{8}', from "
                         r"'\d{8}T\d{6}Z'\.$")
        self.assertIn(today.strftime("%Y%m"), body["message"])
        # Checked before the access key is looked up, as AWS does.
        self.assertRejected(self.raw("ListKeys", {}, key="AKIAUNKNOWN1EXAMPLE", region="moon"),
                            "InvalidSignatureException",
                            "Credential should be scoped to a valid region, not 'moon'. ")
        # Every Region shape the model allows signs in.
        for region in ("us-gov-west-1", "cn-north-1", "eu-central-2"):
            kms = self.client("AKIAALICE111EXAMPLE", "alice/secret+key", region=region)
            self.assertIn("Keys", kms.list_keys())

    # ---- the request's date: 5 minutes of skew either way (kms-reference §1.2) -----------

    SKEW_EXPIRED = re.compile(r"^Signature expired: (\d{8}T\d{6}Z) is now earlier than "
                              r"(\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) - 5 min\.\)$")
    SKEW_FUTURE = re.compile(r"^Signature not yet current: (\d{8}T\d{6}Z) is still later than "
                             r"(\d{8}T\d{6}Z) \((\d{8}T\d{6}Z) \+ 5 min\.\)$")

    def assertSkewRejected(self, amz_date, pattern, sign):
        """A correctly signed request dated amz_date: InvalidSignatureException naming the date
        sent, the server's time and that time 5 minutes off (AWS's words, e.g.
        "Signature not yet current: 20181120T211543Z is still later than 20181120T211529Z
        (20181120T211029Z + 5 min.)")."""
        before = int(time.time())
        status, body = self.raw("ListKeys", {}, amz_date=amz_date)
        after = int(time.time()) + 1
        self.assertEqual(status, 400, body)
        self.assertEqual(body.get("__type"), "InvalidSignatureException", body)
        m = pattern.match(body.get("message", ""))
        self.assertIsNotNone(m, body)
        sent, limit, now = m.groups()
        self.assertEqual(sent, amz_date)
        now_s = calendar.timegm(time.strptime(now, "%Y%m%dT%H%M%SZ"))
        limit_s = calendar.timegm(time.strptime(limit, "%Y%m%dT%H%M%SZ"))
        self.assertTrue(before <= now_s <= after, (before, now, after))
        self.assertEqual(limit_s, now_s + sign * 300, body)

    def test_request_dated_beyond_skew_in_the_future(self):
        now = time.time()
        for ahead in (6 * 60, 3600, 400 * 86400):
            with self.subTest(seconds_ahead=ahead):
                self.assertSkewRejected(amz_date_of(now + ahead), self.SKEW_FUTURE, +1)

    def test_request_dated_beyond_skew_in_the_past(self):
        now = time.time()
        for behind in (6 * 60, 3600, 400 * 86400):
            with self.subTest(seconds_behind=behind):
                self.assertSkewRejected(amz_date_of(now - behind), self.SKEW_EXPIRED, -1)
        self.assertSkewRejected("20200101T000000Z", self.SKEW_EXPIRED, -1)

    def test_request_dated_within_skew_is_accepted(self):
        # The window is real: four minutes either way still signs in (so the tests above fail
        # for the date, not for something else about hand-dated requests).
        now = time.time()
        for offset in (-4 * 60, 4 * 60):
            with self.subTest(offset=offset):
                status, body = self.raw("ListKeys", {}, amz_date=amz_date_of(now + offset))
                self.assertEqual(status, 200, body)
                self.assertIn("Keys", body)

    # ---- incomplete Authorization headers -------------------------------------------------

    def incomplete(self, **kw):
        """Sends a request, asserts IncompleteSignatureException (HTTP 400) whose message ends
        with the Authorization header as sent (AWS echoes it: "... Authorization=<header>");
        returns (message, authorization header)."""
        status, body, sent = self.raw("ListKeys", {}, return_headers=True, **kw)
        self.assertEqual(status, 400, body)
        self.assertEqual(body.get("__type"), "IncompleteSignatureException", body)
        message = body.get("message", "")
        self.assertTrue(message.endswith(". Authorization=" + sent["authorization"]), message)
        return message, sent["authorization"]

    def test_authorization_missing_credential_signed_headers_or_signature(self):
        for parts in (("SignedHeaders", "Signature"), ("Credential", "Signature"),
                      ("Credential", "SignedHeaders"), ("Credential",), ("Signature",)):
            with self.subTest(sent=parts):
                message, auth = self.incomplete(auth_parts=parts)
                self.assertTrue(message.startswith("Authorization header requires "), message)
                for missing in {"Credential", "SignedHeaders", "Signature"} - set(parts):
                    self.assertIn("'%s'" % missing, message)

    def test_incomplete_authorization_message_names_each_missing_parameter(self):
        # AWS's SigV4 front end (the same for every JSON service: recorded from SES, API Gateway
        # and OpenSearch; KMS's own text is not recorded, kms-reference §11) has one sentence per
        # missing parameter, in the order Credential, Signature, SignedHeaders, e.g.
        # "Authorization header requires 'Signature' parameter. Authorization header requires
        # 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256 Credential=ABCDEF".
        def expected(missing, auth):
            return "".join("Authorization header requires '%s' parameter. " % name
                           for name in ("Credential", "Signature", "SignedHeaders")
                           if name in missing) + "Authorization=" + auth
        for parts in (("SignedHeaders", "Signature"), ("Credential", "Signature"),
                      ("Credential", "SignedHeaders"), ("Credential",)):
            with self.subTest(sent=parts):
                message, auth = self.incomplete(auth_parts=parts)
                missing = {"Credential", "SignedHeaders", "Signature"} - set(parts)
                self.assertEqual(message, expected(missing, auth))

    def test_missing_x_amz_date_header(self):
        # Neither X-Amz-Date nor Date: AWS's sentence for it, then the header echoed.
        message, auth = self.incomplete(omit_headers=("x-amz-date",))
        self.assertEqual(message, "Authorization header requires existence of either a "
                                  "'X-Amz-Date' or a 'Date' header. Authorization=" + auth)
        self.assertNotIn("x-amz-date", auth)

    def test_x_amz_date_not_in_basic_format(self):
        # kmsd's text (src/auth/identity.cpp): the date must be YYYYMMDD'T'HHMMSS'Z'.
        status, body = self.raw("ListKeys", {}, amz_date="2024-01-01T00:00:00Z",
                                scope_date="20240101")
        self.assertRejected((status, body), "IncompleteSignatureException",
                            "Date must be in ISO-8601 'basic format'. Got "
                            "'2024-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601")

    def test_signed_headers_without_host(self):
        # The Host header is sent but left out of SignedHeaders: AWS's own text, before the
        # signature is looked at (it is correct over what is signed).
        status, body, sent = self.raw("ListKeys", {}, unsigned=("host",), return_headers=True)
        self.assertIn("SignedHeaders=content-type;x-amz-date;x-amz-target,", sent["authorization"])
        self.assertRejected((status, body), "InvalidSignatureException",
                            "'Host' or ':authority' must be a 'SignedHeader' in the AWS "
                            "Authorization.")

    def test_session_token_must_match_exactly(self):
        for token in ("FwoGZXIvYXdzEXAMPLETOKEX", "FwoGZXIvYXdzEXAMPLETOKEN2", "x"):
            err = self.error(self.client("ASIAAPP11111EXAMPLE", "appsecret", token).list_keys)
            self.assertEqual(err["Code"], "UnrecognizedClientException", token)
            self.assertEqual(err["Message"],
                             "The security token included in the request is invalid.")

    def test_deeply_nested_key_policy_is_malformed_and_server_lives(self):
        alice = self.client("AKIAALICE111EXAMPLE", "alice/secret+key")
        key = alice.create_key()["KeyMetadata"]["KeyId"]
        for policy in ("[" * 32768, '{"Statement":' + "[" * 32000 + "]" * 32000 + "}"):
            err = self.error(alice.put_key_policy, KeyId=key, PolicyName="default",
                             Policy=policy[:32768])
            self.assertEqual(err["Code"], "MalformedPolicyDocumentException")
            self.assertEqual(err["Message"],
                             "The policy document nests arrays and objects deeper than 32 "
                             "levels.")
        self.assertEqual(self.server.health()[0], 200)
        self.assertIn("Keys", alice.list_keys())
        self.assertIn("Enable IAM User Permissions",
                      alice.get_key_policy(KeyId=key, PolicyName="default")["Policy"])

    def test_arn_and_numeric_conditions_in_a_key_policy(self):
        alice = self.client("AKIAALICE111EXAMPLE", "alice/secret+key")
        key = alice.create_key()["KeyMetadata"]["KeyId"]

        def with_deny(action, condition):
            alice.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps({
                "Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                     "Action": "kms:*", "Resource": "*"},
                    {"Effect": "Deny", "Principal": "*", "Action": action, "Resource": "*",
                     "Condition": condition}]}))

        def encrypt_denied():
            try:
                alice.encrypt(KeyId=key, Plaintext=b"x")
                return False
            except ClientError as e:
                self.assertEqual(e.response["Error"]["Code"], "AccessDeniedException")
                return True

        # '*' within one ARN component matches alice's account...
        with_deny("kms:Encrypt", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/alice"}})
        self.assertTrue(encrypt_denied())
        # ...but never spans a ':' (a plain glob would let "*" eat "iam::111122223333"), and a
        # value with fewer than six components names no ARN at all.
        with_deny("kms:Encrypt", {"ArnLike": {"aws:PrincipalArn": "arn:aws:*:user/alice"}})
        self.assertFalse(encrypt_denied())
        with_deny("kms:Encrypt", {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*"}})
        self.assertFalse(encrypt_denied())
        # A Numeric condition on a non-number does not hold, not even NumericNotEquals.
        with_deny("kms:EnableKeyRotation",
                  {"NumericNotEquals": {"kms:RotationPeriodInDays": "a year"}})
        alice.enable_key_rotation(KeyId=key, RotationPeriodInDays=365)
        with_deny("kms:EnableKeyRotation", {"NumericNotEquals": {"kms:RotationPeriodInDays": "90"}})
        with self.assertRaises(ClientError) as cm:
            alice.enable_key_rotation(KeyId=key, RotationPeriodInDays=365)
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")

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


class IdentityPolicyPrincipalTest(unittest.TestCase):
    def test_identity_policy_naming_a_principal_is_refused_at_startup(self):
        tmp = tempfile.mkdtemp(prefix="kmsd-auth-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "principals.yaml")
        with open(path, "w") as f:
            f.write(PRINCIPALS.replace(
                '{Effect: Allow, Action: "kms:*", Resource: "*"}',
                '{Effect: Allow, Principal: "*", Action: "kms:*", Resource: "*"}', 1))
        server = KmsdServer(extra_args=["--auth", "strict", "--principals", path])
        try:
            with self.assertRaises(ServerStartError):
                server.start()
            self.assertNotEqual(server.proc.wait(10), 0)
            self.assertIn("identity policy of arn:aws:iam::111122223333:user/alice: Policy "
                          "document should not specify a principal.", server.stderr())
        finally:
            server.cleanup()


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
