"""Key management through boto3: metadata, listing, state changes, deletion,
identifiers and not-found messages, regions, aliases, tags, key policies,
DryRun, validation errors and unsupported CreateKey features.

Reference: kms-reference.md §1.7, §2, §5.1-5.3, §6.1, §7.1, §8, §9.1.
"""

import datetime
import json
import re
import unittest
import uuid

import botocore.session

from harness import ACCOUNT, REGION, KmsdTestCase, alias_arn, key_arn

HEX64 = re.compile(r"^[0-9a-f]{64}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

DEFAULT_POLICY = (
    '{\n'
    '  "Version" : "2012-10-17",\n'
    '  "Id" : "key-default-1",\n'
    '  "Statement" : [ {\n'
    '    "Sid" : "Enable IAM User Permissions",\n'
    '    "Effect" : "Allow",\n'
    '    "Principal" : {\n'
    '      "AWS" : "arn:aws:iam::111122223333:root"\n'
    '    },\n'
    '    "Action" : "kms:*",\n'
    '    "Resource" : "*"\n'
    '  } ]\n'
    '}')

DRY_RUN_MSG = "The request would have succeeded, but the DryRun option is set."

_MODEL = botocore.session.get_session().get_service_model("kms")


def model_enum(shape):
    return set(_MODEL.shape_for(shape).enum)


def jackson_pretty(value, level=0):
    """Jackson's default pretty printer, as GetKeyPolicy prints policies
    (kms-reference §6.1): 2-space indent, ' : ', arrays on one line."""
    ind = "  "
    if isinstance(value, dict):
        if not value:
            return "{ }"
        items = [ind * (level + 1) + json.dumps(k, ensure_ascii=False) + " : "
                 + jackson_pretty(v, level + 1) for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + ind * level + "}"
    if isinstance(value, list):
        if not value:
            return "[ ]"
        return "[ " + ", ".join(jackson_pretty(v, level) for v in value) + " ]"
    return json.dumps(value, ensure_ascii=False)


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc)


class SelfCheck(unittest.TestCase):
    def test_pretty_printer_reproduces_default_policy(self):
        self.assertEqual(jackson_pretty(json.loads(DEFAULT_POLICY)), DEFAULT_POLICY)


class MetadataTest(KmsdTestCase):

    def check_new_symmetric(self, md, description=""):
        self.assertEqual(md["AWSAccountId"], ACCOUNT)
        self.assertRegex(md["KeyId"], UUID4)
        self.assertEqual(md["Arn"], key_arn(md["KeyId"]))
        self.assertIsInstance(md["CreationDate"], datetime.datetime)
        self.assertLess(abs((now_utc() - md["CreationDate"]).total_seconds()), 60)
        self.assertIs(md["Enabled"], True)
        self.assertEqual(md["Description"], description)
        self.assertEqual(md["KeyUsage"], "ENCRYPT_DECRYPT")
        self.assertEqual(md["KeyState"], "Enabled")
        self.assertEqual(md["Origin"], "AWS_KMS")
        self.assertEqual(md["KeyManager"], "CUSTOMER")
        self.assertEqual(md["CustomerMasterKeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(md["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(md["EncryptionAlgorithms"], ["SYMMETRIC_DEFAULT"])
        self.assertIs(md["MultiRegion"], False)
        self.assertRegex(md["CurrentKeyMaterialId"], HEX64)
        for absent in ("MultiRegionConfiguration", "DeletionDate", "ValidTo",
                       "CustomKeyStoreId", "CloudHsmClusterId", "ExpirationModel",
                       "SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms",
                       "PendingDeletionWindowInDays", "XksKeyConfiguration"):
            self.assertNotIn(absent, md)

    def test_create_key_defaults(self):
        md = self.create_key()
        self.check_new_symmetric(md)

    def test_create_key_explicit_symmetric(self):
        md = self.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT",
                             Origin="AWS_KMS", MultiRegion=False, Description="explicit")
        self.check_new_symmetric(md, "explicit")

    def test_describe_key_matches_create(self):
        md = self.create_key(Description="hello")
        self.kms.create_alias(AliasName="alias/desc", TargetKeyId=md["KeyId"])
        for kid in (md["KeyId"], md["Arn"], "alias/desc", alias_arn("alias/desc")):
            with self.subTest(key=kid):
                d = self.kms.describe_key(KeyId=kid)["KeyMetadata"]
                self.check_new_symmetric(d, "hello")
                self.assertEqual(d, md)

    def test_key_ids_unique(self):
        ids = {self.create_key()["KeyId"] for _ in range(5)}
        self.assertEqual(len(ids), 5)
        mats = {self.kms.describe_key(KeyId=k)["KeyMetadata"]["CurrentKeyMaterialId"] for k in ids}
        self.assertEqual(len(mats), 5)

    def test_update_key_description(self):
        md = self.create_key(Description="before")
        self.assertEqual(self.kms.update_key_description(KeyId=md["KeyId"], Description="after")
                         ["ResponseMetadata"]["HTTPStatusCode"], 200)
        self.assertEqual(self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"],
                         "after")
        self.kms.update_key_description(KeyId=md["Arn"], Description="")
        self.assertEqual(self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"], "")
        # An alias for an ID-only operation (README, compatibility choices).
        self.assertKmsError(self.kms.update_key_description, "NotFoundException",
                            "Invalid keyId 'alias/nope'", KeyId="alias/nope", Description="x")

    def test_description_too_long(self):
        self.create_key(Description="d" * 8192)
        e = self.assertKmsError(self.kms_nv.create_key, "ValidationException",
                                Description="d" * 8193)
        m = e.response["Error"]["Message"]
        self.assertTrue(m.startswith("1 validation error detected: Value '"), m[:200])
        self.assertTrue(m.endswith("' at 'description' failed to satisfy constraint: Member "
                                   "must have length less than or equal to 8192"), m[-200:])
        md = self.create_key()
        e = self.assertKmsError(self.kms_nv.update_key_description, "ValidationException",
                                KeyId=md["KeyId"], Description="d" * 8193)
        self.assertIn("at 'description' failed to satisfy constraint: Member must have length "
                      "less than or equal to 8192", e.response["Error"]["Message"])

    def test_bad_key_spec_enum(self):
        e = self.assertKmsError(self.kms.create_key, "ValidationException", KeySpec="HMAC_random")
        m = e.response["Error"]["Message"]
        prefix = ("1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to "
                  "satisfy constraint: Member must satisfy enum value set: [")
        self.assertTrue(m.startswith(prefix), m)
        self.assertTrue(m.endswith("]"), m)
        self.assertEqual(set(m[len(prefix):-1].split(", ")), model_enum("KeySpec"))

    def test_bad_key_usage_enum(self):
        e = self.assertKmsError(self.kms.create_key, "ValidationException", KeyUsage="RANDOM")
        m = e.response["Error"]["Message"]
        prefix = ("1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to "
                  "satisfy constraint: Member must satisfy enum value set: [")
        self.assertTrue(m.startswith(prefix), m)
        self.assertEqual(set(m[len(prefix):-1].split(", ")), model_enum("KeyUsageType"))

    def test_unsupported_create_key_features(self):
        # README: "<what> is not supported by kmsd yet." rather than a different key.
        # A key store's key needs its store (test_custom_key_stores, test_xks).
        for origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            self.assertKmsError(self.kms.create_key, "ValidationException",
                                f"Origin {origin} requires a CustomKeyStoreId.", Origin=origin)
        self.assertKmsError(self.kms.create_key, "CustomKeyStoreNotFoundException",
                            "Custom key store cks-1234567890abcdef0 does not exist.",
                            CustomKeyStoreId="cks-1234567890abcdef0", Origin="AWS_CLOUDHSM")
        # ML-DSA needs OpenSSL 3.5; kmsd on bookworm's 3.0 says so (README: compatibility).
        self.assertKmsError(self.kms.create_key, "UnsupportedOperationException",
                            "KeySpec ML_DSA_44 needs OpenSSL 3.5 or later (ML-DSA); this kmsd is "
                            "built with OpenSSL 3.0 and does not support it.",
                            KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY")
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_custom_key_store_needs_its_origin(self):
        self.assertKmsError(self.kms.create_key, "ValidationException",
                            "A key in custom key store cks-1234567890abcdef0 must have Origin "
                            "AWS_CLOUDHSM or EXTERNAL_KEY_STORE.",
                            CustomKeyStoreId="cks-1234567890abcdef0")


class ListKeysTest(KmsdTestCase):

    def test_empty(self):
        r = self.kms.list_keys()
        self.assertEqual(r["Keys"], [])
        self.assertIs(r["Truncated"], False)
        self.assertNotIn("NextMarker", r)

    def test_list_all(self):
        made = [self.create_key() for _ in range(3)]
        r = self.kms.list_keys()
        self.assertIs(r["Truncated"], False)
        self.assertNotIn("NextMarker", r)
        self.assertEqual(sorted(r["Keys"], key=lambda k: k["KeyId"]),
                         sorted(({"KeyId": m["KeyId"], "KeyArn": m["Arn"]} for m in made),
                                key=lambda k: k["KeyId"]))

    def test_pagination(self):
        made = {self.create_key()["KeyId"] for _ in range(5)}
        seen = []
        marker = None
        pages = 0
        while True:
            kw = {"Limit": 2}
            if marker:
                kw["Marker"] = marker
            r = self.kms.list_keys(**kw)
            pages += 1
            self.assertLessEqual(len(r["Keys"]), 2)
            seen += [k["KeyId"] for k in r["Keys"]]
            for k in r["Keys"]:
                self.assertEqual(k["KeyArn"], key_arn(k["KeyId"]))
            if r["Truncated"]:
                self.assertIn("NextMarker", r)
                marker = r["NextMarker"]
            else:
                self.assertNotIn("NextMarker", r)
                break
            self.assertLess(pages, 10)
        self.assertEqual(pages, 3)
        self.assertEqual(len(seen), 5)
        self.assertEqual(set(seen), made)

    def test_limit_exact(self):
        for _ in range(3):
            self.create_key()
        r = self.kms.list_keys(Limit=3)
        self.assertEqual(len(r["Keys"]), 3)
        # Either complete, or truncated with an empty last page; AWS reports
        # complete when nothing is left.
        self.assertIs(r["Truncated"], False)

    def test_paginator(self):
        made = {self.create_key()["KeyId"] for _ in range(4)}
        got = set()
        for page in self.kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 3}):
            got |= {k["KeyId"] for k in page["Keys"]}
        self.assertEqual(got, made)

    def test_invalid_marker(self):
        self.create_key()
        self.assertKmsError(self.kms.list_keys, "InvalidMarkerException", "Invalid marker",
                            Marker="not-a-marker")


class StateTest(KmsdTestCase):

    def test_disable_enable(self):
        md = self.create_key()
        kid = md["KeyId"]
        self.kms.disable_key(KeyId=kid)
        d = self.kms.describe_key(KeyId=kid)["KeyMetadata"]
        self.assertIs(d["Enabled"], False)
        self.assertEqual(d["KeyState"], "Disabled")
        self.kms.disable_key(KeyId=md["Arn"])  # idempotent, ARN accepted
        self.assertEqual(self.kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"], "Disabled")
        self.kms.enable_key(KeyId=kid)
        self.kms.enable_key(KeyId=kid)  # idempotent
        d = self.kms.describe_key(KeyId=kid)["KeyMetadata"]
        self.assertIs(d["Enabled"], True)
        self.assertEqual(d["KeyState"], "Enabled")
        self.assertEqual(self.kms.encrypt(KeyId=kid, Plaintext=b"x")["KeyId"], md["Arn"])

    def test_alias_not_accepted_by_id_only_operations(self):
        md = self.create_key()
        self.kms.create_alias(AliasName="alias/idonly", TargetKeyId=md["KeyId"])
        for fn in (self.kms.enable_key, self.kms.disable_key, self.kms.get_key_policy,
                   self.kms.list_resource_tags, self.kms.schedule_key_deletion):
            with self.subTest(op=fn.__name__):
                self.assertKmsError(fn, "NotFoundException", "Invalid keyId 'alias/idonly'",
                                    KeyId="alias/idonly")
        self.assertEqual(self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"],
                         "Enabled")

    def test_schedule_deletion_default(self):
        md = self.create_key()
        before = now_utc()
        r = self.kms.schedule_key_deletion(KeyId=md["KeyId"])
        self.assertEqual(r["KeyId"], md["Arn"])
        self.assertEqual(r["KeyState"], "PendingDeletion")
        self.assertEqual(r["PendingWindowInDays"], 30)
        delta = (r["DeletionDate"] - before).total_seconds()
        # now + 30 days, possibly rounded to midnight UTC (§5.3).
        self.assertGreater(delta, 29 * 86400)
        self.assertLess(delta, 31 * 86400 + 60)
        d = self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
        self.assertEqual(d["KeyState"], "PendingDeletion")
        self.assertIs(d["Enabled"], False)
        self.assertEqual(d["DeletionDate"], r["DeletionDate"])
        self.assertNotIn("PendingDeletionWindowInDays", d)

    def test_schedule_deletion_window_bounds(self):
        for days in (7, 30, 15):
            md = self.create_key()
            before = now_utc()
            r = self.kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=days)
            self.assertEqual(r["PendingWindowInDays"], days)
            delta = (r["DeletionDate"] - before).total_seconds()
            self.assertGreater(delta, (days - 1) * 86400)
            self.assertLess(delta, (days + 1) * 86400 + 60)
        for days, bound in ((6, "greater than or equal to 7"), (31, "less than or equal to 30"),
                            (1, "greater than or equal to 7"), (365, "less than or equal to 30")):
            md = self.create_key()
            with self.subTest(days=days):
                self.assertKmsError(self.kms.schedule_key_deletion, "ValidationException",
                                    "1 validation error detected: Value '%d' at "
                                    "'pendingWindowInDays' failed to satisfy constraint: Member "
                                    "must have value %s" % (days, bound),
                                    KeyId=md["KeyId"], PendingWindowInDays=days)
                self.assertEqual(
                    self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"], "Enabled")

    def test_pending_deletion_blocks_use(self):
        md = self.create_key()
        kid, arn = md["KeyId"], md["Arn"]
        blob = self.kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        msg = "%s is pending deletion." % arn
        err = "KMSInvalidStateException"
        self.assertKmsError(self.kms.encrypt, err, msg, KeyId=kid, Plaintext=b"x")
        self.assertKmsError(self.kms.decrypt, err, msg, CiphertextBlob=blob)
        self.assertKmsError(self.kms.generate_data_key, err, msg, KeyId=kid, KeySpec="AES_256")
        self.assertKmsError(self.kms.generate_data_key_without_plaintext, err, msg,
                            KeyId=kid, KeySpec="AES_256")
        self.assertKmsError(self.kms.re_encrypt, err, msg, CiphertextBlob=blob,
                            DestinationKeyId=kid)
        self.assertKmsError(self.kms.enable_key, err, msg, KeyId=kid)
        self.assertKmsError(self.kms.disable_key, err, msg, KeyId=kid)
        self.assertKmsError(self.kms.schedule_key_deletion, err, msg, KeyId=kid)
        self.assertKmsError(self.kms.tag_resource, err, msg, KeyId=kid,
                            Tags=[{"TagKey": "a", "TagValue": "b"}])
        self.assertKmsError(self.kms.untag_resource, err, msg, KeyId=kid, TagKeys=["a"])
        self.assertKmsError(self.kms.create_alias, err, msg, AliasName="alias/pd",
                            TargetKeyId=kid)
        self.assertKmsError(self.kms.update_key_description, err, msg, KeyId=kid,
                            Description="x")
        # Still readable.
        self.assertEqual(self.kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"],
                         "PendingDeletion")
        self.assertEqual(self.kms.list_resource_tags(KeyId=kid)["Tags"], [])
        self.assertEqual(self.kms.list_key_policies(KeyId=kid)["PolicyNames"], ["default"])
        self.assertEqual(self.kms.get_key_policy(KeyId=kid, PolicyName="default")["Policy"],
                         DEFAULT_POLICY)

    def test_cancel_deletion(self):
        md = self.create_key()
        kid = md["KeyId"]
        self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        r = self.kms.cancel_key_deletion(KeyId=kid)
        self.assertEqual(r["KeyId"], md["Arn"])
        d = self.kms.describe_key(KeyId=kid)["KeyMetadata"]
        self.assertEqual(d["KeyState"], "Disabled")
        self.assertIs(d["Enabled"], False)
        self.assertNotIn("DeletionDate", d)
        self.assertKmsError(self.kms.encrypt, "DisabledException", "%s is disabled." % md["Arn"],
                            KeyId=kid, Plaintext=b"x")
        self.kms.enable_key(KeyId=kid)
        self.assertEqual(self.kms.encrypt(KeyId=kid, Plaintext=b"x")["KeyId"], md["Arn"])

    def test_cancel_deletion_not_pending(self):
        md = self.create_key()
        msg = "%s is not pending deletion." % md["Arn"]
        self.assertKmsError(self.kms.cancel_key_deletion, "KMSInvalidStateException", msg,
                            KeyId=md["KeyId"])
        self.kms.disable_key(KeyId=md["KeyId"])
        self.assertKmsError(self.kms.cancel_key_deletion, "KMSInvalidStateException", msg,
                            KeyId=md["Arn"])

    def test_schedule_deletion_of_disabled_key(self):
        md = self.create_key()
        self.kms.disable_key(KeyId=md["KeyId"])
        r = self.kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=10)
        self.assertEqual(r["KeyState"], "PendingDeletion")
        self.kms.cancel_key_deletion(KeyId=md["KeyId"])
        self.assertEqual(self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"],
                         "Disabled")


class NotFoundTest(KmsdTestCase):

    def test_malformed_key_ids(self):
        for bad in ("fake-key-id", "mrk-fake-key-id", uuid.uuid4().hex,
                    "1234abcd-12ab-34cd-56ef-1234567890abX"):
            with self.subTest(key=bad):
                self.assertKmsError(self.kms.describe_key, "NotFoundException",
                                    "Invalid keyId '%s'" % bad, KeyId=bad)

    def test_well_formed_missing(self):
        kid = str(uuid.uuid4())
        msg = "Key '%s' does not exist" % key_arn(kid)
        self.assertKmsError(self.kms.describe_key, "NotFoundException", msg, KeyId=kid)
        self.assertKmsError(self.kms.describe_key, "NotFoundException", msg, KeyId=key_arn(kid))
        self.assertKmsError(self.kms.encrypt, "NotFoundException", msg, KeyId=kid,
                            Plaintext=b"x")
        self.assertKmsError(self.kms.generate_data_key, "NotFoundException", msg, KeyId=kid,
                            KeySpec="AES_256")
        self.assertKmsError(self.kms.enable_key, "NotFoundException", msg, KeyId=kid)
        self.assertKmsError(self.kms.disable_key, "NotFoundException", msg, KeyId=kid)
        self.assertKmsError(self.kms.schedule_key_deletion, "NotFoundException", msg, KeyId=kid)
        self.assertKmsError(self.kms.cancel_key_deletion, "NotFoundException", msg, KeyId=kid)
        self.assertKmsError(self.kms.get_key_policy, "NotFoundException", msg, KeyId=kid,
                            PolicyName="default")
        self.assertKmsError(self.kms.list_resource_tags, "NotFoundException", msg, KeyId=kid)
        self.assertKmsError(self.kms.tag_resource, "NotFoundException", msg, KeyId=kid,
                            Tags=[{"TagKey": "a", "TagValue": "b"}])
        self.assertKmsError(self.kms.create_alias, "NotFoundException", msg,
                            AliasName="alias/x", TargetKeyId=kid)

    def test_upper_case_uuid(self):
        md = self.create_key()
        # Key IDs are lower case; AWS does not resolve an upper-cased one.
        self.assertKmsError(self.kms.describe_key, "NotFoundException", KeyId=md["KeyId"].upper())

    def test_missing_mrk(self):
        kid = "mrk-" + uuid.uuid4().hex
        self.assertKmsError(self.kms.describe_key, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(kid), KeyId=kid)

    def test_arn_of_other_region(self):
        kid = str(uuid.uuid4())
        self.assertKmsError(self.kms.describe_key, "NotFoundException", "Invalid arn us-west-2",
                            KeyId=key_arn(kid, region="us-west-2"))

    def test_missing_alias(self):
        msg = "Alias %s is not found." % alias_arn("alias/does-not-exist")
        self.assertKmsError(self.kms.describe_key, "NotFoundException", msg,
                            KeyId="alias/does-not-exist")
        self.assertKmsError(self.kms.encrypt, "NotFoundException", msg,
                            KeyId="alias/does-not-exist", Plaintext=b"x")
        self.assertKmsError(self.kms.describe_key, "NotFoundException", msg,
                            KeyId=alias_arn("alias/does-not-exist"))
        self.assertKmsError(self.kms.delete_alias, "NotFoundException", msg,
                            AliasName="alias/does-not-exist")


class RegionTest(KmsdTestCase):

    def test_region_isolation(self):
        md = self.create_key()
        kid = md["KeyId"]
        west = self.server.client(region="us-west-2")
        self.assertKmsError(west.describe_key, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(kid, region="us-west-2"),
                            KeyId=kid)
        self.assertKmsError(west.describe_key, "NotFoundException", "Invalid arn us-east-1",
                            KeyId=md["Arn"])
        self.assertEqual(west.list_keys()["Keys"], [])
        wmd = west.create_key()["KeyMetadata"]
        self.assertEqual(wmd["Arn"], key_arn(wmd["KeyId"], region="us-west-2"))
        self.assertEqual([k["KeyId"] for k in west.list_keys()["Keys"]], [wmd["KeyId"]])
        self.assertEqual([k["KeyId"] for k in self.kms.list_keys()["Keys"]], [kid])
        self.assertKmsError(self.kms.describe_key, "NotFoundException", "Invalid arn us-west-2",
                            KeyId=wmd["Arn"])
        # Ciphertext from one Region does not decrypt in another.
        blob = self.kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        e = self.assertKmsError(west.decrypt, "AccessDeniedException", CiphertextBlob=blob)
        self.assertEqual(e.response["Error"]["Message"],
                         "User: arn:aws:iam::111122223333:root is not authorized to perform: "
                         "kms:Decrypt on the resource associated with this ciphertext because the "
                         "resource does not exist in this Region, no resource-based policies allow "
                         "access, or a resource-based policy explicitly denies access")

    def test_arn_follows_signing_region(self):
        for region in ("eu-central-1", "ap-southeast-2"):
            c = self.server.client(region=region)
            md = c.create_key()["KeyMetadata"]
            self.assertEqual(md["Arn"], key_arn(md["KeyId"], region=region))
            self.assertEqual(c.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["KeyId"], md["Arn"])

    def test_foreign_account_arn_not_found(self):
        md = self.create_key()
        foreign = key_arn(md["KeyId"], account="999999999999")
        msg = "Key '%s' does not exist" % foreign  # README, compatibility choices
        self.assertKmsError(self.kms.describe_key, "NotFoundException", msg, KeyId=foreign)
        self.assertKmsError(self.kms.encrypt, "NotFoundException", msg, KeyId=foreign,
                            Plaintext=b"x")

    def test_aliases_per_region(self):
        md = self.create_key()
        west = self.server.client(region="us-west-2")
        wmd = west.create_key()["KeyMetadata"]
        self.kms.create_alias(AliasName="alias/same", TargetKeyId=md["KeyId"])
        west.create_alias(AliasName="alias/same", TargetKeyId=wmd["KeyId"])
        self.assertEqual(self.kms.describe_key(KeyId="alias/same")["KeyMetadata"]["KeyId"],
                         md["KeyId"])
        self.assertEqual(west.describe_key(KeyId="alias/same")["KeyMetadata"]["KeyId"],
                         wmd["KeyId"])
        west_alias = [a for a in west.list_aliases()["Aliases"] if a["AliasName"] == "alias/same"]
        self.assertEqual(west_alias[0]["AliasArn"], alias_arn("alias/same", region="us-west-2"))
        # A us-east-1 key cannot be targeted from us-west-2.
        self.assertKmsError(west.create_alias, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(md["KeyId"], region="us-west-2"),
                            AliasName="alias/cross", TargetKeyId=md["KeyId"])


class PartitionTest(KmsdTestCase):
    """ARNs carry the partition of the request's Region (kms-reference §2.1: aws, aws-cn,
    aws-us-gov): a client signing for a China or GovCloud Region gets arn:aws-cn:... /
    arn:aws-us-gov:... key and alias ARNs, in every reply and message, and the default key policy
    names the account's root in that partition (§6.1)."""

    REGIONS = (("cn-north-1", "aws-cn"), ("cn-northwest-1", "aws-cn"),
               ("us-gov-west-1", "aws-us-gov"), ("us-gov-east-1", "aws-us-gov"))

    def test_key_arns(self):
        for region, partition in self.REGIONS:
            with self.subTest(region=region):
                kms = self.server.client(region=region)
                md = kms.create_key()["KeyMetadata"]
                arn = "arn:%s:kms:%s:%s:key/%s" % (partition, region, ACCOUNT, md["KeyId"])
                self.assertEqual(md["Arn"], arn)
                self.assertEqual(kms.describe_key(KeyId=arn)["KeyMetadata"]["Arn"], arn)
                self.assertEqual(kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Arn"], arn)
                self.assertEqual(kms.list_keys()["Keys"], [{"KeyId": md["KeyId"], "KeyArn": arn}])
                blob = kms.encrypt(KeyId=arn, Plaintext=b"x")
                self.assertEqual(blob["KeyId"], arn)
                self.assertEqual(kms.decrypt(CiphertextBlob=blob["CiphertextBlob"])["KeyId"], arn)
                self.assertEqual(kms.generate_data_key(KeyId=arn, KeySpec="AES_256")["KeyId"], arn)
                missing = str(uuid.uuid4())
                self.assertKmsError(kms.describe_key, "NotFoundException",
                                    "Key 'arn:%s:kms:%s:%s:key/%s' does not exist"
                                    % (partition, region, ACCOUNT, missing), KeyId=missing)
                kms.disable_key(KeyId=arn)
                self.assertKmsError(kms.encrypt, "DisabledException", "%s is disabled." % arn,
                                    KeyId=md["KeyId"], Plaintext=b"x")

    def test_alias_arns(self):
        for region, partition in self.REGIONS:
            with self.subTest(region=region):
                kms = self.server.client(region=region)
                md = kms.create_key()["KeyMetadata"]
                kms.create_alias(AliasName="alias/part", TargetKeyId=md["KeyId"])
                alias = "arn:%s:kms:%s:%s:alias/part" % (partition, region, ACCOUNT)
                listed = [a for a in kms.list_aliases(KeyId=md["KeyId"])["Aliases"]]
                self.assertEqual([(a["AliasName"], a["AliasArn"]) for a in listed],
                                 [("alias/part", alias)])
                self.assertEqual(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"], md["Arn"])
                self.assertEqual(kms.encrypt(KeyId=alias, Plaintext=b"x")["KeyId"], md["Arn"])
                self.assertKmsError(kms.describe_key, "NotFoundException",
                                    "Alias arn:%s:kms:%s:%s:alias/none is not found."
                                    % (partition, region, ACCOUNT), KeyId="alias/none")
                self.assertKmsError(kms.create_alias, "AlreadyExistsException",
                                    "An alias with the name %s already exists" % alias,
                                    AliasName="alias/part", TargetKeyId=md["KeyId"])

    def test_default_policy_grants_and_callers_use_the_partition(self):
        for region, partition in self.REGIONS:
            with self.subTest(region=region):
                kms = self.server.client(region=region)
                md = kms.create_key()["KeyMetadata"]
                root = "arn:%s:iam::%s:root" % (partition, ACCOUNT)
                self.assertEqual(kms.get_key_policy(KeyId=md["KeyId"])["Policy"],
                                 DEFAULT_POLICY.replace("arn:aws:iam::", "arn:%s:iam::"
                                                        % partition))
                kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=root,
                                 Operations=["Decrypt"])
                grant = kms.list_grants(KeyId=md["KeyId"])["Grants"][0]
                self.assertEqual(grant["KeyId"], md["Arn"])
                self.assertEqual(grant["IssuingAccount"], root)
                # The caller (the account's root in open mode) is named in its partition.
                kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps({
                    "Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Principal": {"AWS": root}, "Action": "kms:*",
                         "Resource": "*"},
                        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
                         "Resource": "*"}]}))
                self.assertKmsError(kms.encrypt, "AccessDeniedException",
                                    "User: %s is not authorized to perform: kms:Encrypt on "
                                    "resource: %s with an explicit deny in a resource-based policy"
                                    % (root, md["Arn"]), KeyId=md["KeyId"], Plaintext=b"x")

    def test_partitions_are_separate_regions(self):
        cn = self.server.client(region="cn-north-1")
        md = cn.create_key()["KeyMetadata"]
        # The same key ID in another partition's Region is another key (not found there), and
        # the China ARN is refused from us-east-1 as any other Region's ARN is.
        self.assertKmsError(self.kms.describe_key, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(md["KeyId"]), KeyId=md["KeyId"])
        self.assertKmsError(self.kms.describe_key, "NotFoundException", "Invalid arn cn-north-1",
                            KeyId=md["Arn"])
        self.assertEqual(self.kms.list_keys()["Keys"], [])


