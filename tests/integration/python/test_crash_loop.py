"""Crash safety: kill -9 under concurrent writers, then check that nothing acknowledged is lost
and nothing is half done (design.md §3, §9; issue 10).

Each iteration starts kmsd on the same data dir, runs several client threads that make mixed
mutations (CreateKey with tags, CreateAlias, TagResource, CreateGrant, PutKeyPolicy,
RotateKeyOnDemand, ScheduleKeyDeletion, Encrypt), records every change the server acknowledged,
and kills the server with SIGKILL at a random moment. Then, before restarting, the database is
opened read-only with Python's sqlite3: PRAGMA integrity_check, foreign keys, no key without
material, and every acknowledged change is in it. After the restart every acknowledged change of
the iteration is checked through the API and every acknowledged ciphertext decrypts.

A request that was in flight when the process died is "in doubt": it may or may not have been
applied, and both outcomes are accepted (as with AWS after a 5xx or a dropped connection).

Environment:
    KMSD_CRASH_ITERATIONS  iterations (default 10, for CI; the issue asks for 100 before a release)
    KMSD_CRASH_THREADS     client threads (default 4)
    KMSD_CRASH_SEED        seed of the random kill moments and operation order (default: random,
                           printed so that a failing run can be repeated)
"""

import json
import os
import random
import sqlite3
import sys
import threading
import time
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from harness import ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY, KmsdServer, key_arn

ITERATIONS = int(os.environ.get("KMSD_CRASH_ITERATIONS", "10"))
THREADS = int(os.environ.get("KMSD_CRASH_THREADS", "4"))
GRANTEE = "arn:aws:iam::%s:role/crash-loop" % ACCOUNT
# Older iterations' ciphertexts re-checked after every restart (all of them would make the loop
# quadratic; the SQL checks cover every older fact anyway).
OLD_SAMPLE = 10


# One boto3 session for every client: a new session per client costs ~0.3 s of CPU (loading the
# service model), which was most of an iteration's time. Clients are made before the threads start.
_SESSION = boto3.session.Session()
_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1},
                 connect_timeout=10, read_timeout=30)


def client(server):
    return _SESSION.client("kms", endpoint_url=server.endpoint, region_name=REGION,
                           aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
                           config=_CONFIG)


def policy_doc(sid):
    return {"Version": "2012-10-17", "Id": sid, "Statement": [
        {"Sid": sid, "Effect": "Allow",
         "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCOUNT},
         "Action": "kms:*", "Resource": "*"}]}


class Facts:
    """What the server acknowledged (and what was in flight when it died), across iterations."""

    def __init__(self):
        self.lock = threading.Lock()
        self.keys = {}          # key_id -> dict(desc, tags, alias, grants, policy, ...)
        self.aliases = {}       # alias name -> key_id
        self.ciphertexts = []   # (key_id, blob, plaintext, context, iteration)
        self.unexpected = []    # errors other than the kill's dropped connections

    def new_key(self, key_id, desc, tags, iteration, deleting):
        with self.lock:
            self.keys[key_id] = {
                "desc": desc, "tags": dict(tags), "iteration": iteration,
                "doubt_tags": set(), "grants": set(), "policy": None, "policy_doubt": None,
                "rotations": 0, "rotation_doubt": 0, "deleted": False,
                "deletion_doubt": False, "will_delete": deleting}


