"""AWS managed keys (issue 15): alias/aws/<service> listed before use, the key made on first use
with AWS's metadata and policy, every change to it refused by that policy with AWS's
AccessDenied text, and --aws-managed-keys-via-service for tests that use such keys directly."""
import json
import os
import shutil
import tempfile
import unittest

import boto3
from botocore.config import Config

from harness import ACCOUNT, REGION, KmsdServer, KmsdTestCase, alias_arn

# The names a fresh account lists (moto and LocalStack list the same 14; AWS documents that the
# list holds predefined aliases without TargetKeyId).
PREDEFINED = ["acm", "dynamodb", "ebs", "elasticfilesystem", "es", "glue", "kinesisvideo", "lambda",
              "rds", "redshift", "s3", "secretsmanager", "ssm", "xray"]

# GetKeyPolicy of alias/aws/s3 in a real us-east-1 account (FogSecurity/aws-managed-kms-keys,
# reference_key_policies/s3.json), written out by hand with this account.
AWS_S3_POLICY = {
    "Version": "2012-10-17",
    "Id": "auto-s3-2",
    "Statement": [{
        "Sid": "Allow access through S3 for all principals in the account that are authorized to "
               "use S3",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                   "kms:DescribeKey"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT,
                                       "kms:ViaService": "s3.%s.amazonaws.com" % REGION}},
    }, {
        "Sid": "Allow direct access to key metadata to the account",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
        "Action": ["kms:Describe*", "kms:Get*", "kms:List*"],
        "Resource": "*",
    }],
}


def denied(caller, action, key_arn):
    return ("User: %s is not authorized to perform: kms:%s on resource: %s because no "
            "resource-based policy allows the kms:%s action" % (caller, action, key_arn, action))


ROOT = "arn:aws:iam::%s:root" % ACCOUNT