class AliasTest(KmsdTestCase):

    def my_aliases(self, **kw):
        """All customer aliases (predefined alias/aws/* ones left out), every page."""
        out, marker = [], None
        for _ in range(100):
            if marker:
                kw["Marker"] = marker
            r = self.kms.list_aliases(**kw)
            out += r["Aliases"]
            if not r["Truncated"]:
                self.assertNotIn("NextMarker", r)
                break
            marker = r["NextMarker"]
        return [a for a in out if not a["AliasName"].startswith("alias/aws/")]

    def test_create_list(self):
        md = self.create_key()
        before = now_utc() - datetime.timedelta(seconds=60)
        r = self.kms.create_alias(AliasName="alias/my-app_1/x", TargetKeyId=md["KeyId"])
        self.assertEqual(r["ResponseMetadata"]["HTTPStatusCode"], 200)
        aliases = self.my_aliases()
        self.assertEqual(len(aliases), 1)
        a = aliases[0]
        self.assertEqual(a["AliasName"], "alias/my-app_1/x")
        self.assertEqual(a["AliasArn"], "arn:aws:kms:%s:%s:alias/my-app_1/x" % (REGION, ACCOUNT))
        self.assertEqual(a["TargetKeyId"], md["KeyId"])
        self.assertGreater(a["CreationDate"], before)
        self.assertGreater(a["LastUpdatedDate"], before)
        # ARN as target works too.
        self.kms.create_alias(AliasName="alias/by-arn", TargetKeyId=md["Arn"])
        self.assertEqual({a["TargetKeyId"] for a in self.my_aliases()}, {md["KeyId"]})

    def test_alias_entries_shape(self):
        """Customer aliases carry TargetKeyId; predefined alias/aws/* ones (if
        listed) may lack it (kms-reference §2.1)."""
        md = self.create_key()
        self.kms.create_alias(AliasName="alias/shape", TargetKeyId=md["KeyId"])
        entries = self.kms.list_aliases()["Aliases"]
        self.assertIn("alias/shape", [a["AliasName"] for a in entries])
        for a in entries:
            self.assertTrue(a["AliasName"].startswith("alias/"), a)
            self.assertEqual(a["AliasArn"], alias_arn(a["AliasName"]), a)
            if not a["AliasName"].startswith("alias/aws/"):
                self.assertEqual(a["TargetKeyId"], md["KeyId"], a)
                self.assertIn("CreationDate", a)
                self.assertIn("LastUpdatedDate", a)

    def test_filter_by_key(self):
        k1 = self.create_key()
        k2 = self.create_key()
        self.kms.create_alias(AliasName="alias/one-a", TargetKeyId=k1["KeyId"])
        self.kms.create_alias(AliasName="alias/one-b", TargetKeyId=k1["KeyId"])
        self.kms.create_alias(AliasName="alias/two", TargetKeyId=k2["KeyId"])
        for kid in (k1["KeyId"], k1["Arn"]):
            r = self.kms.list_aliases(KeyId=kid)
            self.assertIs(r["Truncated"], False)
            self.assertEqual(sorted(a["AliasName"] for a in r["Aliases"]),
                             ["alias/one-a", "alias/one-b"])
        r = self.kms.list_aliases(KeyId=k2["KeyId"])
        self.assertEqual([a["AliasName"] for a in r["Aliases"]], ["alias/two"])
        k3 = self.create_key()
        self.assertEqual(self.kms.list_aliases(KeyId=k3["KeyId"])["Aliases"], [])
        missing = str(uuid.uuid4())
        self.assertKmsError(self.kms.list_aliases, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(missing), KeyId=missing)

    def test_pagination(self):
        md = self.create_key()
        names = {"alias/page-%d" % i for i in range(5)}
        for n in names:
            self.kms.create_alias(AliasName=n, TargetKeyId=md["KeyId"])
        seen, marker, pages = [], None, 0
        while True:
            kw = {"Limit": 2}
            if marker:
                kw["Marker"] = marker
            r = self.kms.list_aliases(**kw)
            pages += 1
            self.assertLessEqual(len(r["Aliases"]), 2)
            seen += [a["AliasName"] for a in r["Aliases"]]
            if not r["Truncated"]:
                self.assertNotIn("NextMarker", r)
                break
            marker = r["NextMarker"]
            self.assertLess(pages, 200)
        self.assertEqual(len(seen), len(set(seen)))
        self.assertTrue(names <= set(seen))
        # With the KeyId filter only our five: three pages.
        seen, marker, pages = [], None, 0
        while True:
            kw = {"Limit": 2, "KeyId": md["KeyId"]}
            if marker:
                kw["Marker"] = marker
            r = self.kms.list_aliases(**kw)
            pages += 1
            seen += [a["AliasName"] for a in r["Aliases"]]
            if not r["Truncated"]:
                break
            marker = r["NextMarker"]
            self.assertLess(pages, 10)
        self.assertEqual(pages, 3)
        self.assertEqual(set(seen), names)

    def test_update_alias(self):
        k1 = self.create_key()
        k2 = self.create_key()
        self.kms.create_alias(AliasName="alias/moving", TargetKeyId=k1["KeyId"])
        first = self.my_aliases()[0]
        self.kms.update_alias(AliasName="alias/moving", TargetKeyId=k2["KeyId"])
        a = self.my_aliases()[0]
        self.assertEqual(a["TargetKeyId"], k2["KeyId"])
        self.assertEqual(a["CreationDate"], first["CreationDate"])
        self.assertGreaterEqual(a["LastUpdatedDate"], first["LastUpdatedDate"])
        self.assertEqual(self.kms.describe_key(KeyId="alias/moving")["KeyMetadata"]["KeyId"],
                         k2["KeyId"])
        self.assertEqual(self.kms.encrypt(KeyId="alias/moving", Plaintext=b"x")["KeyId"],
                         k2["Arn"])
        self.kms.update_alias(AliasName="alias/moving", TargetKeyId=k1["Arn"])
        self.assertEqual(self.my_aliases()[0]["TargetKeyId"], k1["KeyId"])
        self.assertKmsError(self.kms.update_alias, "NotFoundException",
                            "Alias %s is not found." % alias_arn("alias/nope"),
                            AliasName="alias/nope", TargetKeyId=k1["KeyId"])
        missing = str(uuid.uuid4())
        self.assertKmsError(self.kms.update_alias, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(missing),
                            AliasName="alias/moving", TargetKeyId=missing)

    def test_update_alias_to_pending_deletion_key(self):
        k1 = self.create_key()
        k2 = self.create_key()
        self.kms.create_alias(AliasName="alias/pdtarget", TargetKeyId=k1["KeyId"])
        self.kms.schedule_key_deletion(KeyId=k2["KeyId"], PendingWindowInDays=7)
        self.assertKmsError(self.kms.update_alias, "KMSInvalidStateException",
                            "%s is pending deletion." % k2["Arn"],
                            AliasName="alias/pdtarget", TargetKeyId=k2["KeyId"])

    def test_delete_alias(self):
        md = self.create_key()
        self.kms.create_alias(AliasName="alias/gone", TargetKeyId=md["KeyId"])
        self.kms.delete_alias(AliasName="alias/gone")
        self.assertEqual(self.my_aliases(), [])
        msg = "Alias %s is not found." % alias_arn("alias/gone")
        self.assertKmsError(self.kms.describe_key, "NotFoundException", msg, KeyId="alias/gone")
        self.assertKmsError(self.kms.delete_alias, "NotFoundException", msg,
                            AliasName="alias/gone")
        # Key itself unaffected; name can be reused.
        self.assertEqual(self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"],
                         "Enabled")
        self.kms.create_alias(AliasName="alias/gone", TargetKeyId=md["KeyId"])
        self.assertEqual(len(self.my_aliases()), 1)

    def test_already_exists(self):
        md = self.create_key()
        other = self.create_key()
        self.kms.create_alias(AliasName="alias/dup", TargetKeyId=md["KeyId"])
        msg = "An alias with the name %s already exists" % alias_arn("alias/dup")
        self.assertKmsError(self.kms.create_alias, "AlreadyExistsException", msg,
                            AliasName="alias/dup", TargetKeyId=other["KeyId"])
        self.assertKmsError(self.kms.create_alias, "AlreadyExistsException", msg,
                            AliasName="alias/dup", TargetKeyId=md["KeyId"])
        self.assertEqual(self.my_aliases()[0]["TargetKeyId"], md["KeyId"])

    def test_case_sensitive(self):
        md = self.create_key()
        self.kms.create_alias(AliasName="alias/Case", TargetKeyId=md["KeyId"])
        self.kms.create_alias(AliasName="alias/case", TargetKeyId=md["KeyId"])
        self.assertEqual(len(self.my_aliases()), 2)
        self.assertKmsError(self.kms.describe_key, "NotFoundException",
                            "Alias %s is not found." % alias_arn("alias/CASE"), KeyId="alias/CASE")

    def test_missing_prefix(self):
        md = self.create_key()
        msg = ('Alias must start with the prefix "alias/". Please see '
               'https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html')
        self.assertKmsError(self.kms.create_alias, "ValidationException", msg,
                            AliasName="no-prefix", TargetKeyId=md["KeyId"])
        self.assertKmsError(self.kms.create_alias, "ValidationException", msg,
                            AliasName="Alias/upper", TargetKeyId=md["KeyId"])
        self.assertEqual(self.my_aliases(), [])

    def test_bad_characters(self):
        md = self.create_key()
        for name in ("alias/bad!name", "alias/with space", "alias/d$llar", "alias/at@sign"):
            with self.subTest(name=name):
                self.assertKmsError(
                    self.kms.create_alias, "ValidationException",
                    "1 validation error detected: Value '%s' at 'aliasName' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: "
                    "^[a-zA-Z0-9:/_-]+$" % name,
                    AliasName=name, TargetKeyId=md["KeyId"])
        self.assertEqual(self.my_aliases(), [])

    def test_too_long(self):
        md = self.create_key()
        name = "alias/" + "a" * 251
        self.assertEqual(len(name), 257)
        self.assertKmsError(
            self.kms.create_alias, "ValidationException",
            "1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: "
            "Member must have length less than or equal to 256" % name,
            AliasName=name, TargetKeyId=md["KeyId"])
        ok = "alias/" + "a" * 250
        self.kms.create_alias(AliasName=ok, TargetKeyId=md["KeyId"])
        self.assertEqual(self.my_aliases()[0]["AliasName"], ok)

    def test_reserved_aws_prefix(self):
        md = self.create_key()
        for fn, kw in ((self.kms.create_alias, {"AliasName": "alias/aws/mine",
                                                "TargetKeyId": md["KeyId"]}),
                       (self.kms.update_alias, {"AliasName": "alias/aws/s3",
                                                "TargetKeyId": md["KeyId"]}),
                       (self.kms.delete_alias, {"AliasName": "alias/aws/s3"})):
            with self.subTest(op=fn.__name__):
                # AWS's answer is not recorded (kms-reference §2.1, §11); kmsd's documented
                # choice (README) is moto's: NotAuthorizedException without a message member.
                self.assertKmsError(fn, "NotAuthorizedException", "", **kw)
        status, _, body = self.server.call("CreateAlias", {"AliasName": "alias/aws/mine",
                                                           "TargetKeyId": md["KeyId"]})
        self.assertEqual((status, body), (400, {"__type": "NotAuthorizedException"}))
        self.assertNotIn("alias/aws/mine",
                         [a["AliasName"] for a in self.kms.list_aliases()["Aliases"]])

    def test_alias_as_target_rejected(self):
        md = self.create_key()
        self.kms.create_alias(AliasName="alias/first", TargetKeyId=md["KeyId"])
        self.assertKmsError(self.kms.create_alias, "NotFoundException",
                            "Invalid keyId 'alias/first'",
                            AliasName="alias/second", TargetKeyId="alias/first")
        self.assertEqual([a["AliasName"] for a in self.my_aliases()], ["alias/first"])

    # The alias quota is 50 per KMS key (kms-reference §7.1: it replaced the old per-Region
    # quota; there is no account/Region-wide alias limit any more). AWS's message for it is not
    # recorded (§11); kmsd's text is its own (api/ops/aliases.cpp).
    TOO_MANY_ALIASES = "Too many aliases for key %s. The limit is 50."

    def fill_with_aliases(self, md, prefix):
        for i in range(50):
            self.kms.create_alias(AliasName="alias/%s-%02d" % (prefix, i), TargetKeyId=md["KeyId"])

    def test_fifty_aliases_per_key(self):
        md = self.create_key()
        self.fill_with_aliases(md, "many")
        self.assertKmsError(self.kms.create_alias, "LimitExceededException",
                            self.TOO_MANY_ALIASES % md["Arn"],
                            AliasName="alias/many-50", TargetKeyId=md["KeyId"])
        self.assertEqual(len(self.my_aliases(KeyId=md["KeyId"])), 50)
        self.assertKmsError(self.kms.describe_key, "NotFoundException",
                            "Alias %s is not found." % alias_arn("alias/many-50"),
                            KeyId="alias/many-50")

    def test_alias_quota_is_per_key_not_per_region(self):
        full = self.create_key()
        self.fill_with_aliases(full, "full")
        # Another key in the same account and Region takes aliases of its own: more than 50 in
        # the Region is fine.
        other = self.create_key()
        for i in range(10):
            self.kms.create_alias(AliasName="alias/other-%02d" % i, TargetKeyId=other["KeyId"])
        self.assertEqual(len(self.my_aliases()), 60)
        # And each key has its own 50: the full key still refuses, whatever the alias name.
        self.assertKmsError(self.kms.create_alias, "LimitExceededException",
                            self.TOO_MANY_ALIASES % full["Arn"],
                            AliasName="alias/other-10", TargetKeyId=full["KeyId"])

    def test_update_alias_onto_a_full_key_is_refused(self):
        full = self.create_key()
        self.fill_with_aliases(full, "full")
        other = self.create_key()
        self.kms.create_alias(AliasName="alias/mover", TargetKeyId=other["KeyId"])
        self.assertKmsError(self.kms.update_alias, "LimitExceededException",
                            self.TOO_MANY_ALIASES % full["Arn"],
                            AliasName="alias/mover", TargetKeyId=full["KeyId"])
        self.assertEqual(self.kms.describe_key(KeyId="alias/mover")["KeyMetadata"]["KeyId"],
                         other["KeyId"])
        # Room made by deleting one of the 50 is room again.
        self.kms.delete_alias(AliasName="alias/full-07")
        self.kms.update_alias(AliasName="alias/mover", TargetKeyId=full["KeyId"])
        self.assertEqual(self.kms.describe_key(KeyId="alias/mover")["KeyMetadata"]["KeyId"],
                         full["KeyId"])
        self.assertEqual(len(self.my_aliases(KeyId=full["KeyId"])), 50)
        self.assertKmsError(self.kms.create_alias, "LimitExceededException",
                            self.TOO_MANY_ALIASES % full["Arn"],
                            AliasName="alias/full-07", TargetKeyId=full["KeyId"])

    def test_alias_to_disabled_key_allowed(self):
        md = self.create_key()
        self.kms.disable_key(KeyId=md["KeyId"])
        self.kms.create_alias(AliasName="alias/disabled", TargetKeyId=md["KeyId"])
        self.assertEqual(self.my_aliases()[0]["TargetKeyId"], md["KeyId"])