class Worker(threading.Thread):
    """Mutates until the server goes away; every acknowledged change goes into `facts`."""

    def __init__(self, client, facts, iteration, index, rng):
        super().__init__(daemon=True)
        self.kms = client
        self.facts = facts
        self.it = iteration
        self.w = index
        self.rng = rng
        self.doubt = None  # the operation in flight when the server died

    def call(self, what, fn, **kw):
        """Returns the response, or None when the server is gone (the thread then stops)."""
        try:
            return fn(**kw)
        except ClientError as e:
            with self.facts.lock:
                self.facts.unexpected.append("%s: %s" % (what, e.response.get("Error")))
            return None
        except BotoCoreError:
            self.doubt = what
            return None

    def run(self):
        try:
            self.loop()
        except Exception as e:
            # Anything but the kill's dropped connection (BotoCoreError, handled in call()) would
            # end the thread silently: a malformed reply must fail the iteration.
            with self.facts.lock:
                self.facts.unexpected.append("worker %d: %r" % (self.w, e))

    def loop(self):
        n = 0
        while True:
            n += 1
            name = "%d-%d-%d" % (self.it, self.w, n)
            deleting = n % 5 == 0
            desc = "crash " + name
            tags = {"origin": name}
            out = self.call("create", self.kms.create_key, Description=desc,
                            Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])
            if out is None:
                return
            kid = out["KeyMetadata"]["KeyId"]
            self.facts.new_key(kid, desc, tags, self.it, deleting)
            if not self.mutate(kid, name, deleting):
                return

    def mutate(self, kid, name, deleting):
        f = self.facts
        rec = f.keys[kid]
        if deleting:
            with f.lock:
                rec["deletion_doubt"] = True
            if self.call("delete", self.kms.schedule_key_deletion, KeyId=kid,
                         PendingWindowInDays=7) is None:
                return False
            with f.lock:
                rec["deleted"] = True
                rec["deletion_doubt"] = False
            return True
        steps = ["encrypt", "alias", "tag", "grant", "policy", "rotate", "encrypt"]
        # A random prefix order, so kills land on every kind of operation.
        self.rng.shuffle(steps)
        for i, step in enumerate(steps):
            if step == "encrypt":
                pt = os.urandom(self.rng.randint(1, 64))
                ctx = {"iteration": str(self.it), "step": str(i)}
                out = self.call(step, self.kms.encrypt, KeyId=kid, Plaintext=pt,
                                EncryptionContext=ctx)
                if out is None:
                    return False
                with f.lock:
                    f.ciphertexts.append((kid, out["CiphertextBlob"], pt, ctx, self.it))
            elif step == "alias":
                alias = "alias/crash-" + name
                if self.call(step, self.kms.create_alias, AliasName=alias,
                             TargetKeyId=kid) is None:
                    return False
                with f.lock:
                    f.aliases[alias] = kid
            elif step == "tag":
                tag = ("t-" + name, "v-%d" % i)
                with f.lock:
                    rec["doubt_tags"].add(tag)
                if self.call(step, self.kms.tag_resource, KeyId=kid,
                             Tags=[{"TagKey": tag[0], "TagValue": tag[1]}]) is None:
                    return False
                with f.lock:
                    rec["doubt_tags"].discard(tag)
                    rec["tags"][tag[0]] = tag[1]
            elif step == "grant":
                out = self.call(step, self.kms.create_grant, KeyId=kid, GranteePrincipal=GRANTEE,
                                Operations=["Decrypt", "Encrypt"], Name="g-" + name)
                if out is None:
                    return False
                with f.lock:
                    rec["grants"].add(out["GrantId"])
            elif step == "policy":
                doc = policy_doc("p" + name.replace("-", ""))
                with f.lock:
                    rec["policy_doubt"] = doc
                if self.call(step, self.kms.put_key_policy, KeyId=kid, PolicyName="default",
                             Policy=json.dumps(doc)) is None:
                    return False
                with f.lock:
                    rec["policy"] = doc
                    rec["policy_doubt"] = None
            elif step == "rotate":
                with f.lock:
                    rec["rotation_doubt"] = 1
                if self.call(step, self.kms.rotate_key_on_demand, KeyId=kid) is None:
                    return False
                with f.lock:
                    rec["rotations"] += 1
                    rec["rotation_doubt"] = 0
        return True


