"""Admin endpoint hardening (issue 10): bounded clock moves, no web page can reset or move kmsd,
and big clock jumps done in bounded batches."""
import http.client
import json
import unittest

from harness import KmsdTestCase

DAY = 86400
CENTURY = 100 * 365.25 * DAY


class AdminHardeningTest(KmsdTestCase):
    def raw(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def offset(self):
        status, body = self.server.admin("GET", "/_kmsd/clock")
        self.assertEqual(status, 200)
        return json.loads(body)["offset_seconds"]

    def test_clock_moves_are_bounded(self):
        for body in ({"advance_seconds": CENTURY + DAY}, {"advance_seconds": 1e300}):
            status, reply = self.server.admin("POST", "/_kmsd/clock", body)
            self.assertEqual(status, 400, reply)
            self.assertIn(b"at most 100 years", reply)
        status, now = self.server.admin("GET", "/_kmsd/clock")
        far = json.loads(now)["now"] + CENTURY + DAY
        status, reply = self.server.admin("POST", "/_kmsd/clock", {"now": far})
        self.assertEqual(status, 400, reply)
        # 1e400 is not a finite double: refused, whether the parser rejects it or not.
        status, _ = self.raw("POST", "/_kmsd/clock", b'{"advance_seconds": 1e400}',
                             {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        status, _ = self.raw("POST", "/_kmsd/clock", b"[" * 50000,
                             {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        self.assertEqual(self.offset(), 0)
        # Up to the bound is fine, in steps that add up.
        self.assertEqual(self.server.admin("POST", "/_kmsd/clock",
                                           {"advance_seconds": CENTURY / 2})[0], 200)
        self.assertEqual(self.server.admin("POST", "/_kmsd/clock",
                                           {"advance_seconds": CENTURY / 2 + DAY})[0], 400)
        self.assertEqual(self.offset(), CENTURY / 2)

    def test_a_body_needs_json_content_type(self):
        body = json.dumps({"advance_seconds": 60}).encode()
        for ct in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            headers = {"Content-Type": ct} if ct else {}
            status, reply = self.raw("POST", "/_kmsd/clock", body, headers)
            self.assertEqual(status, 415, (ct, reply))
        self.assertEqual(self.offset(), 0)
        status, _ = self.raw("POST", "/_kmsd/clock", body,
                             {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(status, 200)
        self.assertEqual(self.offset(), 60)

    def test_foreign_origins_cannot_reset_or_move(self):
        key = self.create_key()["KeyId"]
        host = "127.0.0.1:%d" % self.server.port
        for origin, host_header in (("http://evil.example", host),
                                    ("null", host),
                                    ("https://" + host, host),
                                    # DNS rebinding: the page's name resolves to 127.0.0.1 and
                                    # Origin matches Host, but Host is not loopback or an address.
                                    ("http://evil.example:%d" % self.server.port,
                                     "evil.example:%d" % self.server.port)):
            headers = {"Origin": origin, "Host": host_header}
            for path in ("/_kmsd/reset", "/moto-api/reset"):
                status, reply = self.raw("POST", path, None, headers)
                self.assertEqual(status, 403, (origin, path, reply))
            status, _ = self.raw("POST", "/_kmsd/clock", b'{"advance_seconds": 60}',
                                 dict(headers, **{"Content-Type": "application/json"}))
            self.assertEqual(status, 403, origin)
        self.assertEqual(self.offset(), 0)
        self.assertEqual(self.kms.describe_key(KeyId=key)["KeyMetadata"]["KeyId"], key)
        # kmsd's own origin (the web console's) is allowed.
        status, _ = self.raw("POST", "/_kmsd/clock", b'{"advance_seconds": 60}',
                             {"Origin": "http://" + host, "Host": host,
                              "Content-Type": "application/json"})
        self.assertEqual(status, 200)
        status, _ = self.raw("POST", "/_kmsd/reset", None,
                             {"Origin": "http://localhost:%d" % self.server.port,
                              "Host": "localhost:%d" % self.server.port})
        self.assertEqual(status, 200)

    def test_moto_style_reset_without_origin_or_body(self):
        key = self.create_key()["KeyId"]
        status, _ = self.raw("POST", "/moto-api/reset")
        self.assertEqual(status, 200)
        with self.assertRaises(self.kms.exceptions.NotFoundException):
            self.kms.describe_key(KeyId=key)

    def test_a_century_of_rotations_in_bounded_batches(self):
        # 100 years at the shortest period (90 days) is 405 rotations for one key: more than one
        # batch (256), so the catch-up spans transactions and still makes every rotation, each
        # dated one period after the one before.
        key = self.create_key()["KeyId"]
        self.kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=90)
        before = self.kms.get_key_rotation_status(KeyId=key)["NextRotationDate"].timestamp()
        status, reply = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": CENTURY - DAY})
        self.assertEqual(status, 200, reply)
        now = json.loads(reply)["now"]
        rotations = []
        for page in self.kms.get_paginator("list_key_rotations").paginate(KeyId=key):
            rotations += page["Rotations"]
        expected = int((now - before) // (90 * DAY)) + 1
        self.assertEqual(len(rotations), expected)
        self.assertGreater(expected, 256)
        dates = [r["RotationDate"].timestamp() for r in rotations]
        self.assertEqual(dates, sorted(dates))
        self.assertAlmostEqual(dates[1] - dates[0], 90 * DAY, delta=1)
        # The key still works, with its newest material.
        blob = self.kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob)["Plaintext"], b"x")


if __name__ == "__main__":
    unittest.main()
