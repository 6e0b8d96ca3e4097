"""Authorization end to end: key policies, identity policies, grants and cross-account access.

Most classes run kmsd with `--auth strict --principals FILE` and talk to it through boto3 with
real SigV4 signatures, one client per principal:

    account A = 111122223333: root, user admin (kms:*), role app (Encrypt/Decrypt/
                              GenerateDataKey*/DescribeKey), user nobody (no policies),
                              user denied (kms:* but an explicit Deny of kms:Decrypt)
    account B = 444455556666: root, user bob (kms:*), user carol (no policies)

OpenModeTest runs the default (open) mode, CliProfilesTest drives the AWS CLI with profiles.
"""

import base64
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from harness import KmsdServer, KmsdTestCase

REGION = "us-east-1"
A = "111122223333"
B = "444455556666"

ROOT_A = "arn:aws:iam::%s:root" % A
ROOT_B = "arn:aws:iam::%s:root" % B
ADMIN = "arn:aws:iam::%s:user/admin" % A
NOBODY = "arn:aws:iam::%s:user/nobody" % A
DENIED = "arn:aws:iam::%s:user/denied" % A
ROLE_APP = "arn:aws:iam::%s:role/app" % A
APP_SESSION = "arn:aws:sts::%s:assumed-role/app/app-session" % A
BOB = "arn:aws:iam::%s:user/bob" % B
CAROL = "arn:aws:iam::%s:user/carol" % B

# access key id, secret, session token
CREDS = {
    "root_a": ("AKIAAROOT0000EXAMPLE", "a-root/secret"),
    "admin": ("AKIAADMIN0000EXAMPLE", "admin/secret+key"),
    "app": ("ASIAAPPROLE00EXAMPLE", "app-role-secret", "FwoGZXIvYXdzEAPPSESSIONTOKEN"),
    "nobody": ("AKIANOBODY000EXAMPLE", "nobody-secret"),
    "denied": ("AKIADENIED000EXAMPLE", "denied-secret"),
    "root_b": ("AKIABROOT0000EXAMPLE", "b-root/secret"),
    "bob": ("AKIABOB000000EXAMPLE", "bob-secret"),
    "carol": ("AKIACAROL0000EXAMPLE", "carol-secret"),
}

PRINCIPALS = """\
accounts:
  "111122223333":
    root: {access_key_id: AKIAAROOT0000EXAMPLE, secret_access_key: "a-root/secret"}
    users:
      - name: admin
        access_key_id: AKIAADMIN0000EXAMPLE
        secret_access_key: "admin/secret+key"
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
      - name: nobody
        access_key_id: AKIANOBODY000EXAMPLE
        secret_access_key: nobody-secret
      - name: denied
        access_key_id: AKIADENIED000EXAMPLE
        secret_access_key: denied-secret
        policies:
          - {
              "Version": "2012-10-17",
              "Statement": [
                {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}
              ]
            }
    roles:
      - name: app
        access_key_id: ASIAAPPROLE00EXAMPLE
        secret_access_key: app-role-secret
        session_token: "FwoGZXIvYXdzEAPPSESSIONTOKEN"
        session_name: app-session
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Resource: "*", Action: [
              "kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]}]}
  "444455556666":
    root: {access_key_id: AKIABROOT0000EXAMPLE, secret_access_key: "b-root/secret"}
    users:
      - name: bob
        access_key_id: AKIABOB000000EXAMPLE
        secret_access_key: bob-secret
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
      - name: carol
        access_key_id: AKIACAROL0000EXAMPLE
        secret_access_key: carol-secret
"""

# The AWS console's "key administrators" actions: manage the key, never use it.
KEY_ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                     "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                     "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                     "kms:CancelKeyDeletion"]


# ---- policy builders ------------------------------------------------------------------------

def statement(principal, actions, effect="Allow", condition=None, sid=None):
    st = {}
    if sid:
        st["Sid"] = sid
    st["Effect"] = effect
    st["Principal"] = "*" if principal == "*" else {"AWS": principal}
    st["Action"] = actions
    st["Resource"] = "*"
    if condition:
        st["Condition"] = condition
    return st


def allow(principal, actions, condition=None, sid=None):
    return statement(principal, actions, "Allow", condition, sid)


def deny(principal, actions, condition=None, sid=None):
    return statement(principal, actions, "Deny", condition, sid)


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_A_ALL = allow(ROOT_A, "kms:*", sid="Enable IAM User Permissions")
ROOT_A_ADMIN = allow(ROOT_A, KEY_ADMIN_ACTIONS, sid="Allow access for Key Administrators")


# ---- expected AccessDeniedException messages ------------------------------------------------

def _head(caller, action, resource):
    return "User: %s is not authorized to perform: kms:%s on resource: %s " % (
        caller, action, resource)


def ciphertext_denied(caller, action):
    # Decrypt/ReEncrypt without a KeyId: AWS does not name the key the ciphertext refers to.
    return ("User: %s is not authorized to perform: kms:%s on the resource associated with this "
            "ciphertext because the resource does not exist in this Region, no resource-based "
            "policies allow access, or a resource-based policy explicitly denies access"
            % (caller, action))


def no_resource(caller, action, resource):
    return _head(caller, action, resource) + \
        "because no resource-based policy allows the kms:%s action" % action


def no_identity(caller, action, resource):
    return _head(caller, action, resource) + \
        "because no identity-based policy allows the kms:%s action" % action


def deny_resource(caller, action, resource):
    return _head(caller, action, resource) + "with an explicit deny in a resource-based policy"


def deny_identity(caller, action, resource):
    return _head(caller, action, resource) + "with an explicit deny in an identity-based policy"


def alias_arn(name, account=A):
    return "arn:aws:kms:%s:%s:%s" % (REGION, account, name)


# ---- base class -----------------------------------------------------------------------------