class ManagedKeysTest(KmsdTestCase):

    def managed(self, service):
        return self.kms.describe_key(KeyId="alias/aws/" + service)["KeyMetadata"]

    def test_fresh_account_lists_predefined_aliases_without_target(self):
        aliases = self.kms.list_aliases()["Aliases"]
        self.assertEqual([a["AliasName"] for a in aliases],
                         ["alias/aws/" + s for s in PREDEFINED])
        for a in aliases:
            # AWS: AliasName and AliasArn only, until the key exists.
            self.assertEqual(set(a), {"AliasName", "AliasArn"})
            self.assertEqual(a["AliasArn"], alias_arn(a["AliasName"]))
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_describe_makes_the_key_once(self):
        meta = self.managed("s3")
        self.assertEqual(meta["KeyManager"], "AWS")
        self.assertEqual(meta["Origin"], "AWS_KMS")
        self.assertEqual(meta["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(meta["KeyState"], "Enabled")
        self.assertEqual(meta["Description"],
                         "Default key that protects my S3 objects when no other key is defined")
        self.assertFalse(meta["MultiRegion"])
        self.assertEqual(self.managed("s3")["KeyId"], meta["KeyId"])
        by_arn = self.kms.describe_key(KeyId=alias_arn("alias/aws/s3"))["KeyMetadata"]
        self.assertEqual(by_arn["KeyId"], meta["KeyId"])
        self.assertEqual(self.kms.list_keys()["Keys"],
                         [{"KeyId": meta["KeyId"], "KeyArn": meta["Arn"]}])
        entry = [a for a in self.kms.list_aliases()["Aliases"]
                 if a["AliasName"] == "alias/aws/s3"][0]
        self.assertEqual(entry["TargetKeyId"], meta["KeyId"])
        self.assertEqual(entry["CreationDate"], entry["LastUpdatedDate"])
        self.assertEqual(self.kms.list_aliases(KeyId=meta["KeyId"])["Aliases"][0]["AliasName"],
                         "alias/aws/s3")
        # The other predefined names are still listed without a target, once each.
        names = [a["AliasName"] for a in self.kms.list_aliases()["Aliases"]]
        self.assertEqual(names, ["alias/aws/" + s for s in PREDEFINED])

    def test_policy_and_rotation_are_awss(self):
        meta = self.managed("s3")
        text = self.kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"]
        self.assertEqual(json.loads(text), AWS_S3_POLICY)
        self.assertIn('"Id" : "auto-s3-2"', text)  # AWS's layout
        status = self.kms.get_key_rotation_status(KeyId=meta["KeyId"])
        self.assertTrue(status["KeyRotationEnabled"])
        self.assertEqual(status["RotationPeriodInDays"], 365)
        self.assertEqual(self.kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"], [])

    def test_service_specific_policies(self):
        ebs = json.loads(self.kms.get_key_policy(KeyId=self.managed("ebs")["KeyId"],
                                                 PolicyName="default")["Policy"])
        self.assertEqual(ebs["Id"], "auto-ebs-2")
        # EBS keys are used through EC2.
        self.assertEqual(ebs["Statement"][0]["Condition"]["StringEquals"]["kms:ViaService"],
                         "ec2.%s.amazonaws.com" % REGION)
        self.assertIn("kms:CreateGrant", ebs["Statement"][0]["Action"])
        self.assertIn("kms:RevokeGrant", ebs["Statement"][1]["Action"])
        ddb = json.loads(self.kms.get_key_policy(KeyId=self.managed("dynamodb")["KeyId"],
                                                 PolicyName="default")["Policy"])
        self.assertEqual(ddb["Statement"][0]["Condition"]["StringLike"],
                         {"kms:ViaService": "dynamodb.*.amazonaws.com"})
        self.assertEqual(ddb["Statement"][2]["Principal"], {"Service": "dynamodb.amazonaws.com"})
        acm = json.loads(self.kms.get_key_policy(KeyId=self.managed("acm")["KeyId"],
                                                 PolicyName="default")["Policy"])
        self.assertEqual(acm["Id"], "auto-acm-4")
        self.assertEqual([s["Effect"] for s in acm["Statement"]],
                         ["Allow", "Allow", "Allow", "Deny", "Allow"])
        self.assertEqual(self.managed("lambda")["Description"],
                         "Default key that protects my Lambda functions when no other key is "
                         "defined")

    def test_known_service_not_predefined_is_made_on_first_use(self):
        meta = self.managed("sqs")
        self.assertEqual(meta["Description"],
                         "Default key that protects my SQS messages when no other key is defined")
        self.assertIn("alias/aws/sqs", [a["AliasName"] for a in self.kms.list_aliases()["Aliases"]])
        self.assertKmsError(self.kms.describe_key, "NotFoundException",
                            "Alias %s is not found." % alias_arn("alias/aws/nosuchservice"),
                            KeyId="alias/aws/nosuchservice")

    def test_direct_use_and_changes_are_denied_as_aws_denies_them(self):
        meta = self.managed("s3")
        arn = meta["Arn"]
        for action, call in [
            ("Encrypt", lambda: self.kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"x")),
            ("GenerateDataKey",
             lambda: self.kms.generate_data_key(KeyId="alias/aws/s3", KeySpec="AES_256")),
            ("ScheduleKeyDeletion", lambda: self.kms.schedule_key_deletion(KeyId=arn)),
            ("DisableKey", lambda: self.kms.disable_key(KeyId=arn)),
            ("PutKeyPolicy", lambda: self.kms.put_key_policy(
                KeyId=arn, PolicyName="default", Policy=json.dumps(AWS_S3_POLICY))),
            ("EnableKeyRotation", lambda: self.kms.enable_key_rotation(KeyId=arn)),
            ("DisableKeyRotation", lambda: self.kms.disable_key_rotation(KeyId=arn)),
            ("RotateKeyOnDemand", lambda: self.kms.rotate_key_on_demand(KeyId=arn)),
            ("UpdateKeyDescription",
             lambda: self.kms.update_key_description(KeyId=arn, Description="mine")),
            ("TagResource", lambda: self.kms.tag_resource(
                KeyId=arn, Tags=[{"TagKey": "k", "TagValue": "v"}])),
            ("CreateGrant", lambda: self.kms.create_grant(
                KeyId=arn, GranteePrincipal=ROOT, Operations=["Decrypt"])),
            ("CreateAlias", lambda: self.kms.create_alias(AliasName="alias/mine",
                                                          TargetKeyId=arn)),
        ]:
            with self.subTest(action=action):
                self.assertKmsError(call, "AccessDeniedException", denied(ROOT, action, arn))
        # Nothing changed.
        again = self.kms.describe_key(KeyId=arn)["KeyMetadata"]
        self.assertEqual((again["KeyState"], again["Description"]),
                         ("Enabled", meta["Description"]))
        # The reserved names stay reserved (AWS: NotAuthorizedException, no message).
        self.assertKmsError(self.kms.update_alias, "NotAuthorizedException",
                            AliasName="alias/aws/s3", TargetKeyId=self.create_key()["KeyId"])
        self.assertKmsError(self.kms.delete_alias, "NotAuthorizedException",
                            AliasName="alias/aws/s3")

    def test_each_region_has_its_own(self):
        meta = self.managed("s3")
        ireland = self.server.client(region="eu-west-1")
        # Another Region has its own key, made on its first use there.
        there = ireland.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
        self.assertNotEqual(there["KeyId"], meta["KeyId"])
        self.assertEqual(there["Arn"].split(":")[3], "eu-west-1")
        self.assertEqual(self.managed("s3")["KeyId"], meta["KeyId"])

    def test_export_leaves_managed_keys_out(self):
        self.managed("s3")
        mine = self.create_key()
        status, body = self.server.admin("GET", "/_kmsd/export")
        self.assertEqual(status, 200)
        self.assertEqual([k["KeyId"] for k in json.loads(body)["Keys"]], [mine["KeyId"]])

    def test_audit_names_the_key_the_alias_made(self):
        meta = self.managed("rds")
        status, body = self.server.admin("GET", "/_kmsd/audit?eventName=DescribeKey&limit=1")
        self.assertEqual(status, 200)
        record = json.loads(body)["Records"][0]
        self.assertEqual(record["resources"][0]["ARN"], meta["Arn"])


class RestartTest(KmsdTestCase):
    """Its own server: a restart moves the server to a new port."""

    def test_reset_and_restart_keep_the_rules(self):
        meta = self.kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
        self.server.restart()
        kms = self.server.client()
        again = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
        self.assertEqual((again["KeyId"], again["KeyManager"]), (meta["KeyId"], "AWS"))
        self.assertKmsError(kms.disable_key, "AccessDeniedException",
                            denied(ROOT, "DisableKey", meta["Arn"]), KeyId=meta["Arn"])
        self.server.reset()
        self.assertEqual(self.server.client().list_keys()["Keys"], [])


class ViaServiceTest(KmsdTestCase):
    """--aws-managed-keys-via-service: calls on AWS managed keys carry kms:ViaService of their
    service, so the policy AWS wrote lets the account use them; changes stay denied."""

    server_args = ["--aws-managed-keys-via-service"]

    def test_account_uses_the_key_as_its_service_would(self):
        ct = self.kms.encrypt(KeyId="alias/aws/s3", Plaintext=b"via s3")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"via s3")
        dk = self.kms.generate_data_key(KeyId="alias/aws/ebs", KeySpec="AES_256")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"],
                         dk["Plaintext"])
        ebs = self.kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]["Arn"]
        # EBS's policy lets EC2 create grants; S3's does not.
        self.kms.create_grant(KeyId=ebs, GranteePrincipal=ROOT, Operations=["Decrypt"])
        s3 = self.kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
        self.assertKmsError(self.kms.create_grant, "AccessDeniedException",
                            denied(ROOT, "CreateGrant", s3),
                            KeyId=s3, GranteePrincipal=ROOT, Operations=["Decrypt"])
        # SNS's policy has no Encrypt.
        self.kms.generate_data_key(KeyId="alias/aws/sns", KeySpec="AES_256")
        sns = self.kms.describe_key(KeyId="alias/aws/sns")["KeyMetadata"]["Arn"]
        self.assertKmsError(self.kms.encrypt, "AccessDeniedException",
                            denied(ROOT, "Encrypt", sns), KeyId="alias/aws/sns", Plaintext=b"x")
        self.assertKmsError(self.kms.schedule_key_deletion, "AccessDeniedException",
                            denied(ROOT, "ScheduleKeyDeletion", s3), KeyId=s3)

    def test_customer_keys_are_unaffected(self):
        key = self.create_key()["KeyId"]
        ct = self.kms.encrypt(KeyId=key, Plaintext=b"mine")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"mine")