class CrashLoopTest(unittest.TestCase):

    def setUp(self):
        self.server = KmsdServer()
        self.addCleanup(self.server.cleanup)
        seed = os.environ.get("KMSD_CRASH_SEED")
        self.seed = int(seed) if seed else random.randrange(1 << 30)
        self.rng = random.Random(self.seed)

    def db_path(self):
        return os.path.join(self.server.data_dir, "kmsd.db")

    def peak_rss_kb(self):
        """The server's peak resident set (VmHWM), for the report; 0 where /proc is missing."""
        try:
            with open("/proc/%d/status" % self.server.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def check_database(self, facts):
        """Read-only look at the files the killed process left: whole, and every acknowledged
        change in them."""
        db = sqlite3.connect("file:%s?mode=ro" % self.db_path(), uri=True)
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchall(), [("ok",)])
            self.assertEqual(db.execute("PRAGMA foreign_key_check").fetchall(), [])
            half = {
                "key without material": "SELECT key_id FROM keys k WHERE NOT EXISTS (SELECT 1 "
                "FROM key_materials m WHERE m.account=k.account AND m.region=k.region AND "
                "m.key_id=k.key_id)",
                "alias to a missing key": "SELECT alias_name FROM aliases a WHERE NOT EXISTS "
                "(SELECT 1 FROM keys k WHERE k.account=a.account AND k.region=a.region AND "
                "k.key_id=a.key_id)",
                "grant of a missing key": "SELECT grant_id FROM grants g WHERE NOT EXISTS "
                "(SELECT 1 FROM keys k WHERE k.account=g.account AND k.region=g.region AND "
                "k.key_id=g.key_id)",
                "tag of a missing key": "SELECT tag_key FROM tags t WHERE NOT EXISTS "
                "(SELECT 1 FROM keys k WHERE k.account=t.account AND k.region=t.region AND "
                "k.key_id=t.key_id)",
                "pending deletion without a date": "SELECT key_id FROM keys WHERE "
                "key_state='PendingDeletion' AND deletion_date IS NULL",
            }
            for what, sql in half.items():
                self.assertEqual(db.execute(sql).fetchall(), [], what)
            rows = {r[0]: r[1:] for r in db.execute(
                "SELECT key_id, description, key_state, policy FROM keys")}
            materials = dict(db.execute(
                "SELECT key_id, count(*) FROM key_materials GROUP BY key_id").fetchall())
            aliases = dict(db.execute("SELECT alias_name, key_id FROM aliases").fetchall())
            grants = {r[0] for r in db.execute("SELECT grant_id FROM grants")}
            tags = {}
            for kid, k, v in db.execute("SELECT key_id, tag_key, tag_value FROM tags"):
                tags.setdefault(kid, {})[k] = v
        finally:
            db.close()
        lost = [kid for kid in facts.keys if kid not in rows]
        for kid, rec in facts.keys.items():
            if kid not in rows:
                continue
            desc, state, policy = rows[kid]
            self.assertEqual(desc, rec["desc"], kid)
            if rec["deleted"]:
                self.assertEqual(state, "PendingDeletion", kid)
            elif not rec["deletion_doubt"]:
                self.assertEqual(state, "Enabled", kid)
            self.assertGreaterEqual(materials.get(kid, 0), 1 + rec["rotations"], kid)
            self.assertLessEqual(materials.get(kid, 0),
                                 1 + rec["rotations"] + rec["rotation_doubt"], kid)
            got_tags = tags.get(kid, {})
            for k, v in rec["tags"].items():
                self.assertEqual(got_tags.get(k), v, (kid, k))
            self.assertLessEqual(set(got_tags.items()),
                                 set(rec["tags"].items()) | rec["doubt_tags"], kid)
            self.assertLessEqual(rec["grants"], grants, kid)
            if rec["policy"] is not None:
                self.assertEqual(json.loads(policy), rec["policy"], kid)
        for alias, kid in facts.aliases.items():
            self.assertEqual(aliases.get(alias), kid, alias)
        return lost

    def check_api(self, facts, iteration):
        kms = client(self.server)
        for kid, rec in facts.keys.items():
            if rec["iteration"] != iteration:
                continue
            md = kms.describe_key(KeyId=kid)["KeyMetadata"]
            self.assertEqual(md["Description"], rec["desc"])
            if rec["deleted"]:
                self.assertEqual(md["KeyState"], "PendingDeletion", kid)
            elif not rec["deletion_doubt"]:
                self.assertEqual(md["KeyState"], "Enabled", kid)
            got = {t["TagKey"]: t["TagValue"]
                   for t in kms.list_resource_tags(KeyId=kid)["Tags"]}
            self.assertLessEqual(set(rec["tags"].items()), set(got.items()), kid)
            if rec["grants"]:
                ids = {g["GrantId"] for g in kms.list_grants(KeyId=kid)["Grants"]}
                self.assertLessEqual(rec["grants"], ids, kid)
            if rec["policy"] is not None:
                got_policy = json.loads(kms.get_key_policy(KeyId=kid)["Policy"])
                self.assertEqual(got_policy, rec["policy"], kid)
            if rec["rotations"]:
                rot = kms.list_key_rotations(KeyId=kid)["Rotations"]
                self.assertGreaterEqual(len(rot), rec["rotations"], kid)
        for alias, kid in facts.aliases.items():
            if facts.keys[kid]["iteration"] == iteration:
                self.assertEqual(kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"], kid)
        older = [c for c in facts.ciphertexts if c[4] != iteration]
        sample = self.rng.sample(older, min(OLD_SAMPLE, len(older)))
        checked = 0
        for kid, blob, pt, ctx, it in [c for c in facts.ciphertexts if c[4] == iteration] + sample:
            out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
            self.assertEqual(out["Plaintext"], pt, kid)
            self.assertEqual(out["KeyId"], key_arn(kid))
            checked += 1
        return checked

    def test_kill9_loop(self):
        facts = Facts()
        started = time.monotonic()
        decrypted = 0
        lost_total = 0
        doubts = {}
        peak_rss_kb = 0
        self.server.start()
        for it in range(1, ITERATIONS + 1):
            clients = [client(self.server) for _ in range(THREADS)]
            workers = [Worker(c, facts, it, w, random.Random(self.rng.random()))
                       for w, c in enumerate(clients)]
            for w in workers:
                w.start()
            time.sleep(self.rng.uniform(0.2, 1.5))
            peak_rss_kb = max(peak_rss_kb, self.peak_rss_kb())
            self.server.kill9()
            for w in workers:
                w.join(30)
                self.assertFalse(w.is_alive(), "a client thread hung after the kill")
                if w.doubt:
                    doubts[w.doubt] = doubts.get(w.doubt, 0) + 1
            self.assertEqual(facts.unexpected, [], "seed %d, iteration %d" % (self.seed, it))
            lost = self.check_database(facts)
            lost_total += len(lost)
            self.assertEqual(lost, [], "acknowledged keys lost (seed %d, iteration %d)"
                             % (self.seed, it))
            self.server.start()
            decrypted += self.check_api(facts, it)
        elapsed = time.monotonic() - started
        sys.stderr.write(
            "\ncrash loop: %d iterations, %d threads, seed %d: %d keys, %d aliases, %d "
            "ciphertexts acknowledged; %d keys lost; %d decrypts checked; kills landed in %s; "
            "peak RSS %d KB; %.1f s\n" % (
                ITERATIONS, THREADS, self.seed, len(facts.keys), len(facts.aliases),
                len(facts.ciphertexts), lost_total, decrypted, json.dumps(doubts, sort_keys=True),
                peak_rss_kb, elapsed))
        self.assertGreater(len(facts.keys), 0)


if __name__ == "__main__":
    unittest.main()
