"""Pagination markers survive changes between pages (issue 10): a paginator that deletes what it
has seen neither skips nor repeats entries nor fails, and markers are opaque."""
import base64
import unittest

from harness import KmsdTestCase

DAY = 86400


class PaginationTest(KmsdTestCase):
    def drain(self, call, member, ident, delete, **kw):
        """Pages through `call` two at a time, deleting every entry right after seeing it."""
        seen, marker = [], None
        while True:
            args = dict(kw, Limit=2)
            if marker:
                args["Marker"] = marker
            page = call(**args)
            for entry in page[member]:
                seen.append(ident(entry))
                delete(entry)
            if not page["Truncated"]:
                self.assertNotIn("NextMarker", page)
                return seen
            marker = page["NextMarker"]
            # Opaque: not an index, not the name of an entry.
            self.assertFalse(marker.isdigit())
            self.assertNotIn(marker, seen)

    def test_aliases_deleted_while_listing(self):
        key = self.create_key()["KeyId"]
        names = ["alias/p-%02d" % i for i in range(9)]
        for n in names:
            self.kms.create_alias(AliasName=n, TargetKeyId=key)
        seen = self.drain(self.kms.list_aliases, "Aliases", lambda a: a["AliasName"],
                          lambda a: self.kms.delete_alias(AliasName=a["AliasName"]), KeyId=key)
        self.assertEqual(seen, names)

    def test_grants_revoked_while_listing(self):
        key = self.create_key()["KeyId"]
        ids = [self.kms.create_grant(KeyId=key, Operations=["Encrypt"],
                                     GranteePrincipal="arn:aws:iam::111122223333:role/r%d" % i,
                                     RetiringPrincipal="arn:aws:iam::111122223333:role/ret")
               ["GrantId"] for i in range(7)]
        seen = self.drain(self.kms.list_grants, "Grants", lambda g: g["GrantId"],
                          lambda g: self.kms.revoke_grant(KeyId=key, GrantId=g["GrantId"]),
                          KeyId=key)
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(len(seen), len(set(seen)))
        self.assertEqual(self.kms.list_grants(KeyId=key)["Grants"], [])

    def test_retirable_grants_retired_while_listing(self):
        key = self.create_key()["KeyId"]
        retiring = "arn:aws:iam::111122223333:role/retirer"
        ids = [self.kms.create_grant(KeyId=key, Operations=["Decrypt"], RetiringPrincipal=retiring,
                                     GranteePrincipal="arn:aws:iam::111122223333:role/g%d" % i)
               ["GrantId"] for i in range(5)]
        arn = self.kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"]
        seen = self.drain(self.kms.list_retirable_grants, "Grants", lambda g: g["GrantId"],
                          lambda g: self.kms.retire_grant(KeyId=arn, GrantId=g["GrantId"]),
                          RetiringPrincipal=retiring)
        self.assertEqual(sorted(seen), sorted(ids))

    def test_tags_removed_while_listing(self):
        tags = [{"TagKey": "k%02d" % i, "TagValue": "v%d" % i} for i in range(7)]
        key = self.create_key(Tags=list(reversed(tags)))["KeyId"]
        seen = self.drain(self.kms.list_resource_tags, "Tags", lambda t: t["TagKey"],
                          lambda t: self.kms.untag_resource(KeyId=key, TagKeys=[t["TagKey"]]),
                          KeyId=key)
        self.assertEqual(seen, [t["TagKey"] for t in tags])  # listed by tag key

    def test_keys_deleted_while_listing(self):
        created = sorted(self.create_key()["KeyId"] for _ in range(7))

        def delete(entry):
            self.kms.schedule_key_deletion(KeyId=entry["KeyId"], PendingWindowInDays=7)
            self.assertEqual(
                self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": 7 * DAY + 1})[0],
                200)

        seen = self.drain(self.kms.list_keys, "Keys", lambda k: k["KeyId"], delete)
        self.assertEqual(seen, created)
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_rotations_page_in_date_order(self):
        key = self.create_key()["KeyId"]
        for _ in range(5):
            self.kms.rotate_key_on_demand(KeyId=key)
        seen, marker = [], None
        while True:
            kw = {"KeyId": key, "Limit": 2}
            if marker:
                kw["Marker"] = marker
            page = self.kms.list_key_rotations(**kw)
            seen += page["Rotations"]
            if not page["Truncated"]:
                break
            marker = page["NextMarker"]
        self.assertEqual(len(seen), 5)
        self.assertEqual(len({r["KeyMaterialId"] for r in seen}), 5)
        dates = [r["RotationDate"] for r in seen]
        self.assertEqual(dates, sorted(dates))

    def test_foreign_and_forged_markers(self):
        key = self.create_key()["KeyId"]
        for i in range(3):
            self.kms.create_alias(AliasName="alias/m%d" % i, TargetKeyId=key)
        marker = self.kms.list_aliases(Limit=1)["NextMarker"]
        # A marker of one list is not a marker of another.
        self.assertKmsError(self.kms.list_resource_tags, "InvalidMarkerException",
                            "Invalid marker", KeyId=key, Marker=marker)
        self.assertKmsError(self.kms.list_keys, "InvalidMarkerException", "Invalid marker",
                            Marker=marker)
        for forged in ("1", "alias/m1", base64.b64encode(b"other:alias/m1").decode()):
            self.assertKmsError(self.kms.list_aliases, "InvalidMarkerException",
                                "Invalid marker", Marker=forged)


if __name__ == "__main__":
    unittest.main()
