"""GET /_kmsd/metrics (issue 14): Prometheus text format, checked by promtool (Debian's
prometheus package; tools/dev.sh unpacks it and names it in KMSD_PROMTOOL), counting what boto3
calls do."""
import http.client
import os
import re
import shutil
import subprocess
import unittest

from botocore.exceptions import ClientError

from harness import KmsdTestCase

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def promtool():
    path = os.environ.get("KMSD_PROMTOOL") or shutil.which("promtool")
    if not path or not os.access(path, os.X_OK):
        raise AssertionError("promtool not found: run the tests through tools/dev.sh test, which "
                             "unpacks Debian's prometheus package and sets KMSD_PROMTOOL")
    return path


def check_metrics(text):
    """promtool's verdict on a page: (exit code, what it printed)."""
    r = subprocess.run([promtool(), "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode()


class MetricsTest(KmsdTestCase):
    def scrape(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
        try:
            conn.request("GET", "/_kmsd/metrics")
            r = conn.getresponse()
            body = r.read().decode()
            self.assertEqual(r.status, 200, body)
            self.assertEqual(r.getheader("Content-Type"),
                             "text/plain; version=0.0.4; charset=utf-8")
            return body
        finally:
            conn.close()

    def samples(self, text):
        out = {}
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = SAMPLE.match(line)
            self.assertIsNotNone(m, line)
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
        return out

    def test_the_page_passes_promtool_and_promtool_is_not_blind(self):
        self.kms.create_key()
        page = self.scrape()
        rc, out = check_metrics(page)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.strip(), "", "promtool lint findings")
        # The same checker refuses a broken page, so the check above can fail.
        broken = page.replace("kmsd_requests_total", "kmsd_requests", 1) + "bad line{\n"
        self.assertNotEqual(check_metrics(broken)[0], 0)

    def test_requests_are_counted_by_operation_and_type(self):
        before = self.samples(self.scrape())
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        for _ in range(5):
            blob = self.kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
        self.kms.decrypt(CiphertextBlob=blob)
        with self.assertRaises(ClientError):
            self.kms.describe_key(KeyId="alias/not-there")
        with self.assertRaises(ClientError):
            self.kms.encrypt(KeyId=key, Plaintext=b"")  # ValidationException
        after = self.samples(self.scrape())

        def delta(name):
            return after.get(name, 0) - before.get(name, 0)

        self.assertEqual(delta('kmsd_requests_total{operation="Encrypt",error_type="none"}'), 5)
        self.assertEqual(delta('kmsd_requests_total{operation="Decrypt",error_type="none"}'), 1)
        self.assertEqual(delta('kmsd_requests_total{operation="DescribeKey",'
                               'error_type="NotFoundException"}'), 1)
        self.assertEqual(delta('kmsd_requests_total{operation="Encrypt",'
                               'error_type="ValidationException"}'), 1)
        self.assertEqual(delta('kmsd_request_duration_seconds_count{operation="Encrypt"}'), 6)
        # Buckets are cumulative and end at the count.
        buckets = [(k, v) for k, v in after.items()
                   if k.startswith('kmsd_request_duration_seconds_bucket{operation="Encrypt"')]
        self.assertEqual(len(buckets), 17)
        values = [v for _, v in buckets]
        self.assertEqual(values, sorted(values))
        self.assertEqual(after['kmsd_request_duration_seconds_bucket{operation="Encrypt",le="+Inf"}'],
                         after['kmsd_request_duration_seconds_count{operation="Encrypt"}'])
        self.assertGreater(after['kmsd_request_duration_seconds_sum{operation="Encrypt"}'], 0)
        # The key, by state, spec and origin; boto3's kept-alive connection is open.
        self.assertGreaterEqual(after['kmsd_keys{state="Enabled",key_spec="SYMMETRIC_DEFAULT",'
                                      'origin="AWS_KMS"}'], 1)
        self.assertGreaterEqual(after["kmsd_open_connections"], 1)
        self.assertGreater(delta("kmsd_sqlite_write_duration_seconds_count"), 0)

    def test_scheduled_deletions_are_counted(self):
        key = self.kms.create_key()["KeyMetadata"]["KeyId"]
        self.kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        before = self.samples(self.scrape())
        status, _ = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": 8 * 86400})
        self.assertEqual(status, 200)
        after = self.samples(self.scrape())
        self.assertEqual(after['kmsd_scheduled_work_total{kind="deletion"}'] -
                         before['kmsd_scheduled_work_total{kind="deletion"}'], 1)
        self.assertGreater(after["kmsd_scheduler_runs_total"], before["kmsd_scheduler_runs_total"])

    def test_only_get(self):
        status, _ = self.server.admin("POST", "/_kmsd/metrics", {})
        self.assertEqual(status, 405)


class MetricsTokenTest(KmsdTestCase):
    server_args = ["--admin-token", "t0ken"]
    reset_between_tests = False

    def test_the_token_is_needed(self):
        for headers, want in (({}, 401), ({"Authorization": "Bearer t0ken"}, 200)):
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
            try:
                conn.request("GET", "/_kmsd/metrics", headers=headers)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, want)
            finally:
                conn.close()


if __name__ == "__main__":
    unittest.main()