class StrictPolicyTestCase(unittest.TestCase):
    """One strict-mode kmsd per class (reset before every test), a boto3 client per principal."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="kmsd-policies-")
        cls.principals = os.path.join(cls.tmp, "principals.yaml")
        with open(cls.principals, "w") as f:
            f.write(PRINCIPALS)
        cls.server = KmsdServer(extra_args=["--auth", "strict", "--principals", cls.principals])
        try:
            cls.server.start()
        except Exception:
            cls.server.cleanup()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise
        for name in CREDS:
            setattr(cls, name, cls.make_client(name))
        cls.admin_nv = cls.make_client("admin", validate=False)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    @classmethod
    def make_client(cls, name, validate=True):
        cred = CREDS[name]
        return boto3.session.Session().client(
            "kms", endpoint_url=cls.server.endpoint, region_name=REGION,
            aws_access_key_id=cred[0], aws_secret_access_key=cred[1],
            aws_session_token=cred[2] if len(cred) > 2 else None,
            config=Config(retries={"mode": "standard", "total_max_attempts": 1},
                          parameter_validation=validate, connect_timeout=10, read_timeout=30))

    def setUp(self):
        super().setUp()
        if self.server.proc.poll() is not None:
            self.fail("kmsd died (rc=%s); stderr:\n%s"
                      % (self.server.proc.returncode, self.server.stderr()[-3000:]))
        self.server.reset()

    # ---- helpers -----------------------------------------------------------------------------

    def create_key(self, policy_text=None, client=None, **kw):
        if policy_text is not None:
            kw["Policy"] = policy_text
        return (client or self.admin).create_key(**kw)["KeyMetadata"]

    def assertError(self, fn, code, message=None, **kw):
        with self.assertRaises(ClientError) as cm:
            fn(**kw)
        err = cm.exception.response.get("Error", {})
        self.assertEqual(err.get("Code"), code, "full error: %r" % (err,))
        if message is not None:
            self.assertEqual(err.get("Message"), message, "full error: %r" % (err,))
        return err

    def assertDenied(self, fn, message, **kw):
        return self.assertError(fn, "AccessDeniedException", message, **kw)


# ---- scenario 1: key policies, identity policies, their combination -------------------------

class KeyPolicyTest(StrictPolicyTestCase):
    TENANT_POLICY = policy(
        ROOT_A_ADMIN,
        allow(ROLE_APP, ["kms:Encrypt", "kms:Decrypt"], sid="App with tenant t1",
              condition={"StringEquals": {"kms:EncryptionContext:tenant": "t1"}}))

    def test_role_uses_key_with_the_required_encryption_context(self):
        key = self.create_key(self.TENANT_POLICY)
        arn = key["Arn"]
        out = self.app.encrypt(KeyId=arn, Plaintext=b"tenant data",
                               EncryptionContext={"tenant": "t1"})
        self.assertEqual(out["KeyId"], arn)
        dec = self.app.decrypt(CiphertextBlob=out["CiphertextBlob"],
                               EncryptionContext={"tenant": "t1"})
        self.assertEqual(dec["Plaintext"], b"tenant data")
        self.assertEqual(dec["KeyId"], arn)
        dec = self.app.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=key["KeyId"],
                               EncryptionContext={"tenant": "t1"})
        self.assertEqual(dec["Plaintext"], b"tenant data")

    def test_role_without_or_with_another_context_is_denied_by_the_key_policy(self):
        arn = self.create_key(self.TENANT_POLICY)["Arn"]
        self.assertDenied(self.app.encrypt, no_resource(APP_SESSION, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.app.encrypt, no_resource(APP_SESSION, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x", EncryptionContext={"tenant": "t2"})
        blob = self.app.encrypt(KeyId=arn, Plaintext=b"x",
                                EncryptionContext={"tenant": "t1"})["CiphertextBlob"]
        self.assertDenied(self.app.decrypt, ciphertext_denied(APP_SESSION, "Decrypt"),
                          CiphertextBlob=blob, EncryptionContext={"tenant": "t2"})
        self.assertDenied(self.app.decrypt, ciphertext_denied(APP_SESSION, "Decrypt"),
                          CiphertextBlob=blob)

    def test_key_administrators_manage_the_key_but_cannot_use_it(self):
        key = self.create_key(self.TENANT_POLICY)
        arn = key["Arn"]
        self.assertEqual(self.admin.describe_key(KeyId=arn)["KeyMetadata"]["Arn"], arn)
        got = json.loads(self.admin.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
        self.assertEqual(got, json.loads(self.TENANT_POLICY))
        self.admin.tag_resource(KeyId=arn, Tags=[{"TagKey": "team", "TagValue": "a"}])
        self.admin.enable_key_rotation(KeyId=arn)
        self.root_a.disable_key(KeyId=arn)
        self.root_a.enable_key(KeyId=arn)
        self.assertDenied(self.admin.encrypt, no_resource(ADMIN, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x", EncryptionContext={"tenant": "t1"})
        self.assertDenied(self.root_a.encrypt, no_resource(ROOT_A, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x", EncryptionContext={"tenant": "t1"})
        # kms:Describe* for the account delegates to app's identity policy (DescribeKey: yes,
        # DisableKey: no).
        self.assertEqual(self.app.describe_key(KeyId=arn)["KeyMetadata"]["Arn"], arn)
        self.assertDenied(self.app.disable_key, no_identity(APP_SESSION, "DisableKey", arn),
                          KeyId=arn)

    def test_create_key_with_a_policy_that_locks_out_the_caller(self):
        only_app = policy(allow(ROLE_APP, ["kms:Encrypt", "kms:Decrypt"]))
        self.assertError(self.admin.create_key, "MalformedPolicyDocumentException",
                         "The new key policy will not allow you to update the key policy in the "
                         "future.", Policy=only_app)
        self.assertEqual(self.admin.list_keys()["Keys"], [])
        key = self.create_key(only_app, BypassPolicyLockoutSafetyCheck=True)
        self.assertDenied(self.admin.describe_key, no_resource(ADMIN, "DescribeKey", key["Arn"]),
                          KeyId=key["Arn"])
        blob = self.app.encrypt(KeyId=key["Arn"], Plaintext=b"ok")["CiphertextBlob"]
        self.assertEqual(self.app.decrypt(CiphertextBlob=blob)["Plaintext"], b"ok")

    def test_account_in_key_policy_delegates_to_identity_policies(self):
        arn = self.create_key()["Arn"]  # default policy: the account root, kms:*
        self.assertDenied(self.nobody.encrypt, no_identity(NOBODY, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.nobody.describe_key, no_identity(NOBODY, "DescribeKey", arn),
                          KeyId=arn)
        # app's identity policy allows Encrypt and DescribeKey, not DisableKey.
        blob = self.app.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(self.app.describe_key(KeyId=arn)["KeyMetadata"]["Arn"], arn)
        self.assertDenied(self.app.disable_key, no_identity(APP_SESSION, "DisableKey", arn),
                          KeyId=arn)
        # The account root is never limited by identity policies.
        self.assertEqual(self.root_a.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        self.root_a.disable_key(KeyId=arn)
        self.assertFalse(self.admin.describe_key(KeyId=arn)["KeyMetadata"]["Enabled"])

    def test_bare_account_id_principal_means_the_account(self):
        arn = self.create_key(policy(allow(A, "kms:*")))["Arn"]
        blob = self.admin.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(self.root_a.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        self.assertDenied(self.nobody.decrypt, ciphertext_denied(NOBODY, "Decrypt"),
                          CiphertextBlob=blob)

    def test_key_policy_naming_a_user_needs_no_identity_policy(self):
        arn = self.create_key(policy(ROOT_A_ALL, allow(NOBODY, "kms:Encrypt")))["Arn"]
        blob = self.nobody.encrypt(KeyId=arn, Plaintext=b"direct")["CiphertextBlob"]
        self.assertDenied(self.nobody.decrypt, ciphertext_denied(NOBODY, "Decrypt"),
                          CiphertextBlob=blob)
        self.assertEqual(self.admin.decrypt(CiphertextBlob=blob)["Plaintext"], b"direct")

    def test_iam_only_operations_check_identity_policies_only(self):
        self.assertDenied(self.nobody.create_key, no_identity(NOBODY, "CreateKey", "*"))
        self.assertDenied(self.nobody.list_keys, no_identity(NOBODY, "ListKeys", "*"))
        self.assertDenied(self.nobody.list_aliases, no_identity(NOBODY, "ListAliases", "*"))
        self.assertDenied(self.nobody.generate_random, no_identity(NOBODY, "GenerateRandom", "*"),
                          NumberOfBytes=16)
        self.assertDenied(self.nobody.list_retirable_grants,
                          no_identity(NOBODY, "ListRetirableGrants", "*"),
                          RetiringPrincipal=NOBODY)
        self.assertDenied(self.app.create_key, no_identity(APP_SESSION, "CreateKey", "*"))
        self.assertEqual(len(self.root_a.generate_random(NumberOfBytes=16)["Plaintext"]), 16)
        root_key = self.create_key(client=self.root_a)
        denied_key = self.create_key(client=self.denied)
        listed = {k["KeyArn"] for k in self.admin.list_keys()["Keys"]}
        self.assertEqual(listed, {root_key["Arn"], denied_key["Arn"]})

    def test_reencrypt_checks_reencrypt_from_and_reencrypt_to(self):
        src = self.create_key(policy(ROOT_A_ALL,
                                     allow(NOBODY, ["kms:Encrypt", "kms:ReEncryptFrom"])))["Arn"]
        dst = self.create_key()["Arn"]
        blob = self.nobody.encrypt(KeyId=src, Plaintext=b"move me")["CiphertextBlob"]
        self.assertDenied(self.nobody.re_encrypt, no_identity(NOBODY, "ReEncryptTo", dst),
                          CiphertextBlob=blob, DestinationKeyId=dst)
        self.admin.put_key_policy(KeyId=dst, PolicyName="default",
                                  Policy=policy(ROOT_A_ALL, allow(NOBODY, "kms:ReEncryptTo")))
        out = self.nobody.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dst)
        self.assertEqual(out["SourceKeyId"], src)
        self.assertEqual(out["KeyId"], dst)
        self.assertEqual(self.admin.decrypt(CiphertextBlob=out["CiphertextBlob"])["Plaintext"],
                         b"move me")
        self.admin.put_key_policy(KeyId=src, PolicyName="default",
                                  Policy=policy(ROOT_A_ALL, allow(NOBODY, "kms:Encrypt")))
        self.assertDenied(self.nobody.re_encrypt, ciphertext_denied(NOBODY, "ReEncryptFrom"),
                          CiphertextBlob=blob, DestinationKeyId=dst)

    def test_decrypt_without_key_id_authorizes_the_key_the_ciphertext_names(self):
        first = self.create_key()["Arn"]
        second = self.create_key(policy(ROOT_A_ALL, allow(NOBODY, "kms:Decrypt")))["Arn"]
        blob = self.admin.encrypt(KeyId=first, Plaintext=b"x")["CiphertextBlob"]
        self.assertDenied(self.nobody.decrypt, ciphertext_denied(NOBODY, "Decrypt"),
                          CiphertextBlob=blob)
        blob2 = self.admin.encrypt(KeyId=second, Plaintext=b"y")["CiphertextBlob"]
        out = self.nobody.decrypt(CiphertextBlob=blob2)
        self.assertEqual((out["KeyId"], out["Plaintext"]), (second, b"y"))

    def test_alias_operations_need_identity_permission_on_the_alias(self):
        key = self.create_key(policy(ROOT_A_ALL, allow(ROLE_APP, "kms:CreateAlias"),
                                     allow(NOBODY, ["kms:CreateAlias", "kms:DeleteAlias"])))
        arn = key["Arn"]
        self.assertDenied(self.app.create_alias,
                          no_identity(APP_SESSION, "CreateAlias", alias_arn("alias/app-alias")),
                          AliasName="alias/app-alias", TargetKeyId=arn)
        self.assertDenied(self.nobody.create_alias,
                          no_identity(NOBODY, "CreateAlias", alias_arn("alias/nobody-alias")),
                          AliasName="alias/nobody-alias", TargetKeyId=arn)
        self.root_a.create_alias(AliasName="alias/root-alias", TargetKeyId=arn)
        self.admin.create_alias(AliasName="alias/admin-alias", TargetKeyId=arn)
        self.assertDenied(self.nobody.delete_alias,
                          no_identity(NOBODY, "DeleteAlias", alias_arn("alias/root-alias")),
                          AliasName="alias/root-alias")
        names = {a["AliasName"] for a in self.admin.list_aliases(KeyId=arn)["Aliases"]}
        self.assertEqual(names, {"alias/root-alias", "alias/admin-alias"})
        out = self.app.encrypt(KeyId="alias/root-alias", Plaintext=b"x")
        self.assertEqual(out["KeyId"], arn)


# ---- scenario 2: cross-account access -------------------------------------------------------

class CrossAccountTest(StrictPolicyTestCase):
    SHARED_POLICY = policy(
        ROOT_A_ALL,
        allow(ROOT_B, ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
              sid="Allow use of the key by account B"))

    def setUp(self):
        super().setUp()
        self.shared = self.create_key(self.SHARED_POLICY)
        self.admin.create_alias(AliasName="alias/x", TargetKeyId=self.shared["KeyId"])
        self.private = self.create_key()

    def test_bob_encrypts_decrypts_and_describes_with_the_key_arn(self):
        arn = self.shared["Arn"]
        out = self.bob.encrypt(KeyId=arn, Plaintext=b"from B", EncryptionContext={"k": "v"})
        self.assertEqual(out["KeyId"], arn)
        dec = self.bob.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"k": "v"})
        self.assertEqual((dec["KeyId"], dec["Plaintext"]), (arn, b"from B"))
        dec = self.bob.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=arn,
                               EncryptionContext={"k": "v"})
        self.assertEqual(dec["Plaintext"], b"from B")
        md = self.bob.describe_key(KeyId=arn)["KeyMetadata"]
        self.assertEqual((md["Arn"], md["AWSAccountId"], md["KeyId"]),
                         (arn, A, self.shared["KeyId"]))
        # The owner decrypts what B encrypted.
        dec = self.admin.decrypt(CiphertextBlob=out["CiphertextBlob"],
                                 EncryptionContext={"k": "v"})
        self.assertEqual(dec["Plaintext"], b"from B")

    def test_account_b_root_needs_no_identity_policy(self):
        arn = self.shared["Arn"]
        blob = self.root_b.encrypt(KeyId=arn, Plaintext=b"r")["CiphertextBlob"]
        self.assertEqual(self.root_b.decrypt(CiphertextBlob=blob)["Plaintext"], b"r")

    def test_carol_without_identity_policy_is_denied(self):
        arn = self.shared["Arn"]
        self.assertDenied(self.carol.encrypt, no_identity(CAROL, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.carol.describe_key, no_identity(CAROL, "DescribeKey", arn),
                          KeyId=arn)
        blob = self.bob.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        self.assertDenied(self.carol.decrypt, ciphertext_denied(CAROL, "Decrypt"),
                          CiphertextBlob=blob)

    def test_actions_the_key_policy_does_not_give_account_b(self):
        arn = self.shared["Arn"]
        self.assertDenied(self.bob.generate_data_key, no_resource(BOB, "GenerateDataKey", arn),
                          KeyId=arn, KeySpec="AES_256")
        self.assertDenied(self.bob.list_grants, no_resource(BOB, "ListGrants", arn), KeyId=arn)

    def test_key_whose_policy_does_not_mention_account_b(self):
        arn = self.private["Arn"]
        self.assertDenied(self.bob.encrypt, no_resource(BOB, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.root_b.describe_key, no_resource(ROOT_B, "DescribeKey", arn),
                          KeyId=arn)
        blob = self.admin.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        self.assertDenied(self.bob.decrypt, ciphertext_denied(BOB, "Decrypt"), CiphertextBlob=blob)

    def test_alias_arn_of_another_account_names_its_key(self):
        # AWS: "To specify a KMS key in a different AWS account, you must use the key ARN or
        # alias ARN"; the key policy then decides.
        ref = alias_arn("alias/x")
        self.assertEqual(self.bob.encrypt(KeyId=ref, Plaintext=b"x")["KeyId"], self.shared["Arn"])
        self.assertEqual(self.bob.describe_key(KeyId=ref)["KeyMetadata"]["Arn"],
                         self.shared["Arn"])
        missing = alias_arn("alias/missing")
        self.assertError(self.bob.encrypt, "NotFoundException",
                         "Alias %s is not found." % missing, KeyId=missing, Plaintext=b"x")
        self.admin.create_alias(AliasName="alias/private", TargetKeyId=self.private["KeyId"])
        self.assertError(self.bob.encrypt, "AccessDeniedException",
                         no_resource(BOB, "Encrypt", self.private["Arn"]),
                         KeyId=alias_arn("alias/private"), Plaintext=b"x")
        # The owner resolves the same alias ARN.
        self.assertEqual(self.admin.encrypt(KeyId=ref, Plaintext=b"x")["KeyId"],
                         self.shared["Arn"])

    def test_alias_name_resolves_in_the_callers_account(self):
        self.assertError(self.bob.encrypt, "NotFoundException",
                         "Alias arn:aws:kms:us-east-1:444455556666:alias/x is not found.",
                         KeyId="alias/x", Plaintext=b"x")
        own = self.create_key(client=self.bob)
        self.assertEqual(own["AWSAccountId"], B)
        self.bob.create_alias(AliasName="alias/x", TargetKeyId=own["KeyId"])
        self.assertEqual(self.bob.encrypt(KeyId="alias/x", Plaintext=b"x")["KeyId"], own["Arn"])
        self.assertEqual(self.admin.encrypt(KeyId="alias/x", Plaintext=b"x")["KeyId"],
                         self.shared["Arn"])

    def test_operations_that_are_not_cross_account_do_not_find_the_key(self):
        arn = self.shared["Arn"]
        msg = "Key '%s' does not exist" % arn
        self.assertError(self.bob.disable_key, "NotFoundException", msg, KeyId=arn)
        self.assertError(self.bob.get_key_policy, "NotFoundException", msg,
                         KeyId=arn, PolicyName="default")
        self.assertError(self.bob.schedule_key_deletion, "NotFoundException", msg, KeyId=arn)
        self.assertError(self.root_b.disable_key, "NotFoundException", msg, KeyId=arn)
        md = self.admin.describe_key(KeyId=arn)["KeyMetadata"]
        self.assertEqual(md["KeyState"], "Enabled")

    def test_bare_key_id_of_another_account_is_looked_up_in_the_callers_account(self):
        kid = self.shared["KeyId"]
        self.assertError(self.bob.encrypt, "NotFoundException",
                         "Key 'arn:aws:kms:us-east-1:444455556666:key/%s' does not exist" % kid,
                         KeyId=kid, Plaintext=b"x")


# ---- scenario 3: grants ---------------------------------------------------------------------

class GrantTest(StrictPolicyTestCase):
    UNKNOWN_GRANT = "0" * 64

    def setUp(self):
        super().setUp()
        self.key = self.create_key()  # default policy: account A's root, kms:*
        self.arn = self.key["Arn"]

    def tenant_grant(self, grantee=NOBODY, **kw):
        return self.admin.create_grant(
            KeyId=self.arn, GranteePrincipal=grantee, Operations=["Decrypt", "GenerateDataKey"],
            Constraints={"EncryptionContextSubset": {"tenant": "t1"}}, **kw)

    def gdk(self, client, context=None, **kw):
        kw.setdefault("KeySpec", "AES_256")
        if context is not None:
            kw["EncryptionContext"] = context
        return client.generate_data_key(KeyId=self.arn, **kw)

    def test_grant_lets_the_grantee_use_the_key_within_its_constraint(self):
        gdk_denied = no_identity(NOBODY, "GenerateDataKey", self.arn)
        self.assertDenied(self.gdk, gdk_denied, client=self.nobody, context={"tenant": "t1"})
        grant = self.tenant_grant()
        ctx = {"tenant": "t1", "x": "y"}
        dk = self.gdk(self.nobody, ctx, GrantTokens=[grant["GrantToken"]])
        self.assertEqual(len(dk["Plaintext"]), 32)
        self.assertEqual(dk["KeyId"], self.arn)
        dk2 = self.gdk(self.nobody, ctx)  # the grant is in effect without its token too
        self.assertEqual(len(dk2["Plaintext"]), 32)
        self.assertDenied(self.gdk, gdk_denied, client=self.nobody, context={"tenant": "t2"})
        self.assertDenied(self.gdk, gdk_denied, client=self.nobody)
        self.assertDenied(self.nobody.encrypt, no_identity(NOBODY, "Encrypt", self.arn),
                          KeyId=self.arn, Plaintext=b"x", EncryptionContext={"tenant": "t1"})
        dec = self.nobody.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)
        self.assertEqual(dec["Plaintext"], dk["Plaintext"])
        self.assertEqual(dec["KeyId"], self.arn)

    def test_list_grants_entry(self):
        before = datetime.datetime.now(datetime.timezone.utc)
        grant = self.tenant_grant(Name="reporting", RetiringPrincipal=ROLE_APP)
        plain = self.admin.create_grant(KeyId=self.key["KeyId"], GranteePrincipal=ADMIN,
                                        Operations=["DescribeKey"])
        out = self.admin.list_grants(KeyId=self.arn)
        self.assertFalse(out["Truncated"])
        self.assertNotIn("NextMarker", out)
        by_id = {g["GrantId"]: g for g in out["Grants"]}
        self.assertEqual(set(by_id), {grant["GrantId"], plain["GrantId"]})
        entry = by_id[grant["GrantId"]]
        self.assertEqual(set(entry), {"KeyId", "GrantId", "Name", "CreationDate",
                                      "GranteePrincipal", "RetiringPrincipal", "IssuingAccount",
                                      "Operations", "Constraints"})
        self.assertEqual(entry["KeyId"], self.arn)
        self.assertEqual(entry["Name"], "reporting")
        self.assertEqual(entry["GranteePrincipal"], NOBODY)
        self.assertEqual(entry["RetiringPrincipal"], ROLE_APP)
        self.assertEqual(entry["IssuingAccount"], ROOT_A)
        self.assertEqual(sorted(entry["Operations"]), ["Decrypt", "GenerateDataKey"])
        self.assertEqual(entry["Constraints"], {"EncryptionContextSubset": {"tenant": "t1"}})
        self.assertIsInstance(entry["CreationDate"], datetime.datetime)
        self.assertLess(abs((entry["CreationDate"] - before).total_seconds()), 60)
        other = by_id[plain["GrantId"]]
        self.assertEqual(set(other), {"KeyId", "GrantId", "CreationDate", "GranteePrincipal",
                                      "IssuingAccount", "Operations"})
        self.assertEqual(other["KeyId"], self.arn)
        self.assertEqual(other["Operations"], ["DescribeKey"])

    def test_list_grants_filters_and_paging(self):
        ids = [self.tenant_grant()["GrantId"] for _ in range(3)]
        ids += [self.admin.create_grant(KeyId=self.arn, GranteePrincipal=ROLE_APP,
                                        Operations=["Encrypt"])["GrantId"] for _ in range(2)]
        self.assertEqual(len(set(ids)), 5)
        mine = self.admin.list_grants(KeyId=self.arn, GranteePrincipal=NOBODY)["Grants"]
        self.assertEqual({g["GrantId"] for g in mine}, set(ids[:3]))
        one = self.admin.list_grants(KeyId=self.arn, GrantId=ids[4])["Grants"]
        self.assertEqual([(g["GrantId"], g["GranteePrincipal"]) for g in one],
                         [(ids[4], ROLE_APP)])
        seen, pages, marker = [], [], None
        while True:
            kw = {"Marker": marker} if marker else {}
            page = self.admin.list_grants(KeyId=self.arn, Limit=2, **kw)
            pages.append(len(page["Grants"]))
            seen += [g["GrantId"] for g in page["Grants"]]
            if not page["Truncated"]:
                self.assertNotIn("NextMarker", page)
                break
            marker = page["NextMarker"]
            self.assertTrue(marker)
        self.assertEqual(pages, [2, 2, 1])
        self.assertEqual(sorted(seen), sorted(ids))

    def test_list_retirable_grants(self):
        g1 = self.tenant_grant(RetiringPrincipal=ROLE_APP)
        self.tenant_grant(RetiringPrincipal=NOBODY)
        self.tenant_grant()
        other_key = self.create_key()
        g4 = self.admin.create_grant(KeyId=other_key["Arn"], GranteePrincipal=NOBODY,
                                     Operations=["Encrypt"], RetiringPrincipal=ROLE_APP)
        out = self.admin.list_retirable_grants(RetiringPrincipal=ROLE_APP)
        self.assertFalse(out["Truncated"])
        got = {g["GrantId"]: g for g in out["Grants"]}
        self.assertEqual(set(got), {g1["GrantId"], g4["GrantId"]})
        self.assertEqual(got[g1["GrantId"]]["KeyId"], self.arn)
        self.assertEqual(got[g4["GrantId"]]["KeyId"], other_key["Arn"])
        self.assertTrue(all(g["RetiringPrincipal"] == ROLE_APP for g in got.values()))

    def test_retiring_principal_retires_with_the_grant_token(self):
        grant = self.tenant_grant(RetiringPrincipal=ROLE_APP)
        self.gdk(self.nobody, {"tenant": "t1"})
        self.app.retire_grant(GrantToken=grant["GrantToken"])
        self.assertEqual(self.admin.list_grants(KeyId=self.arn)["Grants"], [])
        self.assertDenied(self.gdk, no_identity(NOBODY, "GenerateDataKey", self.arn),
                          client=self.nobody, context={"tenant": "t1"})

    def test_retire_grant_by_key_arn_and_grant_id(self):
        grant = self.tenant_grant(RetiringPrincipal=NOBODY)
        self.gdk(self.nobody, {"tenant": "t1"})
        self.nobody.retire_grant(KeyId=self.arn, GrantId=grant["GrantId"])
        self.assertEqual(self.admin.list_grants(KeyId=self.arn)["Grants"], [])
        self.assertDenied(self.gdk, no_identity(NOBODY, "GenerateDataKey", self.arn),
                          client=self.nobody, context={"tenant": "t1"})

    def test_revoke_grant(self):
        grant = self.tenant_grant()
        keep = self.admin.create_grant(KeyId=self.arn, GranteePrincipal=NOBODY,
                                       Operations=["DescribeKey"])
        self.gdk(self.nobody, {"tenant": "t1"})
        self.admin.revoke_grant(KeyId=self.arn, GrantId=grant["GrantId"])
        self.assertEqual([g["GrantId"] for g in self.admin.list_grants(KeyId=self.arn)["Grants"]],
                         [keep["GrantId"]])
        self.assertDenied(self.gdk, no_identity(NOBODY, "GenerateDataKey", self.arn),
                          client=self.nobody, context={"tenant": "t1"})
        self.assertEqual(self.nobody.describe_key(KeyId=self.arn)["KeyMetadata"]["Arn"], self.arn)

    def test_create_grant_with_the_same_name_is_idempotent(self):
        first = self.tenant_grant(Name="idem")
        second = self.tenant_grant(Name="idem")
        self.assertEqual(first["GrantId"], second["GrantId"])
        self.assertNotEqual(first["GrantToken"], second["GrantToken"])
        grants = self.admin.list_grants(KeyId=self.arn)["Grants"]
        self.assertEqual([(g["GrantId"], g["Name"]) for g in grants], [(first["GrantId"], "idem")])
        for token in (first["GrantToken"], second["GrantToken"]):
            dk = self.gdk(self.nobody, {"tenant": "t1"}, GrantTokens=[token])
            self.assertEqual(len(dk["Plaintext"]), 32)

    def test_unknown_grant_id(self):
        # kmsd's text (README, compatibility choices; AWS's is not recorded).
        msg = "Grant ID %s not found" % self.UNKNOWN_GRANT
        self.assertError(self.admin.revoke_grant, "InvalidGrantIdException", msg,
                         KeyId=self.arn, GrantId=self.UNKNOWN_GRANT)
        self.assertError(self.admin.retire_grant, "InvalidGrantIdException", msg,
                         KeyId=self.arn, GrantId=self.UNKNOWN_GRANT)

    def test_garbage_grant_token(self):
        msg = "Invalid grant token."  # README, compatibility choices
        self.assertError(self.admin.generate_data_key, "InvalidGrantTokenException", msg,
                         KeyId=self.arn, KeySpec="AES_256", GrantTokens=["not-a-grant-token"])
        self.assertError(self.admin.encrypt, "InvalidGrantTokenException", msg,
                         KeyId=self.arn, Plaintext=b"x", GrantTokens=["AAAA" * 20])
        self.assertError(self.admin.retire_grant, "InvalidGrantTokenException", msg,
                         GrantToken="not-a-grant-token")

    def test_create_grant_rejects_aliases(self):
        self.admin.create_alias(AliasName="alias/granted", TargetKeyId=self.arn)
        for ref in ("alias/granted", alias_arn("alias/granted")):
            self.assertError(self.admin.create_grant, "InvalidArnException",
                             "Key Aliases are not supported for this operation.",
                             KeyId=ref, GranteePrincipal=NOBODY, Operations=["Decrypt"])
        self.assertEqual(self.admin.list_grants(KeyId=self.arn)["Grants"], [])

    def test_create_grant_validation(self):
        def create(**kw):
            kw.setdefault("Operations", ["Decrypt"])
            return self.admin_nv.create_grant(KeyId=self.arn, GranteePrincipal=NOBODY, **kw)

        self.assertError(create, "ValidationException",
                         "Grants must not contain only the CreateGrant operation.",
                         Operations=["CreateGrant"])
        self.assertError(create, "ValidationException",
                         "Grant operation Sign is not valid for key usage ENCRYPT_DECRYPT and key "
                         "spec SYMMETRIC_DEFAULT.", Operations=["Sign"])
        nine = {"k%d" % i: "v" for i in range(9)}
        self.assertError(create, "ValidationException",
                         Constraints={"EncryptionContextSubset": nine})
        self.assertError(create, "ValidationException",
                         Constraints={"EncryptionContextEquals": {"k": "v" * 385}})
        self.assertEqual(self.admin.list_grants(KeyId=self.arn)["Grants"], [])
        eight = {"k%d" % i: "v" for i in range(8)}
        create(Constraints={"EncryptionContextSubset": eight})
        create(Constraints={"EncryptionContextEquals": {"k": "v" * 384}})
        self.assertEqual(len(self.admin.list_grants(KeyId=self.arn)["Grants"]), 2)

    def test_unknown_grantee_is_rejected_in_strict_mode(self):
        self.assertError(self.admin.create_grant, "InvalidArnException",
                         "Invalid principal arn:aws:iam::111122223333:user/ghost.",
                         KeyId=self.arn, GranteePrincipal="arn:aws:iam::111122223333:user/ghost",
                         Operations=["Decrypt"])
        self.assertEqual(self.admin.list_grants(KeyId=self.arn)["Grants"], [])

    def test_grant_to_a_role_covers_its_sessions(self):
        arn = self.create_key(policy(ROOT_A_ADMIN))["Arn"]
        self.assertDenied(self.app.encrypt, no_resource(APP_SESSION, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.admin.create_grant(KeyId=arn, GranteePrincipal=ROLE_APP, Operations=["Encrypt"])
        self.assertEqual(self.app.encrypt(KeyId=arn, Plaintext=b"x")["KeyId"], arn)

    def test_cross_account_grantee(self):
        arn = self.arn  # the default policy does not mention account B
        self.assertDenied(self.gdk, no_resource(BOB, "GenerateDataKey", arn), client=self.bob)
        for grantee in (BOB, CAROL):
            self.admin.create_grant(KeyId=arn, GranteePrincipal=grantee,
                                    Operations=["Decrypt", "GenerateDataKey"])
        dk = self.gdk(self.bob)
        self.assertEqual(dk["KeyId"], arn)
        dec = self.bob.decrypt(CiphertextBlob=dk["CiphertextBlob"])
        self.assertEqual(dec["Plaintext"], dk["Plaintext"])
        self.assertDenied(self.bob.encrypt, no_resource(BOB, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.gdk, no_identity(CAROL, "GenerateDataKey", arn), client=self.carol)
        self.assertDenied(self.carol.decrypt, ciphertext_denied(CAROL, "Decrypt"),
                          CiphertextBlob=dk["CiphertextBlob"])
        self.assertDenied(self.gdk, no_resource(ROOT_B, "GenerateDataKey", arn),
                          client=self.root_b)


# ---- scenario 4: PutKeyPolicy ---------------------------------------------------------------

class PutKeyPolicyTest(StrictPolicyTestCase):
    LOCKOUT = "The new key policy will not allow you to update the key policy in the future."
    INVALID_PRINCIPALS = "Policy contains a statement with one or more invalid principals."

    def setUp(self):
        super().setUp()
        self.key = self.create_key()
        self.arn = self.key["Arn"]

    def put(self, text, client=None, **kw):
        return (client or self.admin).put_key_policy(KeyId=self.arn, PolicyName="default",
                                                     Policy=text, **kw)

    def current_policy(self):
        return json.loads(self.root_a.get_key_policy(KeyId=self.arn,
                                                     PolicyName="default")["Policy"])

    def test_put_and_get_key_policy(self):
        text = policy(ROOT_A_ALL, allow(ROLE_APP, ["kms:Encrypt"], sid="app"))
        self.put(text)
        self.assertEqual(self.current_policy(), json.loads(text))
        self.assertEqual(self.admin.list_key_policies(KeyId=self.arn)["PolicyNames"], ["default"])

    def test_policy_that_locks_out_the_caller_is_rejected(self):
        before = self.current_policy()
        self.assertError(self.put, "MalformedPolicyDocumentException", self.LOCKOUT,
                         text=policy(allow(NOBODY, "kms:*")))
        self.assertError(self.put, "MalformedPolicyDocumentException", self.LOCKOUT,
                         text=policy(allow(ADMIN, [a for a in KEY_ADMIN_ACTIONS
                                                   if a != "kms:Put*"])))
        self.assertEqual(self.current_policy(), before)

    def test_bypass_lockout_check_then_the_caller_is_locked_out(self):
        text = policy(allow(NOBODY, "kms:*"))
        self.put(text, BypassPolicyLockoutSafetyCheck=True)
        self.assertDenied(self.admin.get_key_policy, no_resource(ADMIN, "GetKeyPolicy", self.arn),
                          KeyId=self.arn, PolicyName="default")
        self.assertDenied(self.root_a.get_key_policy,
                          no_resource(ROOT_A, "GetKeyPolicy", self.arn),
                          KeyId=self.arn, PolicyName="default")
        got = self.nobody.get_key_policy(KeyId=self.arn, PolicyName="default")["Policy"]
        self.assertEqual(json.loads(got), json.loads(text))

    def test_caller_needs_put_key_policy_permission(self):
        self.assertDenied(self.put, no_identity(NOBODY, "PutKeyPolicy", self.arn),
                          text=policy(ROOT_A_ALL), client=self.nobody)

    def test_malformed_policies(self):
        bad = [
            '{"Version": "2012-10-17", "Statement": [',
            "not json at all",
            policy({"Effect": "Maybe", "Principal": {"AWS": ROOT_A}, "Action": "kms:*",
                    "Resource": "*"}),
        ]
        for text in bad:
            with self.subTest(policy=text):
                self.assertError(self.put, "MalformedPolicyDocumentException", text=text)
        for ghost in ("arn:aws:iam::111122223333:user/ghost", "999999999999",
                      "arn:aws:iam::999999999999:root"):
            with self.subTest(principal=ghost):
                self.assertError(self.put, "MalformedPolicyDocumentException",
                                 self.INVALID_PRINCIPALS,
                                 text=policy(ROOT_A_ALL, allow(ghost, "kms:Encrypt")))
        self.assertError(self.admin.create_key, "MalformedPolicyDocumentException",
                         self.INVALID_PRINCIPALS,
                         Policy=policy(ROOT_A_ALL,
                                       allow("arn:aws:iam::111122223333:user/ghost", "kms:*")))
        self.assertEqual(self.current_policy()["Statement"][0]["Principal"], {"AWS": ROOT_A})

    def test_policy_over_32768_bytes(self):
        filler = [allow(ROOT_A, "kms:Encrypt", sid="filler%04d" % i) for i in range(400)]
        text = policy(ROOT_A_ALL, *filler)
        self.assertGreater(len(text.encode()), 32768)
        self.assertError(self.put, "LimitExceededException", text=text)
        self.assertError(self.admin.create_key, "LimitExceededException", Policy=text)
        self.assertEqual(len(self.admin.list_keys()["Keys"]), 1)


# ---- scenario 6: condition keys -------------------------------------------------------------

class ConditionKeyTest(StrictPolicyTestCase):

    def test_request_alias(self):
        arn = self.create_key(policy(
            ROOT_A_ADMIN,
            allow(NOBODY, "kms:Encrypt",
                  condition={"StringEquals": {"kms:RequestAlias": "alias/allowed"}})))["Arn"]
        self.admin.create_alias(AliasName="alias/allowed", TargetKeyId=arn)
        self.admin.create_alias(AliasName="alias/other", TargetKeyId=arn)
        self.assertEqual(self.nobody.encrypt(KeyId="alias/allowed", Plaintext=b"x")["KeyId"], arn)
        for ref in (arn, arn.split("/")[-1], "alias/other"):
            with self.subTest(ref=ref):
                self.assertDenied(self.nobody.encrypt, no_resource(NOBODY, "Encrypt", arn),
                                  KeyId=ref, Plaintext=b"x")

    def test_encryption_context_keys_for_all_and_any_values(self):
        arn = self.create_key(policy(
            ROOT_A_ADMIN,
            allow(ROLE_APP, "kms:Encrypt", condition={
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["tenant", "purpose"]}}),
            allow(ROLE_APP, "kms:GenerateDataKey", condition={
                "ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "tenant"}})))["Arn"]
        for ctx in ({"tenant": "t1"}, {"tenant": "t1", "purpose": "p"}):
            with self.subTest(context=ctx):
                self.app.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext=ctx)
        self.assertDenied(self.app.encrypt, no_resource(APP_SESSION, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x",
                          EncryptionContext={"tenant": "t1", "other": "o"})
        self.app.generate_data_key(KeyId=arn, NumberOfBytes=16,
                                   EncryptionContext={"tenant": "t1", "other": "o"})
        self.assertDenied(self.app.generate_data_key,
                          no_resource(APP_SESSION, "GenerateDataKey", arn),
                          KeyId=arn, NumberOfBytes=16, EncryptionContext={"other": "o"})
        self.assertDenied(self.app.generate_data_key,
                          no_resource(APP_SESSION, "GenerateDataKey", arn),
                          KeyId=arn, NumberOfBytes=16)

    def test_condition_key_names_are_case_insensitive_values_are_not(self):
        arn = self.create_key(policy(
            ROOT_A_ADMIN,
            allow(ROLE_APP, "kms:Encrypt",
                  condition={"StringEquals": {"KMS:ENCRYPTIONCONTEXT:Tenant": "t1"}})))["Arn"]
        self.app.encrypt(KeyId=arn, Plaintext=b"x", EncryptionContext={"tenant": "t1"})
        self.assertDenied(self.app.encrypt, no_resource(APP_SESSION, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x", EncryptionContext={"tenant": "T1"})

    def test_resource_tag(self):
        key = self.create_key(
            policy(ROOT_A_ADMIN,
                   allow(NOBODY, "kms:Encrypt",
                         condition={"StringEquals": {"aws:ResourceTag/Env": "dev"}})),
            Tags=[{"TagKey": "Env", "TagValue": "dev"}])
        arn = key["Arn"]
        self.nobody.encrypt(KeyId=arn, Plaintext=b"x")
        self.admin.tag_resource(KeyId=arn, Tags=[{"TagKey": "Env", "TagValue": "prod"}])
        self.assertDenied(self.nobody.encrypt, no_resource(NOBODY, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.admin.untag_resource(KeyId=arn, TagKeys=["Env"])
        self.assertDenied(self.nobody.encrypt, no_resource(NOBODY, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")

    def test_request_tags_and_tag_keys(self):
        arn = self.create_key(policy(
            ROOT_A_ALL,
            deny("*", "kms:TagResource", condition={
                "ForAnyValue:StringEquals": {"aws:TagKeys": "owner"}}),
            deny("*", "kms:TagResource", condition={
                "StringEquals": {"aws:RequestTag/stage": "prod"}})))["Arn"]
        self.admin.tag_resource(KeyId=arn, Tags=[{"TagKey": "stage", "TagValue": "dev"}])
        self.assertDenied(self.admin.tag_resource, deny_resource(ADMIN, "TagResource", arn),
                          KeyId=arn, Tags=[{"TagKey": "owner", "TagValue": "me"}])
        self.assertDenied(self.admin.tag_resource, deny_resource(ADMIN, "TagResource", arn),
                          KeyId=arn, Tags=[{"TagKey": "stage", "TagValue": "prod"}])
        tags = self.admin.list_resource_tags(KeyId=arn)["Tags"]
        self.assertEqual(tags, [{"TagKey": "stage", "TagValue": "dev"}])

    def test_caller_account(self):
        arn = self.create_key(policy(
            ROOT_A_ADMIN,
            allow("*", "kms:Encrypt", condition={"StringEquals": {"kms:CallerAccount": B}})))["Arn"]
        self.assertEqual(self.bob.encrypt(KeyId=arn, Plaintext=b"x")["KeyId"], arn)
        self.root_b.encrypt(KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.carol.encrypt, no_identity(CAROL, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.nobody.encrypt, no_resource(NOBODY, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.assertDenied(self.admin.encrypt, no_resource(ADMIN, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")

    def test_source_ip(self):
        local = self.create_key(policy(ROOT_A_ADMIN, allow(NOBODY, "kms:Encrypt", condition={
            "StringEquals": {"aws:SourceIp": "127.0.0.1"}})))["Arn"]
        remote = self.create_key(policy(ROOT_A_ADMIN, allow(NOBODY, "kms:Encrypt", condition={
            "StringEquals": {"aws:SourceIp": "10.0.0.1"}})))["Arn"]
        self.assertEqual(self.nobody.encrypt(KeyId=local, Plaintext=b"x")["KeyId"], local)
        self.assertDenied(self.nobody.encrypt, no_resource(NOBODY, "Encrypt", remote),
                          KeyId=remote, Plaintext=b"x")

    def test_source_ip_cidr(self):
        loopback = self.create_key(policy(ROOT_A_ADMIN, allow(NOBODY, "kms:Encrypt", condition={
            "IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})))["Arn"]
        private = self.create_key(policy(ROOT_A_ADMIN, allow(NOBODY, "kms:Encrypt", condition={
            "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})))["Arn"]
        self.assertEqual(self.nobody.encrypt(KeyId=loopback, Plaintext=b"x")["KeyId"], loopback)
        self.assertDenied(self.nobody.encrypt, no_resource(NOBODY, "Encrypt", private),
                          KeyId=private, Plaintext=b"x")

    def test_principal_arn_and_principal_type(self):
        arn = self.create_key(policy(
            ROOT_A_ALL,
            deny("*", "kms:Encrypt", condition={"StringEquals": {"aws:PrincipalArn": ADMIN}}),
            deny("*", "kms:Decrypt", condition={"StringEquals": {"aws:PrincipalType":
                                                                 "AssumedRole"}})))["Arn"]
        self.assertDenied(self.admin.encrypt, deny_resource(ADMIN, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        blob = self.app.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        self.assertDenied(self.app.decrypt, ciphertext_denied(APP_SESSION, "Decrypt"),
                          CiphertextBlob=blob)
        self.assertEqual(self.admin.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")

    def test_identity_policy_explicit_deny(self):
        arn = self.create_key(policy(ROOT_A_ALL, allow(DENIED, "kms:Decrypt")))["Arn"]
        blob = self.denied.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        self.assertDenied(self.denied.decrypt, ciphertext_denied(DENIED, "Decrypt"),
                          CiphertextBlob=blob)
        self.assertDenied(self.denied.decrypt, deny_identity(DENIED, "Decrypt", arn),
                          CiphertextBlob=blob, KeyId=arn)
        dk = self.denied.generate_data_key(KeyId=arn, KeySpec="AES_128")
        self.assertEqual(len(dk["Plaintext"]), 16)

    def test_key_policy_deny_wins_over_identity_deny_in_the_message(self):
        arn = self.create_key(policy(ROOT_A_ALL, deny(DENIED, "kms:Decrypt")))["Arn"]
        blob = self.denied.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        # Without KeyId the message names no key and no reason (whichever deny applied)...
        self.assertDenied(self.denied.decrypt, ciphertext_denied(DENIED, "Decrypt"),
                          CiphertextBlob=blob)
        # ...so the reason is read where the key is named: the key policy's deny, not the
        # identity policy's (test_identity_policy_explicit_deny has the identity one alone).
        self.assertDenied(self.denied.decrypt, deny_resource(DENIED, "Decrypt", arn),
                          CiphertextBlob=blob, KeyId=arn)

    def test_numeric_pending_window(self):
        arn = self.create_key(policy(ROOT_A_ALL, deny("*", "kms:ScheduleKeyDeletion", condition={
            "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "14"}})))["Arn"]
        self.assertDenied(self.admin.schedule_key_deletion,
                          deny_resource(ADMIN, "ScheduleKeyDeletion", arn),
                          KeyId=arn, PendingWindowInDays=7)
        self.admin.schedule_key_deletion(KeyId=arn, PendingWindowInDays=20)
        self.admin.cancel_key_deletion(KeyId=arn)
        out = self.admin.schedule_key_deletion(KeyId=arn)  # default window: 30 days
        self.assertEqual(out["KeyState"], "PendingDeletion")

    def test_grant_condition_keys(self):
        arn = self.create_key(policy(ROOT_A_ALL, allow(NOBODY, "kms:CreateGrant", condition={
            "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt", "Encrypt"]},
            "StringEquals": {"kms:GranteePrincipal": ROLE_APP},
            "Bool": {"kms:GrantIsForAWSResource": "false"}})))["Arn"]
        self.nobody.create_grant(KeyId=arn, GranteePrincipal=ROLE_APP, Operations=["Decrypt"])
        denied = no_identity(NOBODY, "CreateGrant", arn)
        self.assertDenied(self.nobody.create_grant, denied, KeyId=arn,
                          GranteePrincipal=ROLE_APP, Operations=["Decrypt", "ReEncryptFrom"])
        self.assertDenied(self.nobody.create_grant, denied, KeyId=arn,
                          GranteePrincipal=BOB, Operations=["Decrypt"])
        self.assertEqual(len(self.admin.list_grants(KeyId=arn)["Grants"]), 1)

    def test_current_time(self):
        arn = self.create_key(policy(ROOT_A_ALL, deny("*", "kms:Encrypt", condition={
            "DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}})))["Arn"]
        self.assertDenied(self.admin.encrypt, deny_resource(ADMIN, "Encrypt", arn),
                          KeyId=arn, Plaintext=b"x")
        self.admin.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy(
            ROOT_A_ALL, deny("*", "kms:Encrypt", condition={
                "NumericLessThan": {"aws:EpochTime": "946684800"}})))
        self.admin.encrypt(KeyId=arn, Plaintext=b"x")


# ---- the principals file ---------------------------------------------------------------------

class BlockYamlIdentityPolicyTest(unittest.TestCase):
    """Identity policies may be written as plain (block-style) YAML, not only as JSON/flow."""

    PRINCIPALS = """\
