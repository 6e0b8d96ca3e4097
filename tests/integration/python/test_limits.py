"""--max-connections with a small N: connection N+1 is closed at once, without a reply, while the
N connections already open keep being served on the same sockets; closing one makes room again
(src/server/server.cpp: the listener accepts and closes connections beyond the limit).

The alias quota (50 per key, kms-reference §7.1) is tested in test_keys.AliasTest; the flood
variants (10,000 connections) in test_hostile.
"""

import http.client
import socket
import time
import unittest

from harness import KmsdTestCase

N = 8
REQUEST = (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: TrentService.GenerateRandom\r\n"
           b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 19\r\n\r\n"
           b'{"NumberOfBytes":8}')


class MaxConnectionsTest(KmsdTestCase):
    server_args = ["--max-connections", str(N)]
    reset_between_tests = False  # a reset is a connection too; nothing here keeps state

    def served(self, conn):
        """One GenerateRandom on this keep-alive connection; asserts it was answered on the same
        socket (http.client would silently open a new one if kmsd had closed it)."""
        sock = conn.sock
        status, headers, body = self.server.call("GenerateRandom", {"NumberOfBytes": 8}, conn=conn)
        self.assertEqual(status, 200, body)
        self.assertEqual(len(body["Plaintext"]), 12)  # base64 of 8 bytes
        self.assertNotEqual(headers.get("connection", "").lower(), "close")
        if sock is not None:
            self.assertIs(conn.sock, sock, "the connection was reopened")

    def open_served(self):
        """A new keep-alive connection that has been served once. Connections closed just before
        (by an earlier test or the harness's health check) are released by kmsd a moment later,
        so a refusal is retried for a few seconds."""
        deadline = time.monotonic() + 5
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=5)
            try:
                self.served(conn)
                self.addCleanup(conn.close)
                return conn
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def assertClosedAtOnce(self):
        """A connection over the limit is accepted and closed: no reply, within a second."""
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", self.server.port), timeout=5)
        try:
            try:
                s.sendall(REQUEST)
                data = s.recv(4096)
            except (ConnectionResetError, BrokenPipeError):
                data = b""
            # socket.timeout (no answer and not closed) is not caught: it fails the test.
        finally:
            s.close()
        self.assertEqual(data, b"", "a connection over the limit was answered")
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_connection_over_the_limit_is_closed_while_the_others_are_served(self):
        conns = [self.open_served() for _ in range(N)]
        self.assertClosedAtOnce()
        for conn in conns:
            self.served(conn)
        self.assertClosedAtOnce()  # still full: the limit holds, not a one-off
        for conn in conns:
            self.served(conn)

    def test_closing_a_connection_makes_room(self):
        conns = [self.open_served() for _ in range(N)]
        self.assertClosedAtOnce()
        conns.pop().close()
        conns.append(self.open_served())  # retried until kmsd has released the closed one
        self.assertClosedAtOnce()
        for conn in conns:
            self.served(conn)


if __name__ == "__main__":
    unittest.main()
