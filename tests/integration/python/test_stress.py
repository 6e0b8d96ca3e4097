"""A concurrency stress test (issue 10): many clients mixing every kind of mutation and crypto
call on shared keys while the clock jumps, so that the sanitizer builds (TSan, ASan) see real
contention. Each worker checks what it gets back; at the end the server's view must agree with
what the workers were told. KMSD_STRESS_SECONDS sets the duration (default 6)."""
import os
import random
import threading
import time
import unittest

from botocore.exceptions import ClientError

from harness import KmsdTestCase

SECONDS = float(os.environ.get("KMSD_STRESS_SECONDS", "6"))
# Answers a racing client may legitimately get (the key it names was disabled, scheduled for
# deletion or deleted by another worker meanwhile).
RACE_ERRORS = {"DisabledException", "KMSInvalidStateException", "NotFoundException",
               "AlreadyExistsException", "InvalidGrantIdException", "LimitExceededException"}


class StressTest(KmsdTestCase):
    def test_mixed_concurrent_load(self):
        shared = [self.create_key()["KeyId"] for _ in range(4)]
        for k in shared:
            self.kms.enable_key_rotation(KeyId=k, RotationPeriodInDays=90)
        failures, counts, lock = [], {}, threading.Lock()
        # Clients first: making eight boto3 clients can take seconds in a long test process, and
        # that must not eat the load's time.
        clients = [self.server.client() for _ in range(8)]
        deadline = time.monotonic() + SECONDS

        def worker(n):
            kms = clients[n]
            rnd = random.Random(n)
            mine = []
            while time.monotonic() < deadline:
                op = rnd.choice(["crypto", "crypto", "crypto", "create", "alias", "tag", "grant",
                                 "rotate", "list", "disable", "delete", "policy", "clock"])
                key = rnd.choice(shared + mine) if mine else rnd.choice(shared)
                try:
                    if op == "crypto":
                        ctx = {"w": str(n)}
                        data = os.urandom(rnd.randint(1, 64))
                        blob = kms.encrypt(KeyId=key, Plaintext=data,
                                           EncryptionContext=ctx)["CiphertextBlob"]
                        out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
                        if out["Plaintext"] != data:
                            failures.append("round trip mismatch on %s" % key)
                        dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
                        if kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] != \
                                dk["Plaintext"]:
                            failures.append("data key mismatch on %s" % key)
                    elif op == "create":
                        mine.append(kms.create_key(Description="w%d" % n)["KeyMetadata"]["KeyId"])
                    elif op == "alias":
                        name = "alias/w%d-%d" % (n, rnd.randint(0, 5))
                        try:
                            kms.create_alias(AliasName=name, TargetKeyId=key)
                        except ClientError as e:
                            if e.response["Error"]["Code"] != "AlreadyExistsException":
                                raise
                            kms.update_alias(AliasName=name, TargetKeyId=key)
                        kms.describe_key(KeyId=name)
                    elif op == "tag":
                        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "w%d" % n, "TagValue": "v"}])
                        kms.list_resource_tags(KeyId=key)
                    elif op == "grant":
                        g = kms.create_grant(KeyId=key, Operations=["Encrypt", "Decrypt"],
                                             GranteePrincipal="arn:aws:iam::111122223333:role/w%d" % n)
                        kms.list_grants(KeyId=key, Limit=5)
                        kms.revoke_grant(KeyId=key, GrantId=g["GrantId"])
                    elif op == "rotate":
                        kms.rotate_key_on_demand(KeyId=key)
                        kms.list_key_rotations(KeyId=key, Limit=3)
                    elif op == "list":
                        kms.list_keys(Limit=5)
                        kms.list_aliases(Limit=5)
                    elif op == "disable" and mine:
                        k = rnd.choice(mine)
                        kms.disable_key(KeyId=k)
                        kms.enable_key(KeyId=k)
                    elif op == "delete" and mine:
                        k = mine.pop()
                        kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)
                    elif op == "policy":
                        kms.get_key_policy(KeyId=key, PolicyName="default")
                        kms.get_key_last_usage(KeyId=key)
                    elif op == "clock":
                        status, _ = self.server.admin("POST", "/_kmsd/clock",
                                                      {"advance_seconds": 86400})
                        if status != 200:
                            failures.append("clock move answered %d" % status)
                    with lock:
                        counts[op] = counts.get(op, 0) + 1
                except ClientError as e:
                    code = e.response["Error"]["Code"]
                    if code not in RACE_ERRORS:
                        failures.append("%s: %s %s" % (op, code, e.response["Error"].get("Message")))
                except Exception as e:
                    # Anything else (a dropped connection, a malformed reply) would end this
                    # thread silently and leave the others to make the count: it is a failure.
                    failures.append("%s: %r" % (op, e))
                    return

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(failures, [])
        self.assertIsNone(self.server.proc.poll(), "kmsd died under load")
        self.assertGreater(sum(counts.values()), 50, counts)
        # The shared keys survived everything and still decrypt what they encrypted.
        for k in shared:
            blob = self.kms.encrypt(KeyId=k, Plaintext=b"after")["CiphertextBlob"]
            self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"after")


if __name__ == "__main__":
    unittest.main()