accounts:
  "111122223333":
    users:
      - name: writer
        access_key_id: AKIAWRITER00EXAMPLE
        secret_access_key: writer-secret
        policies:
          - Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ["kms:CreateKey", "kms:Encrypt"]
                Resource: "*"
              - Effect: Deny
                Action: kms:Decrypt
                Resource: "*"
"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="kmsd-policies-yaml-")
        path = os.path.join(cls.tmp, "principals.yaml")
        with open(path, "w") as f:
            f.write(cls.PRINCIPALS)
        cls.server = KmsdServer(extra_args=["--auth", "strict", "--principals", path])

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_block_style_yaml_identity_policy(self):
        try:
            self.server.start()
            started = None
        except Exception as e:  # report the startup failure as this test's failure
            started = str(e)
        self.assertIsNone(started, "kmsd did not accept a block-style YAML identity policy")
        writer = boto3.session.Session().client(
            "kms", endpoint_url=self.server.endpoint, region_name=REGION,
            aws_access_key_id="AKIAWRITER00EXAMPLE", aws_secret_access_key="writer-secret",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
        arn = writer.create_key()["KeyMetadata"]["Arn"]
        blob = writer.encrypt(KeyId=arn, Plaintext=b"x")["CiphertextBlob"]
        with self.assertRaises(ClientError) as cm:
            writer.decrypt(CiphertextBlob=blob, KeyId=arn)
        self.assertEqual(cm.exception.response["Error"]["Message"],
                         deny_identity("arn:aws:iam::111122223333:user/writer", "Decrypt", arn))
        with self.assertRaises(ClientError) as cm:
            writer.list_keys()
        self.assertEqual(cm.exception.response["Error"]["Message"],
                         no_identity("arn:aws:iam::111122223333:user/writer", "ListKeys", "*"))


# ---- scenario 5: open mode ------------------------------------------------------------------

class OpenModeTest(KmsdTestCase):
    """No --auth flag: every request is account 111122223333's root, whatever its key."""

    def test_default_policy_lets_everything_work(self):
        key = self.create_key(Description="open")
        arn = key["Arn"]
        self.assertEqual(key["AWSAccountId"], A)
        doc = json.loads(self.kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"])
        self.assertEqual(doc["Statement"][0]["Principal"], {"AWS": ROOT_A})
        self.assertEqual(doc["Statement"][0]["Action"], "kms:*")
        self.kms.create_alias(AliasName="alias/open", TargetKeyId=arn)
        blob = self.kms.encrypt(KeyId="alias/open", Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")
        grant = self.kms.create_grant(KeyId=arn, GranteePrincipal=ADMIN, Operations=["Decrypt"])
        self.assertEqual([g["GrantId"] for g in self.kms.list_grants(KeyId=arn)["Grants"]],
                         [grant["GrantId"]])
        self.kms.put_key_policy(KeyId=arn, PolicyName="default", Policy=policy(ROOT_A_ALL))
        self.kms.revoke_grant(KeyId=arn, GrantId=grant["GrantId"])
        self.kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)

    def test_deny_statement_in_key_policy_denies(self):
        arn = self.create_key()["Arn"]
        blob = self.kms.encrypt(KeyId=arn, Plaintext=b"before")["CiphertextBlob"]
        self.kms.put_key_policy(KeyId=arn, PolicyName="default",
                                Policy=policy(ROOT_A_ALL, deny("*", "kms:Encrypt")))
        self.assertKmsError(self.kms.encrypt, "AccessDeniedException",
                            deny_resource(ROOT_A, "Encrypt", arn), KeyId=arn, Plaintext=b"x")
        # Any access key is the same root in open mode.
        other = self.server.client(access_key="AKIAANYOTHERKEYEXAMPLE", secret_key="whatever")
        self.assertKmsError(other.encrypt, "AccessDeniedException",
                            deny_resource(ROOT_A, "Encrypt", arn), KeyId=arn, Plaintext=b"x")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"before")

    def test_lockout_check_in_open_mode(self):
        arn = self.create_key()["Arn"]
        self.assertKmsError(self.kms.put_key_policy, "MalformedPolicyDocumentException",
                            "The new key policy will not allow you to update the key policy in "
                            "the future.", KeyId=arn, PolicyName="default",
                            Policy=policy(allow(ROOT_A, "kms:Encrypt")))
        self.kms.put_key_policy(KeyId=arn, PolicyName="default",
                                Policy=policy(allow(ROOT_A, "kms:Encrypt")),
                                BypassPolicyLockoutSafetyCheck=True)
        self.kms.encrypt(KeyId=arn, Plaintext=b"x")
        self.assertKmsError(self.kms.describe_key, "AccessDeniedException",
                            no_resource(ROOT_A, "DescribeKey", arn), KeyId=arn)


# ---- scenario 7: the AWS CLI with profiles --------------------------------------------------

@unittest.skipIf(shutil.which("aws") is None, "aws CLI not on PATH")
class CliProfilesTest(StrictPolicyTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        config = os.path.join(cls.tmp, "config")
        credentials = os.path.join(cls.tmp, "credentials")
        with open(config, "w") as f:
            f.write("[profile a-admin]\nregion = us-east-1\noutput = json\n"
                    "[profile b-bob]\nregion = us-east-1\noutput = json\n"
                    "[profile b-carol]\nregion = us-east-1\noutput = json\n")
        with open(credentials, "w") as f:
            for profile, name in (("a-admin", "admin"), ("b-bob", "bob"), ("b-carol", "carol")):
                f.write("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                        % (profile, CREDS[name][0], CREDS[name][1]))
        cls.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        cls.env.update({"AWS_CONFIG_FILE": config, "AWS_SHARED_CREDENTIALS_FILE": credentials,
                        "AWS_MAX_ATTEMPTS": "1", "AWS_PAGER": ""})

    def aws(self, profile, *args, check=True):
        cmd = ["aws", "--profile", profile, "--endpoint-url", self.server.endpoint,
               "kms"] + list(args)
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60)
        if check:
            self.assertEqual(p.returncode, 0, "%s\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd), p.stdout, p.stderr))
        return p

    def aws_json(self, profile, *args):
        return json.loads(self.aws(profile, *args).stdout)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path

    def test_cross_account_encrypt_and_decrypt_with_profiles(self):
        policy_path = self.write("policy.json", CrossAccountTest.SHARED_POLICY)
        md = self.aws_json("a-admin", "create-key", "--description", "shared with B",
                           "--policy", "file://" + policy_path)["KeyMetadata"]
        arn = md["Arn"]
        self.assertEqual(md["AWSAccountId"], A)
        plaintext = os.urandom(48)
        enc = self.aws_json("b-bob", "encrypt", "--key-id", arn,
                            "--plaintext", "fileb://" + self.write("plain.bin", plaintext),
                            "--encryption-context", "purpose=cli")
        self.assertEqual(enc["KeyId"], arn)
        self.assertEqual(enc["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        blob_path = self.write("blob.bin", base64.b64decode(enc["CiphertextBlob"]))
        dec = self.aws_json("b-bob", "decrypt", "--ciphertext-blob", "fileb://" + blob_path,
                            "--encryption-context", "purpose=cli")
        self.assertEqual(base64.b64decode(dec["Plaintext"]), plaintext)
        self.assertEqual(dec["KeyId"], arn)
        # The owner reads it too, through boto3.
        out = self.admin.decrypt(CiphertextBlob=base64.b64decode(enc["CiphertextBlob"]),
                                 EncryptionContext={"purpose": "cli"})
        self.assertEqual(out["Plaintext"], plaintext)

    def test_cli_profile_without_permission_is_denied(self):
        arn = self.create_key(CrossAccountTest.SHARED_POLICY)["Arn"]
        p = self.aws("b-carol", "describe-key", "--key-id", arn, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("AccessDeniedException", p.stderr)
        self.assertIn(no_identity(CAROL, "DescribeKey", arn), p.stderr)
        md = self.aws_json("b-bob", "describe-key", "--key-id", arn)["KeyMetadata"]
        self.assertEqual(md["Arn"], arn)
        p = self.aws("b-bob", "disable-key", "--key-id", arn, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("NotFoundException", p.stderr)
        self.assertIn("Key '%s' does not exist" % arn, p.stderr)


if __name__ == "__main__":
    unittest.main()
