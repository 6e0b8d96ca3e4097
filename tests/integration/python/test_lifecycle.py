"""Rotation, deletion and the KMS clock through boto3 and the admin endpoint (issue 5)."""
import json
import time
import unittest

from harness import KmsdServer, KmsdTestCase

DAY = 86400


class ClockMixin:
    def clock(self):
        status, body = self.server.admin("GET", "/_kmsd/clock")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def advance(self, seconds):
        status, body = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": seconds})
        self.assertEqual(status, 200, body)
        return json.loads(body)


class ClockTest(ClockMixin, KmsdTestCase):
    def test_clock_moves_forward_only(self):
        before = self.clock()
        self.assertEqual(before["offset_seconds"], 0)
        after = self.advance(3600)
        self.assertEqual(after["offset_seconds"], 3600)
        self.assertGreaterEqual(after["now"], before["now"] + 3600)
        for body in ({"advance_seconds": -1}, {"now": before["now"] - 10}, {}, {"now": "x"}):
            status, _ = self.server.admin("POST", "/_kmsd/clock", body)
            self.assertEqual(status, 400, body)
        self.assertEqual(self.clock()["offset_seconds"], 3600)
        target = self.clock()["now"] + 7200
        moved = json.loads(self.server.admin("POST", "/_kmsd/clock", {"now": target})[1])
        self.assertAlmostEqual(moved["now"], target, delta=2)

    def test_timestamps_use_kms_time(self):
        self.advance(10 * DAY)
        key = self.create_key()
        now = self.clock()["now"]
        self.assertAlmostEqual(key["CreationDate"].timestamp(), now, delta=5)

    def test_reset_clears_the_offset(self):
        self.advance(100)
        self.server.reset()
        self.assertEqual(self.clock()["offset_seconds"], 0)


class RotationTest(ClockMixin, KmsdTestCase):
    def test_automatic_rotation_after_a_year(self):
        key = self.create_key()
        kid, first = key["KeyId"], key["CurrentKeyMaterialId"]
        old = self.kms.encrypt(KeyId=kid, Plaintext=b"before")["CiphertextBlob"]
        self.kms.enable_key_rotation(KeyId=kid)
        st = self.kms.get_key_rotation_status(KeyId=kid)
        self.assertTrue(st["KeyRotationEnabled"])
        self.assertEqual(st["RotationPeriodInDays"], 365)
        self.assertEqual(st["KeyId"], key["Arn"])

        self.advance(365 * DAY + 5)
        now_current = self.kms.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
        self.assertNotEqual(now_current, first)
        rotations = self.kms.list_key_rotations(KeyId=kid)["Rotations"]
        self.assertEqual(len(rotations), 1)
        self.assertEqual(rotations[0]["RotationType"], "AUTOMATIC")
        self.assertEqual(rotations[0]["KeyMaterialId"], now_current)
        self.assertEqual(rotations[0]["KeyMaterialState"], "CURRENT")

        dec = self.kms.decrypt(CiphertextBlob=old)
        self.assertEqual(dec["Plaintext"], b"before")
        self.assertEqual(dec["KeyMaterialId"], first)
        new = self.kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
        self.assertEqual(new["KeyMaterialId"], now_current)
        re = self.kms.re_encrypt(CiphertextBlob=old, DestinationKeyId=kid)
        self.assertEqual(re["SourceKeyMaterialId"], first)
        self.assertEqual(re["DestinationKeyMaterialId"], now_current)

    def test_three_periods_make_three_rotations(self):
        kid = self.create_key()["KeyId"]
        self.kms.enable_key_rotation(KeyId=kid, RotationPeriodInDays=90)
        next_date = self.kms.get_key_rotation_status(KeyId=kid)["NextRotationDate"].timestamp()
        self.advance(3 * 90 * DAY + 60)
        rotations = self.kms.list_key_rotations(KeyId=kid)["Rotations"]
        self.assertEqual([r["RotationType"] for r in rotations], ["AUTOMATIC"] * 3)
        dates = [r["RotationDate"].timestamp() for r in rotations]
        for i, d in enumerate(dates):
            self.assertAlmostEqual(d, next_date + i * 90 * DAY, delta=1)

    def test_period_bounds(self):
        kid = self.create_key()["KeyId"]
        for days, bound in ((89, "greater than or equal to 90"), (2561, "less than or equal to 2560")):
            self.assertKmsError(
                self.kms_nv.enable_key_rotation, "ValidationException",
                "1 validation error detected: Value '%d' at 'rotationPeriodInDays' failed to "
                "satisfy constraint: Member must have value %s" % (days, bound),
                KeyId=kid, RotationPeriodInDays=days)

    def test_on_demand_rotation(self):
        key = self.create_key()
        kid = key["KeyId"]
        out = self.kms.rotate_key_on_demand(KeyId=kid)
        self.assertEqual(out["KeyId"], key["Arn"])
        rotations = self.kms.list_key_rotations(KeyId=kid)["Rotations"]
        self.assertEqual(len(rotations), 1)
        self.assertEqual(rotations[0]["RotationType"], "ON_DEMAND")
        self.assertNotEqual(self.kms.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"],
                            key["CurrentKeyMaterialId"])
        for _ in range(24):
            self.kms.rotate_key_on_demand(KeyId=kid)
        self.assertKmsError(
            self.kms.rotate_key_on_demand, "LimitExceededException",
            "The on-demand rotations limit has been reached for the given keyId. No more "
            "on-demand rotations can be performed for this key: " + key["Arn"], KeyId=kid)

    def test_rotation_on_disabled_and_pending_keys(self):
        key = self.create_key()
        kid, arn = key["KeyId"], key["Arn"]
        self.kms.disable_key(KeyId=kid)
        self.assertKmsError(self.kms.enable_key_rotation, "DisabledException",
                            arn + " is disabled.", KeyId=kid)
        self.assertKmsError(self.kms.rotate_key_on_demand, "DisabledException",
                            arn + " is disabled.", KeyId=kid)
        self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        self.assertKmsError(self.kms.rotate_key_on_demand, "KMSInvalidStateException",
                            arn + " is pending deletion.", KeyId=kid)
        status = self.kms.get_key_rotation_status(KeyId=kid)
        self.assertFalse(status["KeyRotationEnabled"])
        self.assertNotIn("NextRotationDate", status)

    def test_rotation_status_while_disabled_and_pending_deletion(self):
        """AWS: disabling a key leaves its rotation status alone; while it is pending deletion
        the status is false, and cancelling the deletion brings the original status back."""
        kid = self.create_key()["KeyId"]
        self.kms.enable_key_rotation(KeyId=kid, RotationPeriodInDays=180)
        self.kms.disable_key(KeyId=kid)
        status = self.kms.get_key_rotation_status(KeyId=kid)
        self.assertTrue(status["KeyRotationEnabled"])
        self.assertEqual(status["RotationPeriodInDays"], 180)
        self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        status = self.kms.get_key_rotation_status(KeyId=kid)
        self.assertFalse(status["KeyRotationEnabled"])
        self.assertNotIn("NextRotationDate", status)
        self.assertNotIn("RotationPeriodInDays", status)
        self.kms.cancel_key_deletion(KeyId=kid)
        status = self.kms.get_key_rotation_status(KeyId=kid)
        self.assertTrue(status["KeyRotationEnabled"])
        self.assertEqual(status["RotationPeriodInDays"], 180)
        self.assertIn("NextRotationDate", status)