PRINCIPALS = """\
accounts:
  "%s":
    users:
      - name: admin
        access_key_id: AKIAMKADMIN00EXAMPLE
        secret_access_key: admin-secret
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
      - name: nobody
        access_key_id: AKIAMKNOBODY0EXAMPLE
        secret_access_key: nobody-secret
""" % ACCOUNT


class StrictModeTest(unittest.TestCase):
    """With IAM in play: the metadata statement names the account, so IAM policies decide who
    reads the key; no IAM policy can grant its use, as the key policy gives IAM nothing more."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="kmsd-managed-")
        path = os.path.join(cls.tmp, "principals.yaml")
        with open(path, "w") as f:
            f.write(PRINCIPALS)
        cls.server = KmsdServer(extra_args=["--auth", "strict", "--principals", path])
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def client(self, key, secret):
        return boto3.session.Session().client(
            "kms", endpoint_url=self.server.endpoint, region_name=REGION,
            aws_access_key_id=key, aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}))

    def test_iam_reads_metadata_but_cannot_grant_use(self):
        admin = self.client("AKIAMKADMIN00EXAMPLE", "admin-secret")
        nobody = self.client("AKIAMKNOBODY0EXAMPLE", "nobody-secret")
        user = "arn:aws:iam::%s:user/" % ACCOUNT
        meta = admin.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
        self.assertEqual(meta["KeyManager"], "AWS")
        with self.assertRaises(admin.exceptions.ClientError) as cm:
            admin.encrypt(KeyId="alias/aws/secretsmanager", Plaintext=b"x")
        self.assertEqual(cm.exception.response["Error"]["Message"],
                         denied(user + "admin", "Encrypt", meta["Arn"]))
        with self.assertRaises(nobody.exceptions.ClientError) as cm:
            nobody.get_key_policy(KeyId=meta["Arn"], PolicyName="default")
        self.assertEqual(cm.exception.response["Error"]["Code"], "AccessDeniedException")


if __name__ == "__main__":
    unittest.main()