class TagTest(KmsdTestCase):

    def tags(self, kid):
        r = self.kms.list_resource_tags(KeyId=kid)
        self.assertIs(r["Truncated"], False)
        self.assertNotIn("NextMarker", r)
        return {t["TagKey"]: t["TagValue"] for t in r["Tags"]}

    def test_tag_untag(self):
        md = self.create_key()
        kid = md["KeyId"]
        self.assertEqual(self.tags(kid), {})
        self.kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "env", "TagValue": "test"},
                                               {"TagKey": "team", "TagValue": ""}])
        self.assertEqual(self.tags(kid), {"env": "test", "team": ""})
        self.assertEqual(self.tags(md["Arn"]), {"env": "test", "team": ""})
        # Overwrite.
        self.kms.tag_resource(KeyId=md["Arn"], Tags=[{"TagKey": "env", "TagValue": "prod"}])
        self.assertEqual(self.tags(kid), {"env": "prod", "team": ""})
        # Untag; missing keys are a no-op.
        self.kms.untag_resource(KeyId=kid, TagKeys=["team", "never-there"])
        self.assertEqual(self.tags(kid), {"env": "prod"})
        self.kms.untag_resource(KeyId=kid, TagKeys=["never-there"])
        self.assertEqual(self.tags(kid), {"env": "prod"})

    def test_tags_on_create_key(self):
        md = self.create_key(Tags=[{"TagKey": "a", "TagValue": "1"},
                                   {"TagKey": "b", "TagValue": "2"}])
        self.assertEqual(self.tags(md["KeyId"]), {"a": "1", "b": "2"})

    def test_tags_case_sensitive(self):
        md = self.create_key()
        self.kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "Env", "TagValue": "a"},
                                                       {"TagKey": "env", "TagValue": "b"}])
        self.assertEqual(self.tags(md["KeyId"]), {"Env": "a", "env": "b"})

    def test_disabled_key_can_be_tagged(self):
        md = self.create_key()
        self.kms.disable_key(KeyId=md["KeyId"])
        self.kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v"}])
        self.assertEqual(self.tags(md["KeyId"]), {"k": "v"})

    def test_fifty_limit(self):
        md = self.create_key()
        kid = md["KeyId"]
        self.kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "k%02d" % i, "TagValue": "v"}
                                               for i in range(50)])
        self.assertEqual(len(self.tags(kid)), 50)
        self.assertKmsError(self.kms.tag_resource, "TagException", "Too many tags",
                            KeyId=kid, Tags=[{"TagKey": "one-more", "TagValue": "v"}])
        # Overwriting an existing key at the limit is fine.
        self.kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "k00", "TagValue": "new"}])
        self.assertEqual(self.tags(kid)["k00"], "new")
        self.assertEqual(len(self.tags(kid)), 50)

    def test_fifty_one_in_one_call(self):
        md = self.create_key()
        self.assertKmsError(self.kms.tag_resource, "TagException", "Too many tags",
                            KeyId=md["KeyId"],
                            Tags=[{"TagKey": "k%02d" % i, "TagValue": "v"} for i in range(51)])
        self.assertEqual(self.tags(md["KeyId"]), {})

    def test_reserved_aws_prefix(self):
        md = self.create_key()
        for k in ("aws:foo", "AWS:foo", "Aws:bar"):
            with self.subTest(key=k):
                self.assertKmsError(self.kms.tag_resource, "TagException",
                                    "Tags beginning with aws: are reserved",
                                    KeyId=md["KeyId"], Tags=[{"TagKey": k, "TagValue": "v"}])
        self.assertEqual(self.tags(md["KeyId"]), {})
        # "aws" without the colon is an ordinary key.
        self.kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "awsome", "TagValue": "v"}])
        self.assertEqual(self.tags(md["KeyId"]), {"awsome": "v"})

    def test_duplicate_keys(self):
        md = self.create_key()
        self.assertKmsError(self.kms.tag_resource, "TagException", "Duplicate tag keys",
                            KeyId=md["KeyId"], Tags=[{"TagKey": "a", "TagValue": "1"},
                                                     {"TagKey": "a", "TagValue": "2"}])
        self.assertEqual(self.tags(md["KeyId"]), {})

    def test_missing_tag_value(self):
        md = self.create_key()
        self.assertKmsError(self.kms_nv.tag_resource, "ValidationException",
                            "1 validation error detected: Value null at 'tags.1.member.tagValue' "
                            "failed to satisfy constraint: Member must not be null",
                            KeyId=md["KeyId"], Tags=[{"TagKey": "k"}])

    def test_long_key_and_value(self):
        md = self.create_key()
        long_key = "k" * 129
        self.assertKmsError(
            self.kms.tag_resource, "ValidationException",
            "1 validation error detected: Value '%s' at 'tags.1.member.tagKey' failed to satisfy "
            "constraint: Member must have length less than or equal to 128" % long_key,
            KeyId=md["KeyId"], Tags=[{"TagKey": long_key, "TagValue": "v"}])
        self.assertKmsError(
            self.kms.tag_resource, "ValidationException",
            "1 validation error detected: Value '%s' at 'tags.2.member.tagKey' failed to satisfy "
            "constraint: Member must have length less than or equal to 128" % long_key,
            KeyId=md["KeyId"], Tags=[{"TagKey": "ok", "TagValue": "v"},
                                     {"TagKey": long_key, "TagValue": "v"}])
        long_value = "v" * 257
        self.assertKmsError(
            self.kms.tag_resource, "ValidationException",
            "1 validation error detected: Value '%s' at 'tags.1.member.tagValue' failed to "
            "satisfy constraint: Member must have length less than or equal to 256" % long_value,
            KeyId=md["KeyId"], Tags=[{"TagKey": "k", "TagValue": long_value}])
        self.assertEqual(self.tags(md["KeyId"]), {})
        # The limits themselves are fine.
        self.kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k" * 128,
                                                        "TagValue": "v" * 256}])
        self.assertEqual(self.tags(md["KeyId"]), {"k" * 128: "v" * 256})

    def test_list_tags_pagination(self):
        md = self.create_key()
        want = {"k%d" % i: "v%d" % i for i in range(5)}
        self.kms.tag_resource(KeyId=md["KeyId"],
                              Tags=[{"TagKey": k, "TagValue": v} for k, v in want.items()])
        got, marker, pages = {}, None, 0
        while True:
            kw = {"KeyId": md["KeyId"], "Limit": 2}
            if marker:
                kw["Marker"] = marker
            r = self.kms.list_resource_tags(**kw)
            pages += 1
            self.assertLessEqual(len(r["Tags"]), 2)
            got.update({t["TagKey"]: t["TagValue"] for t in r["Tags"]})
            if not r["Truncated"]:
                self.assertNotIn("NextMarker", r)
                break
            marker = r["NextMarker"]
            self.assertLess(pages, 10)
        self.assertEqual(pages, 3)
        self.assertEqual(got, want)

    def test_create_key_tag_errors(self):
        self.assertKmsError(self.kms.create_key, "TagException",
                            "Tags beginning with aws: are reserved",
                            Tags=[{"TagKey": "aws:x", "TagValue": "v"}])
        self.assertKmsError(self.kms.create_key, "TagException", "Too many tags",
                            Tags=[{"TagKey": "k%02d" % i, "TagValue": "v"} for i in range(51)])
        self.assertKmsError(self.kms.create_key, "TagException", "Duplicate tag keys",
                            Tags=[{"TagKey": "a", "TagValue": "1"},
                                  {"TagKey": "a", "TagValue": "2"}])
        # A failed CreateKey creates nothing.
        self.assertEqual(self.kms.list_keys()["Keys"], [])


