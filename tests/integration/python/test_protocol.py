"""The wire protocol with raw HTTP (http.client, no SDK): targets, content
type, JSON errors, request IDs, body limit, slow clients, many connections,
admin endpoints.

Reference: kms-reference.md §1; design.md §2 and §7.
"""

import base64
import concurrent.futures
import http.client
import json
import re
import socket
import threading
import time
import unittest

from harness import KmsdServer, KmsdTestCase, b64

REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
JSON11 = "application/x-amz-json-1.1"


def read_http_response(f):
    """Read one HTTP/1.1 response with a Content-Length body from a binary file."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    return status, headers, f.read(n)


class ProtocolTest(KmsdTestCase):

    def assertRequestId(self, headers):
        self.assertIn("x-amzn-requestid", headers, headers)
        self.assertRegex(headers["x-amzn-requestid"], REQUEST_ID)

    def assertError(self, status, headers, body, code, want_status=400):
        self.assertEqual(status, want_status, body)
        self.assertRequestId(headers)
        doc = json.loads(body)
        self.assertIsInstance(doc, dict, body)
        self.assertEqual(doc.get("__type"), code, body)
        return doc

    # ---- targets ---------------------------------------------------------

    def test_unknown_operation(self):
        status, headers, body = self.server.raw("TrentService.NoSuchThing", {})
        self.assertEqual(status, 400)
        self.assertEqual(body, b'{"__type":"UnknownOperationException"}')
        self.assertRequestId(headers)

    def test_target_with_wrong_prefix(self):
        status, headers, body = self.server.raw("DynamoDB_20120810.ListTables", {})
        self.assertError(status, headers, body, "UnknownOperationException")
        status, headers, body = self.server.raw("Encrypt", {})
        self.assertError(status, headers, body, "UnknownOperationException")

    def test_target_case_sensitive(self):
        status, headers, body = self.server.raw("TrentService.generaterandom",
                                                {"NumberOfBytes": 8})
        self.assertError(status, headers, body, "UnknownOperationException")

    def test_missing_target(self):
        status, headers, body = self.server.raw(None, {"NumberOfBytes": 8})
        self.assertError(status, headers, body, "UnknownOperationException")

    def test_wrong_content_type(self):
        # README, compatibility choices: a wrong Content-Type names no operation.
        for content_type in ("text/plain", "application/json", None):
            with self.subTest(content_type=content_type):
                status, headers, body = self.server.raw("TrentService.GenerateRandom",
                                                        {"NumberOfBytes": 8},
                                                        content_type=content_type)
                self.assertEqual(status, 400, body)
                self.assertRequestId(headers)
                self.assertEqual(body, b'{"__type":"UnknownOperationException"}')

    # ---- success shape ---------------------------------------------------

    def test_success_headers(self):
        status, headers, body = self.server.call("GenerateRandom", {"NumberOfBytes": 16})
        self.assertEqual(status, 200)
        self.assertRequestId(headers)
        self.assertEqual(headers.get("content-type"), JSON11)
        self.assertEqual(len(base64.b64decode(body["Plaintext"], validate=True)), 16)

    def test_request_ids_unique(self):
        ids = set()
        for _ in range(20):
            _, headers, _ = self.server.raw("TrentService.GenerateRandom", {"NumberOfBytes": 1})
            ids.add(headers["x-amzn-requestid"])
        for _ in range(5):
            _, headers, _ = self.server.raw("TrentService.Nope", {})
            ids.add(headers["x-amzn-requestid"])
        self.assertEqual(len(ids), 25)

    def test_no_output_operation(self):
        status, _, body = self.server.call("CreateKey", {})
        self.assertEqual(status, 200)
        kid = body["KeyMetadata"]["KeyId"]
        status, headers, raw = self.server.raw("TrentService.DisableKey", {"KeyId": kid})
        self.assertEqual(status, 200)
        self.assertRequestId(headers)
        # AWS's form is not recorded (both parse); kmsd documents an empty body.
        self.assertEqual(raw, b"")
        self.assertEqual(headers.get("content-length"), "0")
        # And it did what it says.
        status, _, body = self.server.call("DescribeKey", {"KeyId": kid})
        self.assertEqual(body["KeyMetadata"]["KeyState"], "Disabled")

    def test_json_shapes_of_key_metadata(self):
        status, _, body = self.server.call("CreateKey", {"Description": "raw"})
        self.assertEqual(status, 200)
        md = body["KeyMetadata"]
        # Timestamps are JSON numbers of epoch seconds; no nulls anywhere.
        self.assertIsInstance(md["CreationDate"], (int, float))
        self.assertGreater(md["CreationDate"], time.time() - 300)
        self.assertLess(md["CreationDate"], time.time() + 300)
        self.assertNotIn(None, md.values())
        self.assertIs(md["Enabled"], True)
        self.assertIs(md["MultiRegion"], False)
        status, _, body = self.server.call("ListKeys", {})
        self.assertIs(body["Truncated"], False)
        self.assertNotIn("NextMarker", body)

    def test_error_body_shape(self):
        status, headers, body = self.server.raw("TrentService.DescribeKey",
                                                {"KeyId": "fake-key-id"})
        doc = self.assertError(status, headers, body, "NotFoundException")
        self.assertEqual(doc, {"__type": "NotFoundException",
                               "message": "Invalid keyId 'fake-key-id'"})
        self.assertEqual(headers.get("content-type"), JSON11)

    def test_invalid_ciphertext_has_no_message_member(self):
        status, _, body = self.server.call("CreateKey", {})
        kid = body["KeyMetadata"]["KeyId"]
        status, _, enc = self.server.call("Encrypt", {"KeyId": kid, "Plaintext": b64(b"hi")})
        self.assertEqual(status, 200)
        blob = base64.b64decode(enc["CiphertextBlob"])
        status, headers, raw = self.server.raw("TrentService.Decrypt",
                                               {"CiphertextBlob": b64(blob + b"\x00")})
        self.assertError(status, headers, raw, "InvalidCiphertextException")
        self.assertEqual(json.loads(raw), {"__type": "InvalidCiphertextException"})

    def test_blobs_are_padded_standard_base64(self):
        status, _, body = self.server.call("CreateKey", {})
        kid = body["KeyMetadata"]["KeyId"]
        status, _, enc = self.server.call("GenerateDataKey", {"KeyId": kid, "NumberOfBytes": 1})
        self.assertEqual(status, 200)
        for member in ("CiphertextBlob", "Plaintext"):
            s = enc[member]
            self.assertEqual(len(s) % 4, 0, s)
            self.assertRegex(s, r"^[A-Za-z0-9+/]+={0,2}$")
        self.assertEqual(len(enc["CiphertextBlob"]), 204)  # 153 bytes
        self.assertTrue(enc["CiphertextBlob"].startswith("AQIDAH"))

    # ---- malformed input ---------------------------------------------------

    def test_serialization_errors(self):
        cases = {
            "malformed JSON": b'{"NumberOfBytes":',
            "trailing garbage": b'{"NumberOfBytes":8} x',
            "empty body": b"",
            "not an object": b"[]",
            "string body": b'"hello"',
            "number as string": b'{"NumberOfBytes":"8"}',
            "number as bool": b'{"NumberOfBytes":true}',
            "number as object": b'{"NumberOfBytes":{}}',
            "duplicate member": b'{"NumberOfBytes":8,"NumberOfBytes":16}',
            "invalid utf-8": b'{"NumberOfBytes":8,"x":"\xff\xfe"}',
        }
        for name, body in cases.items():
            with self.subTest(case=name):
                status, headers, raw = self.server.raw("TrentService.GenerateRandom", body)
                self.assertError(status, headers, raw, "SerializationException")

    def test_wrong_types_for_other_ops(self):
        cases = [
            ("DescribeKey", b'{"KeyId":5}'),
            ("DescribeKey", b'{"KeyId":["a"]}'),
            ("Encrypt", b'{"KeyId":"alias/x","Plaintext":5}'),
            ("Encrypt", b'{"KeyId":"alias/x","Plaintext":"aGk=","EncryptionContext":["a"]}'),
            ("Encrypt", b'{"KeyId":"alias/x","Plaintext":"aGk=","EncryptionContext":{"a":1}}'),
            ("CreateKey", b'{"MultiRegion":"yes"}'),
            ("CreateKey", b'{"Tags":{"TagKey":"a"}}'),
            ("ListKeys", b'{"Limit":"10"}'),
        ]
        for op, body in cases:
            with self.subTest(op=op, body=body):
                status, headers, raw = self.server.raw("TrentService." + op, body)
                self.assertError(status, headers, raw, "SerializationException")

    def test_duplicate_member_in_nested_object(self):
        status, headers, raw = self.server.raw(
            "TrentService.Encrypt",
            b'{"KeyId":"alias/x","Plaintext":"aGk=","EncryptionContext":{"a":"1","a":"2"}}')
        self.assertError(status, headers, raw, "SerializationException")

    def test_invalid_base64(self):
        status, _, body = self.server.call("CreateKey", {})
        kid = body["KeyMetadata"]["KeyId"]
        for bad in ("!!!!", "a", "aGk=aGk=", "aGk=="):
            with self.subTest(plaintext=bad):
                status, headers, raw = self.server.raw(
                    "TrentService.Encrypt", {"KeyId": kid, "Plaintext": bad})
                # README, compatibility choices: invalid base64 is a SerializationException.
                self.assertError(status, headers, raw, "SerializationException")

    def test_unknown_members_ignored(self):
        status, headers, body = self.server.call(
            "GenerateRandom", {"NumberOfBytes": 8, "Foo": "bar", "Nested": {"a": [1, 2, None]},
                               "Bool": True})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(base64.b64decode(body["Plaintext"])), 8)
        status, _, body = self.server.call("CreateKey", {"Description": "u", "Unknown": 1})
        self.assertEqual(status, 200, body)
        self.assertEqual(body["KeyMetadata"]["Description"], "u")

    def test_keep_alive_after_error(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=10)
        try:
            status, _, body = self.server.raw("TrentService.DescribeKey", {"KeyId": "nope"},
                                              conn=conn)
            self.assertEqual(status, 400)
            sock = conn.sock
            self.assertIsNotNone(sock)
            status, _, body = self.server.raw("TrentService.Nope", {}, conn=conn)
            self.assertEqual(status, 400)
            status, _, body = self.server.raw("TrentService.GenerateRandom", b"{", conn=conn)
            self.assertEqual(status, 400)
            status, _, body = self.server.raw("TrentService.GenerateRandom",
                                              {"NumberOfBytes": 4}, conn=conn)
            self.assertEqual(status, 200)
            self.assertIs(conn.sock, sock, "connection was closed after an error response")
        finally:
            conn.close()

    def test_concurrent_crypto_is_consistent(self):
        keys = [self.kms.create_key()["KeyMetadata"] for _ in range(4)]
        errors = []

        def worker(i):
            kms = self.server.client()
            k = keys[i % len(keys)]
            for j in range(40):
                pt = ("%d-%d" % (i, j)).encode() * (1 + j % 7)
                ctx = {"w": str(i), "j": str(j)}
                enc = kms.encrypt(KeyId=k["KeyId"], Plaintext=pt, EncryptionContext=ctx)
                dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext=ctx)
                if dec["Plaintext"] != pt or dec["KeyId"] != k["Arn"]:
                    errors.append((i, j))

        done = []

        def run(i):
            # An exception in a thread would only be printed: record it so that it fails the test.
            try:
                worker(i)
                done.append(i)
            except Exception as e:
                errors.append((i, repr(e)))

        threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            self.assertFalse(t.is_alive(), "a worker hung")
        self.assertEqual(errors, [])
        self.assertEqual(sorted(done), list(range(8)))

    # ---- body size limit -------------------------------------------------

    def test_body_over_512k(self):
        # Sent whole, declared by Content-Length or in chunks (nothing declared): 413 either way
        # (README, compatibility choices). The reply is read even if kmsd closed the connection
        # while the body was still being sent.
        big = b'{"NumberOfBytes":8,"Pad":"' + b"a" * (600 * 1024) + b'"}'
        signed = self.server.signed_headers("TrentService.GenerateRandom", big)
        head = "POST / HTTP/1.1\r\n" + "".join("%s: %s\r\n" % kv for kv in signed.items())
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 16384]), big[i:i + 16384])
                          for i in range(0, len(big), 16384)) + b"0\r\n\r\n"
        for name, payload in (
                ("declared", (head + "Content-Length: %d\r\n\r\n" % len(big)).encode() + big),
                ("chunked", (head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks)):
            with self.subTest(name):
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
                try:
                    try:
                        s.sendall(payload)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # refused before all of it was read; the reply is there
                    status, headers, body = read_http_response(s.makefile("rb"))
                finally:
                    s.close()
                self.assertEqual(status, 413, body)
                self.assertEqual(json.loads(body), {"message": "Request body too large"})
                self.assertEqual(headers.get("connection", "").lower(), "close", headers)
        # The server still serves.
        status, _, _ = self.server.raw("TrentService.GenerateRandom", {"NumberOfBytes": 8})
        self.assertEqual(status, 200)
        self.assertEqual(self.server.health()[0], 200)

    def test_body_under_limit_accepted(self):
        # 100 KiB of ignored padding is within the 512 KiB limit.
        body = {"NumberOfBytes": 8, "Pad": "a" * (100 * 1024)}
        status, _, parsed = self.server.call("GenerateRandom", body)
        self.assertEqual(status, 200, parsed)

    def test_huge_declared_content_length(self):
        # A declared length over the 512 KiB body limit is refused from the headers alone:
        # 413 with Connection: close, then the server closes (it does not wait for the body).
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.GenerateRandom\r\n"
                      b"Content-Type: application/x-amz-json-1.1\r\n"
                      b"Content-Length: 10000000000\r\n\r\n{")
            f = s.makefile("rb")
            try:
                status, headers, body = read_http_response(f)
                rest = f.read()
            except TimeoutError:
                self.fail("server neither answered nor closed within 5 s")
            self.assertEqual(status, 413, body)
            self.assertEqual(headers.get("connection", "").lower(), "close", headers)
            self.assertEqual(headers.get("content-type"), "application/json", headers)
            self.assertRequestId(headers)
            self.assertEqual(json.loads(body), {"message": "Request body too large"})
            self.assertEqual(rest, b"")  # then end of stream, nothing more
        finally:
            s.close()
        self.assertEqual(self.server.health()[0], 200)

    # ---- slow and many clients -------------------------------------------

    def test_stalled_client_does_not_block_others(self):
        stalled = []
        try:
            for partial in (b"POST / HTTP/1.1\r\nHost: x\r\n",
                            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                            b"X-Amz-Target: TrentService.GenerateRandom\r\n\r\n{\"Numb",
                            b"P"):
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
                s.sendall(partial)
                stalled.append(s)
            # Occupy more connections than there are cores with stalled requests.
            for _ in range(8):
                s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{")
                stalled.append(s)
            t0 = time.monotonic()
            for _ in range(20):
                status, _, _ = self.server.raw("TrentService.GenerateRandom", {"NumberOfBytes": 4})
                self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - t0, 5.0)
            self.assertEqual(self.server.health()[0], 200)
        finally:
            for s in stalled:
                s.close()

    def test_thousand_concurrent_keepalive_connections(self):
        n = 1000
        deadline = time.monotonic() + 30
        conns = []
        try:
            for _ in range(n):
                c = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=20)
                c.connect()
                conns.append(c)
            body = json.dumps({"NumberOfBytes": 16}).encode()
            barrier = threading.Barrier(100)

            def work(idx):
                results = []
                for round_ in range(2):
                    for c in conns[idx::100]:
                        if round_ == 0 and c is conns[idx]:
                            barrier.wait(timeout=20)
                        sock_before = c.sock
                        headers = self.server.signed_headers("TrentService.GenerateRandom", body)
                        c.request("POST", "/", body=body, headers=headers)
                        r = c.getresponse()
                        data = r.read()
                        problems = []
                        if r.status != 200:
                            problems.append("status %d" % r.status)
                        elif len(base64.b64decode(json.loads(data)["Plaintext"])) != 16:
                            problems.append("wrong size")
                        if sock_before is None or c.sock is not sock_before:
                            problems.append("connection was not kept alive")
                        if (r.getheader("Connection") or "").lower() == "close":
                            problems.append("Connection: close")
                        results.append((not problems, problems, data[:100]))
                return results

            with concurrent.futures.ThreadPoolExecutor(max_workers=100) as ex:
                futures = [ex.submit(work, i) for i in range(100)]
                all_results = []
                for f in futures:
                    all_results += f.result(timeout=max(1, deadline - time.monotonic()))
            self.assertEqual(len(all_results), 2 * n)
            bad = [r for r in all_results if not r[0]]
            self.assertEqual(len(bad), 0, "%d of %d failed, e.g. %r"
                             % (len(bad), len(all_results), bad[:3]))
            self.assertLess(time.monotonic(), deadline)
        finally:
            for c in conns:
                c.close()
        self.assertEqual(self.server.health()[0], 200)

    def test_pipelined_requests_answered_in_order(self):
        bodies = [json.dumps({"NumberOfBytes": n}).encode() for n in (1, 2, 3)]
        payload = b""
        for b in bodies:
            h = self.server.signed_headers("TrentService.GenerateRandom", b)
            lines = ["POST / HTTP/1.1"] + ["%s: %s" % kv for kv in h.items()] + [
                "Content-Length: %d" % len(b)]
            payload += ("\r\n".join(lines) + "\r\n\r\n").encode() + b
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            s.sendall(payload)
            f = s.makefile("rb")
            sizes = []
            for _ in bodies:
                status, _headers, data = read_http_response(f)
                self.assertEqual(status, 200, data)
                sizes.append(len(base64.b64decode(json.loads(data)["Plaintext"])))
            self.assertEqual(sizes, [1, 2, 3])
        finally:
            s.close()

    # ---- admin endpoints -------------------------------------------------

    def test_health(self):
        status, body = self.server.health()
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})

    def _reset_wipes(self, path):
        kms = self.kms
        md = kms.create_key()["KeyMetadata"]
        kms.create_alias(AliasName="alias/wipe", TargetKeyId=md["KeyId"])
        kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "a", "TagValue": "b"}])
        self.assertEqual(len(kms.list_keys()["Keys"]), 1)
        status, _ = self.server.admin("POST", path)
        self.assertEqual(status, 200)
        self.assertEqual(kms.list_keys()["Keys"], [])
        self.assertNotIn("alias/wipe", [a["AliasName"] for a in kms.list_aliases()["Aliases"]])
        self.assertEqual(
            self.server.call("DescribeKey", {"KeyId": md["KeyId"]})[2]["__type"],
            "NotFoundException")
        # Still usable afterwards.
        md2 = kms.create_key()["KeyMetadata"]
        self.assertEqual(kms.encrypt(KeyId=md2["KeyId"], Plaintext=b"x")["KeyId"], md2["Arn"])

    def test_reset(self):
        self._reset_wipes("/_kmsd/reset")

    def test_moto_reset(self):
        self._reset_wipes("/moto-api/reset")

    def test_reset_wipes_all_regions(self):
        west = self.server.client(region="us-west-2")
        west.create_key()
        self.server.reset()
        self.assertEqual(west.list_keys()["Keys"], [])



class TransportEdgesTest(unittest.TestCase):
    """Transport-level behaviour that needs its own server options."""

    @classmethod
    def setUpClass(cls):
        cls.server = KmsdServer(extra_args=["--request-timeout", "1"])
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_client_that_never_finishes_headers_is_cut_off(self):
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=10)
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            self.assertEqual(s.recv(100), b"")  # the server closed the connection
            took = time.monotonic() - t0
            # Cut off by the 1 s request timeout: not at once (that would be some other refusal),
            # and not much later.
            self.assertGreater(took, 0.5)
            self.assertLess(took, 8)
        finally:
            s.close()
        self.assertEqual(self.server.health()[0], 200)

    def test_expect_100_continue(self):
        body = json.dumps({"NumberOfBytes": 8}).encode()
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        try:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Type: application/x-amz-json-1.1\r\n"
                      b"X-Amz-Target: TrentService.GenerateRandom\r\n"
                      b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            interim = s.recv(1000)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            s.sendall(body)
            final = b""
            while b"\r\n\r\n" not in final or not final.rstrip().endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                final += chunk
            self.assertTrue(final.startswith(b"HTTP/1.1 200 OK\r\n"), final)
            payload = json.loads(final.split(b"\r\n\r\n", 1)[1])
            self.assertEqual(len(base64.b64decode(payload["Plaintext"])), 8)
        finally:
            s.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
