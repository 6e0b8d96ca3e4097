"""Multi-Region keys through boto3 clients in several Regions of one kmsd: CreateKey
MultiRegion, ReplicateKey, UpdatePrimaryRegion, cross-Region Decrypt/Verify/VerifyMac, rotation
reaching the replicas, deletion of a primary waiting for its replicas, imported material in every
Region, persistence across a restart, and AWS's errors. Signatures are checked with `cryptography`
too, not only by kmsd in the other Region.
"""

import base64
import json
import os
import re

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from harness import ACCOUNT, KmsdTestCase

EAST, WEST, EU = "us-east-1", "us-west-2", "eu-west-1"
DAY = 86400


def arn(region, key_id):
    return "arn:aws:kms:%s:%s:key/%s" % (region, ACCOUNT, key_id)


class MultiRegionTest(KmsdTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.make_clients()

    @classmethod
    def make_clients(cls):
        cls.east = cls.server.client(region=EAST)
        cls.west = cls.server.client(region=WEST)
        cls.eu = cls.server.client(region=EU)

    def primary(self, **kw):
        md = self.east.create_key(MultiRegion=True, **kw)["KeyMetadata"]
        return md["KeyId"]

    def replicate(self, key_id, region=WEST, **kw):
        return self.east.replicate_key(KeyId=key_id, ReplicaRegion=region, **kw)

    def describe(self, client, key_id):
        return client.describe_key(KeyId=key_id)["KeyMetadata"]

    def advance(self, seconds):
        status, body = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": seconds})
        self.assertEqual(status, 200, body)

    def test_a_primary_key(self):
        md = self.east.create_key(MultiRegion=True, Description="dr")["KeyMetadata"]
        self.assertRegex(md["KeyId"], r"^mrk-[0-9a-f]{32}$")
        self.assertIs(md["MultiRegion"], True)
        self.assertEqual(md["MultiRegionConfiguration"], {
            "MultiRegionKeyType": "PRIMARY",
            "PrimaryKey": {"Arn": arn(EAST, md["KeyId"]), "Region": EAST},
            "ReplicaKeys": []})
        single = self.east.create_key()["KeyMetadata"]
        self.assertIs(single["MultiRegion"], False)
        self.assertNotIn("MultiRegionConfiguration", single)

    def test_replicate_and_use_across_regions(self):
        kid = self.primary(Description="primary")
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": "Root", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
             "Action": "kms:*", "Resource": "*"}]}
        out = self.replicate(kid, Description="replica", Policy=json.dumps(policy),
                             Tags=[{"TagKey": "site", "TagValue": "west"}])
        md = out["ReplicaKeyMetadata"]
        self.assertEqual((md["KeyId"], md["Arn"], md["KeyState"], md["Enabled"]),
                         (kid, arn(WEST, kid), "Creating", False))
        self.assertEqual(md["MultiRegionConfiguration"]["MultiRegionKeyType"], "REPLICA")
        self.assertEqual(md["MultiRegionConfiguration"]["PrimaryKey"],
                         {"Arn": arn(EAST, kid), "Region": EAST})
        self.assertEqual(md["MultiRegionConfiguration"]["ReplicaKeys"],
                         [{"Arn": arn(WEST, kid), "Region": WEST}])
        self.assertEqual(json.loads(out["ReplicaPolicy"])["Statement"][0]["Sid"], "Root")
        self.assertEqual(out["ReplicaTags"], [{"TagKey": "site", "TagValue": "west"}])

        west_md = self.describe(self.west, kid)
        primary_md = self.describe(self.east, kid)
        self.assertEqual((west_md["KeyState"], west_md["Description"]), ("Enabled", "replica"))
        self.assertEqual(primary_md["Description"], "primary")
        self.assertEqual(primary_md["MultiRegionConfiguration"]["ReplicaKeys"],
                         [{"Arn": arn(WEST, kid), "Region": WEST}])
        self.assertEqual(west_md["CurrentKeyMaterialId"], primary_md["CurrentKeyMaterialId"])

        blob = self.east.encrypt(KeyId=kid, Plaintext=b"from the east",
                                 EncryptionContext={"dr": "1"})["CiphertextBlob"]
        dec = self.west.decrypt(CiphertextBlob=blob, EncryptionContext={"dr": "1"})
        self.assertEqual((dec["Plaintext"], dec["KeyId"]), (b"from the east", arn(WEST, kid)))
        dk = self.west.generate_data_key(KeyId=kid, KeySpec="AES_256")
        self.assertEqual(self.east.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"],
                         dk["Plaintext"])
        re_enc = self.west.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"dr": "1"},
                                      DestinationKeyId=kid)
        self.assertEqual(re_enc["SourceKeyId"], arn(WEST, kid))
        self.assertEqual(self.east.decrypt(CiphertextBlob=re_enc["CiphertextBlob"])["Plaintext"],
                         b"from the east")
        # Three Regions: the new replica is listed everywhere.
        self.replicate(kid, EU)
        for client in (self.east, self.west, self.eu):
            regions = [r["Region"] for r in
                       self.describe(client, kid)["MultiRegionConfiguration"]["ReplicaKeys"]]
            self.assertEqual(sorted(regions), [EU, WEST])

    def test_asymmetric_and_hmac_replicas(self):
        sign = self.primary(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
        self.replicate(sign)
        public = self.east.get_public_key(KeyId=sign)["PublicKey"]
        self.assertEqual(self.west.get_public_key(KeyId=sign)["PublicKey"], public)
        sig = self.east.sign(KeyId=sign, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
        self.assertTrue(self.west.verify(KeyId=sign, Message=b"m", Signature=sig["Signature"],
                                         SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"])
        serialization.load_der_public_key(public).verify(sig["Signature"], b"m",
                                                         ec.ECDSA(hashes.SHA256()))
        mac_key = self.primary(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        self.replicate(mac_key)
        mac = self.east.generate_mac(KeyId=mac_key, Message=b"m", MacAlgorithm="HMAC_SHA_256")
        self.assertEqual(self.west.generate_mac(KeyId=mac_key, Message=b"m",
                                                MacAlgorithm="HMAC_SHA_256")["Mac"], mac["Mac"])
        rsa_key = self.primary(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
        self.replicate(rsa_key)
        pub = serialization.load_der_public_key(
            self.west.get_public_key(KeyId=rsa_key)["PublicKey"])
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                            label=None)
        ct = pub.encrypt(b"to either Region", oaep)
        self.assertEqual(self.east.decrypt(KeyId=rsa_key, CiphertextBlob=ct,
                                           EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"],
                         b"to either Region")

    def test_members_keep_their_own_aliases_tags_policy_and_state(self):
        kid = self.primary()
        self.replicate(kid)
        self.east.create_alias(AliasName="alias/dr", TargetKeyId=kid)
        self.assertKmsError(self.west.describe_key, "NotFoundException", KeyId="alias/dr")
        self.west.create_alias(AliasName="alias/dr", TargetKeyId=kid)
        self.west.tag_resource(KeyId=kid, Tags=[{"TagKey": "only", "TagValue": "west"}])
        self.assertEqual(self.east.list_resource_tags(KeyId=kid)["Tags"], [])
        east_policy = self.east.get_key_policy(KeyId=kid)["Policy"]
        self.west.put_key_policy(KeyId=kid, PolicyName="default", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [
                {"Sid": "West only", "Effect": "Allow",
                 "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
                 "Action": "kms:*", "Resource": "*"}]}))
        self.assertEqual(json.loads(self.west.get_key_policy(KeyId=kid)["Policy"])
                         ["Statement"][0]["Sid"], "West only")
        self.assertEqual(self.east.get_key_policy(KeyId=kid)["Policy"], east_policy)
        self.assertNotIn("West only", east_policy)
        self.west.disable_key(KeyId=kid)
        self.assertEqual(self.describe(self.east, kid)["KeyState"], "Enabled")
        blob = self.east.encrypt(KeyId="alias/dr", Plaintext=b"x")["CiphertextBlob"]
        self.assertKmsError(self.west.decrypt, "DisabledException", CiphertextBlob=blob)

    def test_errors(self):
        single = self.east.create_key()["KeyMetadata"]
        self.assertKmsError(self.replicate, "UnsupportedOperationException",
                            single["Arn"] + " is not a multi-region primary key.",
                            key_id=single["KeyId"])
        kid = self.primary()
        self.replicate(kid)
        self.assertKmsError(self.west.replicate_key, "UnsupportedOperationException",
                            arn(WEST, kid) + " is not a multi-region primary key.", KeyId=kid,
                            ReplicaRegion=EU)
        self.assertKmsError(self.replicate, "ValidationException", key_id=kid, region=EAST)
        self.assertKmsError(self.replicate, "AlreadyExistsException", key_id=kid, region=WEST)
        self.assertKmsError(self.replicate, "ValidationException", key_id=kid,
                            region="cn-north-1")
        self.assertKmsError(self.east.update_primary_region, "NotFoundException",
                            "Key '%s' does not exist" % arn(EU, kid), KeyId=kid,
                            PrimaryRegion=EU)
        self.assertKmsError(self.west.update_primary_region, "UnsupportedOperationException",
                            arn(WEST, kid) + " is not a multi-region primary key.", KeyId=kid,
                            PrimaryRegion=EAST)
        self.east.disable_key(KeyId=kid)
        self.assertKmsError(self.replicate, "DisabledException", key_id=kid, region=EU)
        # Nothing was created by the refusals.
        self.assertKmsError(self.eu.describe_key, "NotFoundException", KeyId=kid)

    def test_update_primary_region(self):
        kid = self.primary()
        self.replicate(kid)
        self.east.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
        self.east.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
        for client in (self.east, self.west):
            config = self.describe(client, kid)["MultiRegionConfiguration"]
            self.assertEqual(config["PrimaryKey"], {"Arn": arn(WEST, kid), "Region": WEST})
            self.assertEqual(config["ReplicaKeys"], [{"Arn": arn(EAST, kid), "Region": EAST}])
        self.assertEqual(self.describe(self.east, kid)["MultiRegionConfiguration"]
                         ["MultiRegionKeyType"], "REPLICA")
        for client in (self.east, self.west):
            status = client.get_key_rotation_status(KeyId=kid)
            self.assertEqual((status["KeyRotationEnabled"], status["RotationPeriodInDays"]),
                             (True, 90))
        self.assertKmsError(self.east.enable_key_rotation, "UnsupportedOperationException",
                            arn(EAST, kid) + " is not a multi-region primary key.", KeyId=kid)
        self.west.replicate_key(KeyId=kid, ReplicaRegion=EU)
        self.assertEqual(self.describe(self.eu, kid)["MultiRegionConfiguration"]["PrimaryKey"]
                         ["Region"], WEST)

    def test_rotation_reaches_the_replicas(self):
        kid = self.primary()
        self.replicate(kid)
        old = self.east.encrypt(KeyId=kid, Plaintext=b"old")["CiphertextBlob"]
        self.east.rotate_key_on_demand(KeyId=kid)
        self.assertKmsError(self.west.rotate_key_on_demand, "UnsupportedOperationException",
                            arn(WEST, kid) + " is not a multi-region primary key.", KeyId=kid)
        east_md, west_md = self.describe(self.east, kid), self.describe(self.west, kid)
        self.assertEqual(west_md["CurrentKeyMaterialId"], east_md["CurrentKeyMaterialId"])
        self.assertEqual(len(self.west.list_key_rotations(KeyId=kid)["Rotations"]), 1)
        new = self.west.encrypt(KeyId=kid, Plaintext=b"new")["CiphertextBlob"]
        self.assertEqual(self.east.decrypt(CiphertextBlob=new)["Plaintext"], b"new")
        self.assertEqual(self.west.decrypt(CiphertextBlob=old)["Plaintext"], b"old")
        # Automatic rotation, on the KMS clock: twice over 181 days.
        self.east.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
        self.advance(181 * DAY)
        for client in (self.east, self.west):
            rotations = client.list_key_rotations(KeyId=kid)["Rotations"]
            self.assertEqual([r["RotationType"] for r in rotations],
                             ["ON_DEMAND", "AUTOMATIC", "AUTOMATIC"])
        self.assertEqual(self.describe(self.west, kid)["CurrentKeyMaterialId"],
                         self.describe(self.east, kid)["CurrentKeyMaterialId"])

    def test_a_primary_is_deleted_after_its_replicas(self):
        kid = self.primary()
        self.replicate(kid)
        out = self.east.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        self.assertEqual(out["KeyState"], "PendingReplicaDeletion")
        self.assertNotIn("DeletionDate", out)
        md = self.describe(self.east, kid)
        self.assertEqual((md["KeyState"], md["PendingDeletionWindowInDays"]),
                         ("PendingReplicaDeletion", 7))
        self.assertNotIn("DeletionDate", md)
        self.assertKmsError(self.east.encrypt, "KMSInvalidStateException",
                            arn(EAST, kid) + " is pending deletion.", KeyId=kid, Plaintext=b"x")
        self.west.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        self.advance(8 * DAY)
        self.assertKmsError(self.west.describe_key, "NotFoundException", KeyId=kid)
        md = self.describe(self.east, kid)
        self.assertEqual(md["KeyState"], "PendingDeletion")
        self.assertEqual(md["MultiRegionConfiguration"]["ReplicaKeys"], [])
        self.advance(8 * DAY)
        self.assertKmsError(self.east.describe_key, "NotFoundException", KeyId=kid)

    def test_a_replica_deleted_in_the_jump_that_rotates_its_primary_stays_deleted(self):
        # One clock jump makes the replica's deletion (day 7) and the primary's rotation (day 90)
        # due in the same batch: the rotation must not bring the replica back.
        kid = self.primary()
        self.replicate(kid)
        self.east.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
        self.west.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        self.advance(100 * DAY)
        self.assertKmsError(self.west.describe_key, "NotFoundException", KeyId=kid)
        self.assertEqual(self.describe(self.east, kid)["MultiRegionConfiguration"]["ReplicaKeys"],
                         [])
        self.assertEqual(len(self.east.list_key_rotations(KeyId=kid)["Rotations"]), 1)
        self.server.restart()
        type(self).make_clients()
        type(self).kms = self.server.client()
        self.assertKmsError(self.west.describe_key, "NotFoundException", KeyId=kid)

    def test_cancelling_a_primary_waiting_for_replicas(self):
        kid = self.primary()
        self.replicate(kid)
        self.east.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        self.east.cancel_key_deletion(KeyId=kid)
        self.assertEqual(self.describe(self.east, kid)["KeyState"], "Disabled")

    def test_condition_keys(self):
        policy = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
             "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:ReplicateKey",
             "Resource": "*", "Condition": {"StringNotEquals": {"kms:ReplicaRegion": EU}}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt",
             "Resource": "*", "Condition": {"StringEquals": {"kms:MultiRegionKeyType":
                                                             "PRIMARY"}}}]}
        kid = self.primary(Policy=json.dumps(policy))
        self.assertKmsError(self.replicate, "AccessDeniedException", key_id=kid, region=WEST)
        self.replicate(kid, EU)
        self.assertKmsError(self.east.encrypt, "AccessDeniedException", KeyId=kid,
                            Plaintext=b"x")
        self.eu.encrypt(KeyId=kid, Plaintext=b"x")  # the replica has the default policy

    def test_imported_material_in_every_region(self):
        kid = self.primary(Origin="EXTERNAL")
        first, second = os.urandom(32), os.urandom(32)
        self.import_into(self.east, kid, first)
        out = self.replicate(kid)
        self.assertEqual(self.describe(self.west, kid)["KeyState"], "PendingImport")
        self.assertKmsError(self.import_into, "IncorrectKeyMaterialException",
                            client=self.west, key_id=kid, material=os.urandom(32))
        self.import_into(self.west, kid, first)
        self.assertEqual(self.describe(self.west, kid)["KeyState"], "Enabled")
        blob = self.east.encrypt(KeyId=kid, Plaintext=b"imported")["CiphertextBlob"]
        self.assertEqual(self.west.decrypt(CiphertextBlob=blob)["Plaintext"], b"imported")

        self.import_into(self.east, kid, second, ImportType="NEW_KEY_MATERIAL")
        rows = self.east.list_key_rotations(KeyId=kid,
                                            IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        self.assertEqual(rows[-1]["KeyMaterialState"], "PENDING_MULTI_REGION_IMPORT_AND_ROTATION")
        err = self.assertKmsError(self.east.rotate_key_on_demand, "KMSInvalidStateException",
                                  KeyId=kid)
        self.assertIn(arn(WEST, kid), err.response["Error"]["Message"])
        self.import_into(self.west, kid, second)
        rows = self.east.list_key_rotations(KeyId=kid,
                                            IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
        self.assertEqual(rows[-1]["KeyMaterialState"], "PENDING_ROTATION")
        self.east.rotate_key_on_demand(KeyId=kid)
        current = self.describe(self.east, kid)["CurrentKeyMaterialId"]
        self.assertEqual(self.describe(self.west, kid)["CurrentKeyMaterialId"], current)
        self.assertEqual(rows[-1]["KeyMaterialId"], current)
        new = self.west.encrypt(KeyId=kid, Plaintext=b"rotated")["CiphertextBlob"]
        self.assertEqual(self.east.decrypt(CiphertextBlob=new)["Plaintext"], b"rotated")

    def import_into(self, client, key_id, material, **kw):
        p = client.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                             WrappingKeySpec="RSA_2048")
        public = serialization.load_der_public_key(p["PublicKey"])
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                            label=None)
        return client.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"],
                                          EncryptedKeyMaterial=public.encrypt(material, oaep),
                                          ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", **kw)

    def test_survives_a_restart(self):
        kid = self.primary()
        self.replicate(kid)
        blob = self.east.encrypt(KeyId=kid, Plaintext=b"durable")["CiphertextBlob"]
        self.server.restart()
        type(self).make_clients()
        type(self).kms = self.server.client()
        self.assertEqual(self.west.decrypt(CiphertextBlob=blob)["Plaintext"], b"durable")
        self.assertEqual(self.describe(self.west, kid)["MultiRegionConfiguration"]
                         ["MultiRegionKeyType"], "REPLICA")


if __name__ == "__main__":
    import unittest
    unittest.main()