class PolicyTest(KmsdTestCase):

    def test_default_policy(self):
        md = self.create_key()
        r = self.kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")
        self.assertEqual(r["Policy"], DEFAULT_POLICY)
        # PolicyName is optional in the current model.
        r = self.kms.get_key_policy(KeyId=md["Arn"])
        self.assertEqual(r["Policy"], DEFAULT_POLICY)

    def test_list_key_policies(self):
        md = self.create_key()
        r = self.kms.list_key_policies(KeyId=md["KeyId"])
        self.assertEqual(r["PolicyNames"], ["default"])
        self.assertIs(r["Truncated"], False)
        self.assertNotIn("NextMarker", r)

    def test_put_then_get(self):
        md = self.create_key()
        policy = {
            "Version": "2012-10-17",
            "Id": "my-policy",
            "Statement": [
                {"Sid": "Root", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
                 "Action": "kms:*", "Resource": "*"},
                {"Sid": "Encrypt only", "Effect": "Allow",
                 "Principal": {"AWS": ["arn:aws:iam::111122223333:root"]},
                 "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
                 "Condition": {"StringEquals": {"kms:EncryptionContext:app": "x"}}},
            ],
        }
        pretty = jackson_pretty(policy)
        # Send it compact: AWS re-serialises with its pretty printer, keeping member order.
        self.kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default",
                                Policy=json.dumps(policy, separators=(",", ":")))
        got = self.kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"]
        self.assertEqual(json.loads(got), policy)
        self.assertEqual(list(json.loads(got)), list(policy))
        self.assertEqual(got, pretty)
        # Sending the pretty text gives the same text back.
        self.kms.put_key_policy(KeyId=md["Arn"], PolicyName="default", Policy=pretty)
        self.assertEqual(self.kms.get_key_policy(KeyId=md["KeyId"])["Policy"], pretty)
        self.assertEqual(self.kms.list_key_policies(KeyId=md["KeyId"])["PolicyNames"], ["default"])

    def test_create_key_with_policy(self):
        policy = json.loads(DEFAULT_POLICY)
        policy["Id"] = "custom-1"
        md = self.create_key(Policy=json.dumps(policy))
        got = self.kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"]
        self.assertEqual(got, DEFAULT_POLICY.replace("key-default-1", "custom-1"))

    def test_malformed_policy(self):
        md = self.create_key()
        for bad in ("not json", "{", "[]", '{"Version":"2012-10-17"'):
            with self.subTest(policy=bad):
                self.assertKmsError(self.kms.put_key_policy, "MalformedPolicyDocumentException",
                                    KeyId=md["KeyId"], PolicyName="default", Policy=bad)
        self.assertEqual(self.kms.get_key_policy(KeyId=md["KeyId"])["Policy"], DEFAULT_POLICY)

    def test_lockout_safety_check(self):
        md = self.create_key()
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:user/nobody"},
             "Action": "kms:*", "Resource": "*"}]}
        self.assertKmsError(self.kms.put_key_policy, "MalformedPolicyDocumentException",
                            "The new key policy will not allow you to update the key policy in "
                            "the future.",
                            KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps(policy))
        self.assertEqual(self.kms.get_key_policy(KeyId=md["KeyId"])["Policy"], DEFAULT_POLICY)

    def test_explicit_deny_is_enforced(self):
        md = self.create_key()
        policy = json.loads(DEFAULT_POLICY)
        policy["Statement"].append({
            "Sid": "No encrypt", "Effect": "Deny",
            "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
            "Action": "kms:Encrypt", "Resource": "*"})
        self.kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default",
                                Policy=json.dumps(policy))
        e = self.assertKmsError(self.kms.encrypt, "AccessDeniedException", KeyId=md["KeyId"],
                                Plaintext=b"x")
        m = e.response["Error"]["Message"]
        self.assertTrue(m.startswith("User: ") and "kms:Encrypt" in m and md["Arn"] in m, m)
        # Other actions are still allowed.
        dk = self.kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"],
                         dk["Plaintext"])

    def test_policy_characters_outside_latin1(self):
        md = self.create_key()
        policy = DEFAULT_POLICY.replace("Enable IAM User Permissions", "\u4e2d\u6587")
        self.assertKmsError(self.kms.put_key_policy, "ValidationException",
                            KeyId=md["KeyId"], PolicyName="default", Policy=policy)
        self.assertEqual(self.kms.get_key_policy(KeyId=md["KeyId"])["Policy"], DEFAULT_POLICY)

    def test_policy_latin1_characters_kept(self):
        md = self.create_key()
        policy = json.loads(DEFAULT_POLICY)
        policy["Statement"][0]["Sid"] = "caf\u00e9 / slash"
        self.kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default",
                                Policy=json.dumps(policy, ensure_ascii=False))
        got = self.kms.get_key_policy(KeyId=md["KeyId"])["Policy"]
        self.assertEqual(got, jackson_pretty(policy))

    def test_policy_over_32k(self):
        md = self.create_key()
        policy = json.loads(DEFAULT_POLICY)
        policy["Statement"][0]["Sid"] = "x" * 33000
        self.assertKmsError(self.kms.put_key_policy, "LimitExceededException",
                            KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps(policy))
        self.assertEqual(self.kms.get_key_policy(KeyId=md["KeyId"])["Policy"], DEFAULT_POLICY)


