"""CloudTrail audit records (issue 14): what boto3's calls leave in GET /_kmsd/audit and in the
--audit-log file, checked against the shape of AWS's documented records, with nothing secret in
them, and the scheduler's service events dated at their KMS time."""
import base64
import http.client
import json
import os
import shutil
import tempfile
import time
import unittest
import urllib.parse

from botocore.exceptions import ClientError

from harness import KmsdTestCase

TMP = tempfile.mkdtemp(prefix="kmsd-audit-")
LOG = os.path.join(TMP, "audit.jsonl")


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


# AWS's GenerateDataKey record (docs.aws.amazon.com/kms/latest/developerguide/ct-generatedatakey.html,
# 2025), written out by hand without tlsDetails (kmsd serves plain HTTP).
AWS_GENERATE_DATA_KEY = {
    "eventVersion": "1.11",
    "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID",
                     "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333",
                     "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
    "eventTime": "2025-05-20T20:46:16Z",
    "eventSource": "kms.amazonaws.com",
    "eventName": "GenerateDataKey",
    "awsRegion": "us-east-1",
    "sourceIPAddress": "192.0.2.0",
    "userAgent": "AWS Internal",
    "requestParameters": {"keyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "keySpec": "AES_256",
                          "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}},
    "responseElements": None,
    "additionalEventData": {
        "keyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"},
    "requestID": "e0eb83e3-63bc-11e4-bc2b-4198b6150d5c",
    "eventID": "a9dea4f9-8395-46c0-942c-f509c02c2b71",
    "readOnly": True,
    "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
                   "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
    "eventType": "AwsApiCall",
    "managementEvent": True,
    "recipientAccountId": "111122223333",
    "eventCategory": "Management",
}


class AuditTest(KmsdTestCase):
    server_args = ["--audit-log", LOG]

    def audit(self, query=""):
        status, body = self.server.admin("GET", "/_kmsd/audit" + query)
        self.assertEqual(status, 200, body)
        return json.loads(body)["Records"]

    def advance(self, seconds):
        status, body = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": seconds})
        self.assertEqual(status, 200, body)

    def file_records(self, count):
        """The --audit-log file's records once it holds at least `count` (fsync'd in batches)."""
        deadline = time.time() + 10
        while True:
            with open(LOG) as f:
                lines = [json.loads(line) for line in f if line.strip()]
            if len(lines) >= count or time.time() > deadline:
                return lines
            time.sleep(0.05)

    def test_a_generate_data_key_record_has_the_shape_aws_documents(self):
        key = self.kms.create_key()["KeyMetadata"]
        out = self.kms.generate_data_key(
            KeyId=key["KeyId"], KeySpec="AES_256",
            EncryptionContext={"Department": "Engineering", "Project": "Alpha"})
        [record] = self.audit("?eventName=GenerateDataKey")
        self.assertEqual(list(record), list(AWS_GENERATE_DATA_KEY))  # members, in AWS's order
        for member in ("eventVersion", "eventSource", "eventName", "responseElements", "readOnly",
                       "eventType", "managementEvent", "eventCategory"):
            self.assertEqual(record[member], AWS_GENERATE_DATA_KEY[member], member)
        self.assertEqual(record["requestParameters"], {
            "keyId": key["KeyId"], "keySpec": "AES_256",
            "encryptionContext": {"Department": "Engineering", "Project": "Alpha"}})
        self.assertEqual(list(record["resources"][0]), ["accountId", "type", "ARN"])
        self.assertEqual(record["resources"][0]["ARN"], key["Arn"])
        self.assertEqual(record["additionalEventData"], {"keyMaterialId": out["KeyMaterialId"]})
        # requestID is the x-amzn-RequestId the client got; the record is the caller's.
        self.assertEqual(record["requestID"], out["ResponseMetadata"]["RequestId"])
        self.assertEqual(record["userIdentity"]["type"], "Root")
        self.assertTrue(record["userAgent"].startswith("Boto3/"), record["userAgent"])
        # GetKeyLastUsage names the same CloudTrail event.
        used = self.kms.get_key_last_usage(KeyId=key["KeyId"])["KeyLastUsage"]
        self.assertEqual(used["CloudTrailEventId"], record["eventID"])

    def test_nothing_secret_reaches_a_record(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        plaintext = b"audit-must-not-see-this-plaintext"
        blob = self.kms.encrypt(KeyId=key, Plaintext=plaintext)["CiphertextBlob"]
        self.kms.decrypt(CiphertextBlob=blob)
        data_key = self.kms.generate_data_key(KeyId=key, NumberOfBytes=32)
        mac_key = self.kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        mac = self.kms.generate_mac(KeyId=mac_key["KeyMetadata"]["KeyId"], Message=plaintext,
                                    MacAlgorithm="HMAC_SHA_256")["Mac"]
        grant = self.kms.create_grant(KeyId=key, GranteePrincipal="arn:aws:iam::111122223333:root",
                                      Operations=["Decrypt"])
        secrets = [plaintext, base64.b64encode(plaintext), base64.b64encode(blob),
                   base64.b64encode(data_key["Plaintext"]),
                   base64.b64encode(data_key["CiphertextBlob"]), base64.b64encode(mac),
                   grant["GrantToken"].encode()]
        records = self.audit("?limit=1000")
        self.assertGreaterEqual(len(records), 7)
        text = json.dumps(records).encode()
        for secret in secrets:
            self.assertNotIn(secret, text)
        with open(LOG, "rb") as f:
            self.file_records(0)  # (the writer fsyncs in batches; read after it caught up)
            time.sleep(0.2)
            written = f.read()
        for secret in secrets:
            self.assertNotIn(secret, written)
        # The grant's record keeps its ID, not its token.
        [created] = self.audit("?eventName=CreateGrant")
        self.assertEqual(created["responseElements"]["grantId"], grant["GrantId"])

    def test_filters_and_order(self):
        a = self.kms.create_key()["KeyMetadata"]
        b = self.kms.create_key()["KeyMetadata"]
        self.kms.describe_key(KeyId=a["KeyId"])
        self.kms.describe_key(KeyId=b["KeyId"])
        names = [r["eventName"] for r in self.audit()]
        self.assertEqual(names, ["DescribeKey", "DescribeKey", "CreateKey", "CreateKey"])
        by_key = self.audit("?keyArn=" + urllib.parse.quote(a["Arn"], safe=""))
        self.assertEqual([r["eventName"] for r in by_key], ["DescribeKey", "CreateKey"])
        self.assertEqual(len(self.audit("?eventName=DescribeKey&limit=1")), 1)
        self.assertEqual(self.audit("?since=2999-01-01T00:00:00Z"), [])
        self.assertEqual(len(self.audit("?since=%d" % (time.time() - 3600))), 4)
        for bad in ("?limit=0", "?limit=1001", "?limit=x", "?since=soon", "?eventName=%zz",
                    "?unknown=1", "?keyArn=" + "a" * 3000):
            status, body = self.server.admin("GET", "/_kmsd/audit" + bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", json.loads(body))
        status, _ = self.server.admin("POST", "/_kmsd/audit")
        self.assertEqual(status, 405)

    def test_failures_are_recorded_with_aws_error_codes(self):
        with self.assertRaises(ClientError):
            self.kms.describe_key(KeyId="alias/does-not-exist")
        [record] = self.audit("?eventName=DescribeKey")
        self.assertEqual(record["errorCode"], "NotFoundException")
        self.assertIn("alias/does-not-exist", record["errorMessage"])
        self.assertIsNone(record["responseElements"])
        # A denial: CloudTrail's errorCode is AccessDenied.
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt",
                 "Resource": "*"}]}))
        with self.assertRaises(ClientError) as denied:
            self.kms.encrypt(KeyId=key, Plaintext=b"x")
        self.assertEqual(denied.exception.response["Error"]["Code"], "AccessDeniedException")
        [record] = self.audit("?eventName=Encrypt")
        self.assertEqual(record["errorCode"], "AccessDenied")
        self.assertEqual(record["errorMessage"], denied.exception.response["Error"]["Message"])

    def test_scheduled_deletion_and_rotation_are_service_events_at_kms_time(self):
        key = self.kms.create_key()["KeyMetadata"]
        self.kms.rotate_key_on_demand(KeyId=key["KeyId"])
        rotate = self.audit("?eventName=RotateKey")
        self.assertEqual(len(rotate), 1)
        self.assertEqual(rotate[0]["eventType"], "AwsServiceEvent")
        self.assertEqual(rotate[0]["serviceEventDetails"]["rotationType"], "ON_DEMAND")
        self.assertEqual(rotate[0]["userIdentity"],
                         {"accountId": "111122223333", "invokedBy": "AWS Internal"})
        self.assertNotIn("requestID", rotate[0])
        deletion = self.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        self.advance(8 * 86400)
        [deleted] = self.audit("?eventName=DeleteKey")
        self.assertEqual(deleted["eventType"], "AwsServiceEvent")
        self.assertEqual(deleted["responseElements"], {"keyId": key["Arn"]})
        self.assertEqual(deleted["eventTime"],
                         deletion["DeletionDate"].strftime("%Y-%m-%dT%H:%M:%SZ"))
        # The file has the same records as the ring.
        ids = {r["eventID"] for r in self.audit("?limit=1000")}
        written = {r["eventID"] for r in self.file_records(0)}
        deadline = time.time() + 10
        while not ids <= written and time.time() < deadline:
            time.sleep(0.05)
            written = {r["eventID"] for r in self.file_records(0)}
        self.assertLessEqual(ids, written)


if __name__ == "__main__":
    unittest.main()