class DeletionTest(ClockMixin, KmsdTestCase):
    def test_key_deleted_after_seven_days(self):
        key = self.create_key()
        kid, arn = key["KeyId"], key["Arn"]
        self.kms.create_alias(AliasName="alias/short-lived", TargetKeyId=kid)
        out = self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        due = out["DeletionDate"].timestamp()
        self.advance(due - self.clock()["now"] - 30)
        self.assertEqual(self.kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"],
                         "PendingDeletion")
        self.advance(60)
        self.assertKmsError(self.kms.describe_key, "NotFoundException",
                            "Key '%s' does not exist" % arn, KeyId=kid)
        # Only AWS's predefined alias/aws/ names, which have no key, are left.
        self.assertEqual([a for a in self.kms.list_aliases()["Aliases"]
                          if not a["AliasName"].startswith("alias/aws/")], [])
        self.assertFalse(any("TargetKeyId" in a for a in self.kms.list_aliases()["Aliases"]))
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_cancelled_deletion_survives(self):
        kid = self.create_key()["KeyId"]
        self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        self.kms.cancel_key_deletion(KeyId=kid)
        self.advance(40 * DAY)
        self.assertEqual(self.kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"], "Disabled")


class OwnServerTestCase(unittest.TestCase):
    """A fresh kmsd (and data dir) per test, for tests that restart or wait on it."""

    def setUp(self):
        self.server = KmsdServer()
        self.server.start()
        self.kms = self.server.client()

    def tearDown(self):
        self.server.cleanup()


class RealTimeSchedulerTest(ClockMixin, OwnServerTestCase):
    """Due work without clock moves: the scheduler thread, and catching up after a restart."""

    def schedule_deletion_due_in(self, seconds):
        kid = self.kms.create_key()["KeyMetadata"]["KeyId"]
        due = self.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)["DeletionDate"]
        self.advance(due.timestamp() - self.clock()["now"] - seconds)
        return kid

    def test_scheduler_wakes_in_real_time(self):
        kid = self.schedule_deletion_due_in(1.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if not [k for k in self.kms.list_keys()["Keys"] if k["KeyId"] == kid]:
                break
            time.sleep(0.2)
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_restart_catches_up(self):
        kid = self.schedule_deletion_due_in(1.0)
        self.server.stop()
        time.sleep(1.5)
        self.server.start()
        self.kms = self.server.client()
        self.assertEqual(self.kms.list_keys()["Keys"], [])
        self.assertGreaterEqual(self.clock()["offset_seconds"], 7 * DAY - 60)  # persisted
        self.assertNotIn(kid, [k["KeyId"] for k in self.kms.list_keys()["Keys"]])


class LastUsageTest(ClockMixin, OwnServerTestCase):
    def test_last_usage_is_tracked_and_survives_restart(self):
        key = self.kms.create_key()["KeyMetadata"]
        kid = key["KeyId"]
        out = self.kms.get_key_last_usage(KeyId=kid)
        self.assertEqual(out["KeyId"], key["Arn"])
        self.assertNotIn("KeyLastUsage", out)
        self.assertEqual(out["TrackingStartDate"], out["KeyCreationDate"])
        resp = self.kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
        request_id = resp["ResponseMetadata"]["RequestId"]
        last = self.kms.get_key_last_usage(KeyId=kid)["KeyLastUsage"]
        self.assertEqual(last["Operation"], "GenerateDataKey")
        self.assertEqual(last["KmsRequestId"], request_id)
        self.server.stop()  # flushes at shutdown
        self.server.start()
        self.kms = self.server.client()
        again = self.kms.get_key_last_usage(KeyId=kid)["KeyLastUsage"]
        self.assertEqual(again["KmsRequestId"], request_id)
        self.assertEqual(again["CloudTrailEventId"], last["CloudTrailEventId"])


if __name__ == "__main__":
    unittest.main()