class DryRunTest(KmsdTestCase):

    def test_dry_run_success_is_an_error(self):
        md = self.create_key()
        kid = md["KeyId"]
        blob = self.kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        code = "DryRunOperationException"
        self.assertKmsError(self.kms.encrypt, code, DRY_RUN_MSG, KeyId=kid, Plaintext=b"x",
                            DryRun=True)
        self.assertKmsError(self.kms.decrypt, code, DRY_RUN_MSG, CiphertextBlob=blob, DryRun=True)
        self.assertKmsError(self.kms.generate_data_key, code, DRY_RUN_MSG, KeyId=kid,
                            KeySpec="AES_256", DryRun=True)
        self.assertKmsError(self.kms.generate_data_key_without_plaintext, code, DRY_RUN_MSG,
                            KeyId=kid, KeySpec="AES_256", DryRun=True)
        self.assertKmsError(self.kms.re_encrypt, code, DRY_RUN_MSG, CiphertextBlob=blob,
                            DestinationKeyId=kid, DryRun=True)
        # DryRun=False is an ordinary call.
        self.assertEqual(self.kms.encrypt(KeyId=kid, Plaintext=b"x", DryRun=False)["KeyId"],
                         md["Arn"])

    def test_dry_run_reports_real_failures(self):
        md = self.create_key()
        kid = md["KeyId"]
        blob = self.kms.encrypt(KeyId=kid, Plaintext=b"x", EncryptionContext={"a": "b"})[
            "CiphertextBlob"]
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=blob, DryRun=True)
        self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                            CiphertextBlob=blob[:-1], EncryptionContext={"a": "b"}, DryRun=True)
        other = self.create_key()["KeyId"]
        self.assertKmsError(self.kms.decrypt, "IncorrectKeyException",
                            "The key ID in the request does not identify a CMK that can perform "
                            "this operation.", CiphertextBlob=blob, EncryptionContext={"a": "b"},
                            KeyId=other, DryRun=True)
        self.kms.disable_key(KeyId=kid)
        self.assertKmsError(self.kms.encrypt, "DisabledException", "%s is disabled." % md["Arn"],
                            KeyId=kid, Plaintext=b"x", DryRun=True)
        missing = str(uuid.uuid4())
        self.assertKmsError(self.kms.generate_data_key, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(missing),
                            KeyId=missing, KeySpec="AES_256", DryRun=True)


    # DryRunModifiers ["IGNORE_CIPHERTEXT"] (botocore 1.43 models it for Decrypt and ReEncrypt):
    # only the key and the caller's permission are checked, not the ciphertext, so KeyId /
    # SourceKeyId becomes mandatory (kms-reference §9.1).
    IGNORE = ["IGNORE_CIPHERTEXT"]

    def test_decrypt_dry_run_ignore_ciphertext(self):
        md = self.create_key()
        kid = md["KeyId"]
        blob = self.kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
        self.kms.create_alias(AliasName="alias/dry", TargetKeyId=kid)
        code = "DryRunOperationException"
        for name, kw in (("garbage ciphertext", {"CiphertextBlob": b"not a ciphertext"}),
                         ("no ciphertext", {}),
                         ("real ciphertext", {"CiphertextBlob": blob}),
                         ("wrong context", {"CiphertextBlob": blob,
                                            "EncryptionContext": {"not": "it"}})):
            for ref in (kid, md["Arn"], "alias/dry"):
                with self.subTest(name, key=ref):
                    self.assertKmsError(self.kms.decrypt, code, DRY_RUN_MSG, KeyId=ref,
                                        DryRun=True, DryRunModifiers=self.IGNORE, **kw)
        # The ciphertext is not looked at, so naming another key than the blob's is no
        # IncorrectKeyException either: that key is the one checked.
        other = self.create_key()["KeyId"]
        self.assertKmsError(self.kms.decrypt, code, DRY_RUN_MSG, CiphertextBlob=blob, KeyId=other,
                            DryRun=True, DryRunModifiers=self.IGNORE)
        # Nothing was decrypted: the key's last use is still the Encrypt above, and `other` has
        # never been used.
        self.assertEqual(self.kms.get_key_last_usage(KeyId=kid)["KeyLastUsage"]["Operation"],
                         "Encrypt")
        self.assertNotIn("KeyLastUsage", self.kms.get_key_last_usage(KeyId=other))

    def test_decrypt_dry_run_ignore_ciphertext_reports_key_failures(self):
        md = self.create_key()
        kid = md["KeyId"]
        # KeyId is required (kmsd's text; AWS's is not recorded).
        self.assertKmsError(self.kms.decrypt, "ValidationException",
                            "KeyId is required when DryRunModifiers contains IGNORE_CIPHERTEXT.",
                            CiphertextBlob=b"junk", DryRun=True, DryRunModifiers=self.IGNORE)
        missing = str(uuid.uuid4())
        self.assertKmsError(self.kms.decrypt, "NotFoundException",
                            "Key '%s' does not exist" % key_arn(missing), KeyId=missing,
                            CiphertextBlob=b"junk", DryRun=True, DryRunModifiers=self.IGNORE)
        self.assertKmsError(self.kms.decrypt, "NotFoundException",
                            "Alias %s is not found." % alias_arn("alias/none"), KeyId="alias/none",
                            CiphertextBlob=b"junk", DryRun=True, DryRunModifiers=self.IGNORE)
        self.kms.disable_key(KeyId=kid)
        self.assertKmsError(self.kms.decrypt, "DisabledException", "%s is disabled." % md["Arn"],
                            KeyId=kid, CiphertextBlob=b"junk", DryRun=True,
                            DryRunModifiers=self.IGNORE)
        self.kms.enable_key(KeyId=kid)
        # What it is for: testing permission. An explicit deny of kms:Decrypt is reported.
        self.kms.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
                 "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt", "Resource": "*"}]}))
        self.assertKmsError(self.kms.decrypt, "AccessDeniedException",
                            "User: arn:aws:iam::%s:root is not authorized to perform: kms:Decrypt "
                            "on resource: %s with an explicit deny in a resource-based policy"
                            % (ACCOUNT, md["Arn"]),
                            KeyId=kid, CiphertextBlob=b"junk", DryRun=True,
                            DryRunModifiers=self.IGNORE)

    def test_ignore_ciphertext_without_dry_run_is_an_ordinary_decrypt(self):
        # The modifier applies only when DryRun is true.
        kid = self.create_key()["KeyId"]
        blob = self.kms.encrypt(KeyId=kid, Plaintext=b"real")["CiphertextBlob"]
        for dry in ({}, {"DryRun": False}):
            with self.subTest(**dry):
                self.assertEqual(self.kms.decrypt(CiphertextBlob=blob, KeyId=kid,
                                                  DryRunModifiers=self.IGNORE, **dry)["Plaintext"],
                                 b"real")
                self.assertKmsError(self.kms.decrypt, "InvalidCiphertextException", "",
                                    CiphertextBlob=blob[:-1], KeyId=kid,
                                    DryRunModifiers=self.IGNORE, **dry)

    def test_re_encrypt_dry_run_ignore_ciphertext(self):
        # The model documents the modifier for ReEncrypt too (kms-reference §9.1): the blob is not
        # looked at, both keys are checked.
        kid = self.create_key()["KeyId"]
        other = self.create_key()["KeyId"]
        self.assertKmsError(self.kms.re_encrypt, "DryRunOperationException", DRY_RUN_MSG,
                            CiphertextBlob=b"junk", SourceKeyId=kid, DestinationKeyId=other,
                            DryRun=True, DryRunModifiers=self.IGNORE)
        self.assertKmsError(self.kms.re_encrypt, "ValidationException",
                            "SourceKeyId is required when DryRunModifiers contains "
                            "IGNORE_CIPHERTEXT.",
                            CiphertextBlob=b"junk", DestinationKeyId=other,
                            DryRun=True, DryRunModifiers=self.IGNORE)
        self.kms.disable_key(KeyId=other)
        self.assertKmsError(self.kms.re_encrypt, "DisabledException",
                            "%s is disabled." % key_arn(other),
                            CiphertextBlob=b"junk", SourceKeyId=kid, DestinationKeyId=other,
                            DryRun=True, DryRunModifiers=self.IGNORE)
        self.kms.disable_key(KeyId=kid)
        self.assertKmsError(self.kms.re_encrypt, "DisabledException",
                            "%s is disabled." % key_arn(kid),
                            CiphertextBlob=b"junk", SourceKeyId=kid, DestinationKeyId=other,
                            DryRun=True, DryRunModifiers=self.IGNORE)


class ValidationTest(KmsdTestCase):

    NULL_KEY_ID = ("1 validation error detected: Value null at 'keyId' failed to satisfy "
                   "constraint: Member must not be null")

    def test_missing_key_id(self):
        self.assertKmsError(self.kms_nv.encrypt, "ValidationException", self.NULL_KEY_ID,
                            Plaintext=b"x")
        self.assertKmsError(self.kms_nv.describe_key, "ValidationException", self.NULL_KEY_ID)
        self.assertKmsError(self.kms_nv.generate_data_key, "ValidationException",
                            self.NULL_KEY_ID, KeySpec="AES_256")
        self.assertKmsError(self.kms_nv.enable_key, "ValidationException", self.NULL_KEY_ID)
        self.assertKmsError(self.kms_nv.schedule_key_deletion, "ValidationException",
                            self.NULL_KEY_ID)

    def test_missing_destination_key_id(self):
        md = self.create_key()
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        self.assertKmsError(self.kms_nv.re_encrypt, "ValidationException",
                            "1 validation error detected: Value null at 'destinationKeyId' failed "
                            "to satisfy constraint: Member must not be null", CiphertextBlob=blob)

    def test_missing_plaintext(self):
        md = self.create_key()
        self.assertKmsError(self.kms_nv.encrypt, "ValidationException",
                            "1 validation error detected: Value null at 'plaintext' failed to "
                            "satisfy constraint: Member must not be null", KeyId=md["KeyId"])

    def test_key_id_too_long(self):
        kid = "a" * 2049
        e = self.assertKmsError(self.kms_nv.describe_key, "ValidationException", KeyId=kid)
        self.assertEqual(e.response["Error"]["Message"],
                         "1 validation error detected: Value '%s' at 'keyId' failed to satisfy "
                         "constraint: Member must have length less than or equal to 2048" % kid)

    def test_plaintext_too_long(self):
        md = self.create_key()
        self.assertKmsError(self.kms_nv.encrypt, "ValidationException",
                            "1 validation error detected: Value at 'plaintext' failed to satisfy "
                            "constraint: Member must have length less than or equal to 4096",
                            KeyId=md["KeyId"], Plaintext=b"x" * 4097)
        self.assertKmsError(self.kms_nv.encrypt, "ValidationException",
                            "1 validation error detected: Value at 'plaintext' failed to satisfy "
                            "constraint: Member must have length greater than or equal to 1",
                            KeyId=md["KeyId"], Plaintext=b"")

    def test_validation_before_key_lookup(self):
        missing = str(uuid.uuid4())
        self.assertKmsError(self.kms_nv.encrypt, "ValidationException",
                            "1 validation error detected: Value at 'plaintext' failed to satisfy "
                            "constraint: Member must have length less than or equal to 4096",
                            KeyId=missing, Plaintext=b"x" * 4097)

    def test_two_validation_errors(self):
        e = self.assertKmsError(self.kms_nv.encrypt, "ValidationException")
        m = e.response["Error"]["Message"]
        a = "Value null at 'keyId' failed to satisfy constraint: Member must not be null"
        b = "Value null at 'plaintext' failed to satisfy constraint: Member must not be null"
        # In the input shape's member order (KeyId, then Plaintext), as kmsd always lists them.
        self.assertEqual(m, "2 validation errors detected: %s; %s" % (a, b))

    def test_empty_key_id(self):
        self.assertKmsError(self.kms_nv.describe_key, "ValidationException",
                            "1 validation error detected: Value '' at 'keyId' failed to satisfy "
                            "constraint: Member must have length greater than or equal to 1",
                            KeyId="")

    def test_list_limit_range(self):
        self.assertKmsError(self.kms_nv.list_keys, "ValidationException",
                            "1 validation error detected: Value '0' at 'limit' failed to satisfy "
                            "constraint: Member must have value greater than or equal to 1",
                            Limit=0)
        self.assertKmsError(self.kms_nv.list_keys, "ValidationException",
                            "1 validation error detected: Value '1001' at 'limit' failed to "
                            "satisfy constraint: Member must have value less than or equal to 1000",
                            Limit=1001)

    def test_pending_window_model_range(self):
        md = self.create_key()
        self.assertKmsError(self.kms_nv.schedule_key_deletion, "ValidationException",
                            "1 validation error detected: Value '0' at 'pendingWindowInDays' failed "
                            "to satisfy constraint: Member must have value greater than or equal "
                            "to 1", KeyId=md["KeyId"], PendingWindowInDays=0)
        self.assertKmsError(self.kms_nv.schedule_key_deletion, "ValidationException",
                            "1 validation error detected: Value '366' at 'pendingWindowInDays' "
                            "failed to satisfy constraint: Member must have value less than or "
                            "equal to 365", KeyId=md["KeyId"], PendingWindowInDays=366)
        self.assertEqual(self.kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"],
                         "Enabled")

    def test_too_many_grant_tokens(self):
        md = self.create_key()
        e = self.assertKmsError(self.kms_nv.encrypt, "ValidationException", KeyId=md["KeyId"],
                                Plaintext=b"x", GrantTokens=["t%d" % i for i in range(11)])
        m = e.response["Error"]["Message"]
        self.assertTrue(m.startswith("1 validation error detected: Value '"), m)
        self.assertTrue(m.endswith("' at 'grantTokens' failed to satisfy constraint: Member must "
                                   "have length less than or equal to 10"), m)

    def test_asymmetric_algorithm_on_symmetric_key(self):
        md = self.create_key()
        self.assertKmsError(self.kms.encrypt, "InvalidKeyUsageException", KeyId=md["KeyId"],
                            Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        blob = self.kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
        self.assertKmsError(self.kms.decrypt, "InvalidKeyUsageException", CiphertextBlob=blob,
                            KeyId=md["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")

    def test_bad_encryption_algorithm_enum(self):
        md = self.create_key()
        e = self.assertKmsError(self.kms.encrypt, "ValidationException", KeyId=md["KeyId"],
                                Plaintext=b"x", EncryptionAlgorithm="AES_GCM")
        m = e.response["Error"]["Message"]
        prefix = ("1 validation error detected: Value 'AES_GCM' at 'encryptionAlgorithm' failed "
                  "to satisfy constraint: Member must satisfy enum value set: [")
        self.assertTrue(m.startswith(prefix), m)
        self.assertEqual(set(m[len(prefix):-1].split(", ")),
                         model_enum("EncryptionAlgorithmSpec"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
