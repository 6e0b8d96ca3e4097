"""A fake external key store (XKS) proxy for the integration tests: AWS's XKS Proxy API v1 over
HTTPS, in a background thread of the test process, with real AES-256-GCM and a switch to make it
misbehave in every way kmsd has to cope with.

    proxy = FakeXksProxy("XKSAKIDABCDEFGHIJKLM2345", "<43-64 chars>")   # starts serving
    proxy.add_key("key-1")
    ...  # kmsd --xks-endpoint-map xks.example.com=127.0.0.1:<proxy.port> --xks-ca-file <proxy.ca_file>
    proxy.set_mode("slow", ops={"encrypt"})
    proxy.requests[-1]["body"]["requestMetadata"]["kmsOperation"]
    proxy.close()

Every request is recorded (path, operation, parsed body, headers, the outcome of the signature
check and what was answered). The SigV4 signature (service kms-xks-proxy) is verified
independently of kmsd with botocore's signer; a bad one is answered 401
AuthenticationFailedException. Requests that break the specification in another way (missing
members, bad base64, wrong algorithm) are answered 400 ValidationException and listed by
problems(), so that a test can require kmsd to speak the protocol correctly.

Modes (set_mode / the `mode` attribute), applied to the operations in `mode_ops` (None = all):
    ok                      behave
    garbage                 200 with a body that is not JSON
    bad_json_fields         200 with JSON that lacks the required members
    slow                    sleep `slow_seconds` (1.0) before answering normally
    hold                    block until release() (or `hold_seconds`), then answer normally
    unauthorized            401 AuthenticationFailedException
    error:<Name>:<status>   that error, e.g. error:KeyNotFoundException:404
    unhealthy               health: every ekmFleetDetails entry UNAVAILABLE
    bad_cdiv                encrypt: a wrong ciphertextDataIntegrityValue
    long_metadata           encrypt: a 21-byte ciphertextMetadata (the limit is 20)

Operations are named "health", "metadata", "encrypt" and "decrypt".

Run it standalone (python3 xks_fake_proxy.py) for a self-test that talks to it over TLS with a
botocore-signed client.
"""

import base64
import binascii
import contextlib
import datetime
import hashlib
import http.server
import ipaddress
import json
import os
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
import urllib.parse

import botocore.auth
import botocore.awsrequest
import botocore.credentials
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE = "kms-xks-proxy"
DEFAULT_PATH = "/kms/xks/v1"
DEFAULT_HOST = "xks.example.com"
METADATA = b"fx01"  # the ciphertextMetadata this proxy returns (4 bytes, within the 20 allowed)
OPS = ("health", "metadata", "encrypt", "decrypt")
KMS_OPERATIONS = {"CreateCustomKeyStore", "UpdateCustomKeyStore", "ConnectCustomKeyStore",
                  "KmsHealthCheck", "CreateKey", "Encrypt", "Decrypt", "ReEncrypt",
                  "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"}

ERROR_STATUS = {
    "ValidationException": 400, "InvalidStateException": 400,
    "InvalidCiphertextException": 400, "InvalidKeyUsageException": 400,
    "AuthenticationFailedException": 401, "AccessDeniedException": 403,
    "KeyNotFoundException": 404, "InvalidUriPathException": 404,
    "ThrottlingException": 429, "InternalException": 500,
    "UnsupportedOperationException": 501, "DependencyTimeoutException": 503,
}


def b64e(data):
    return base64.b64encode(data).decode()


def b64d(text):
    if not isinstance(text, str):
        raise ValueError("not a string")
    return base64.b64decode(text.encode("ascii"), validate=True)


def cdiv(aad, metadata, iv, ciphertext, tag):
    """The ciphertext data integrity value (SHA_256) over the decoded bytes."""
    return b64e(hashlib.sha256(aad + metadata + iv + ciphertext + tag).digest())


def gcm_aad(aad, metadata):
    """What this proxy authenticates with GCM: u16be(len(aad)) || aad || u8(len(md)) || md."""
    return struct.pack(">H", len(aad)) + aad + struct.pack(">B", len(metadata)) + metadata


def make_certificate(names, directory):
    """A self-signed EC P-256 certificate for `names` (DNS SANs, plus 127.0.0.1), usable both as
    the server's certificate and as the trust anchor. Returns (cert_path, key_path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path = os.path.join(directory, "xks-proxy-cert.pem")
    key_path = os.path.join(directory, "xks-proxy-key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


def parse_authorization(value):
    """AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, SignedHeaders=a;b,
    Signature=hex -> dict, or raise ValueError."""
    prefix = "AWS4-HMAC-SHA256 "
    if not value or not value.startswith(prefix):
        raise ValueError("not an AWS4-HMAC-SHA256 Authorization header")
    parts = {}
    for item in value[len(prefix):].split(","):
        name, sep, val = item.strip().partition("=")
        if not sep:
            raise ValueError("malformed Authorization component %r" % item)
        parts[name] = val
    for name in ("Credential", "SignedHeaders", "Signature"):
        if name not in parts:
            raise ValueError("Authorization lacks " + name)
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise ValueError("malformed credential scope %r" % parts["Credential"])
    return {"access_key_id": scope[0], "date": scope[1], "region": scope[2],
            "service": scope[3], "signed_headers": parts["SignedHeaders"].split(";"),
            "signature": parts["Signature"]}


def sigv4_signature(method, host, path, body, headers, signed_headers, access_key_id, secret,
                    region, amz_date, service=SERVICE):
    """The SigV4 signature botocore computes for this request (headers: lowercase dict)."""
    req = botocore.awsrequest.AWSRequest(
        method=method, url="https://%s%s" % (host, path), data=body,
        headers={h: headers[h] for h in signed_headers})
    req.context["timestamp"] = amz_date
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(access_key_id, secret), service, region)
    canonical = signer.canonical_request(req)
    return signer.signature(signer.string_to_sign(req, canonical), req)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # TLS handshakes kmsd abandons, clients that went away while a "slow" answer slept:
        # expected here, and counted instead of printed.
        self.proxy._note_connection_error()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeXksProxy/1.0"
    timeout = 30  # idle keep-alive connections end eventually

    def setup(self):
        proxy = self.server.proxy
        try:
            self.request.settimeout(10)  # a client that never finishes the handshake
            self.request = proxy._tls.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            proxy._note_tls_failure()
            raise
        proxy._track(self.request, True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.proxy._track(self.request, False)
            # setup() replaced self.request with the TLS socket, which took the descriptor over
            # (the plain socket is detached): the server's shutdown_request() only gets that
            # detached socket, so the TLS socket is closed here rather than left to the garbage
            # collector (ResourceWarning: unclosed <ssl.SSLSocket ...>).
            with contextlib.suppress(OSError):
                self.request.close()

    def log_message(self, fmt, *args):  # quiet
        pass

    def do_POST(self):
        self.server.proxy._handle(self, "POST")

    def do_GET(self):
        self.server.proxy._handle(self, "GET")

    def do_PUT(self):
        self.server.proxy._handle(self, "PUT")


class FakeXksProxy:
    """An XKS proxy on 127.0.0.1:<port> (HTTPS), started by the constructor."""

    def __init__(self, access_key_id, secret, uri_path=DEFAULT_PATH, host_name=DEFAULT_HOST,
                 extra_names=(), region="us-east-1", port=None, slow_seconds=1.0,
                 hold_seconds=30.0):
        self.host_name = host_name
        self.names = [host_name] + list(extra_names)
        self.region = region
        self.uri_path = uri_path
        self.extra_paths = set()  # more URI paths served (UpdateCustomKeyStore tests)
        self.credentials = {access_key_id: secret}
        self.slow_seconds = slow_seconds
        self.hold_seconds = hold_seconds
        self.keys = {}
        self.requests = []
        self.tls_failures = 0
        self.connection_errors = 0
        self.mode = "ok"
        self.mode_ops = None
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._release = threading.Event()
        self._conns = set()
        self._server = None
        self._thread = None
        self.tmp = tempfile.mkdtemp(prefix="fake-xks-")
        self.ca_file, self.key_file = make_certificate(self.names, self.tmp)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self._tls.load_cert_chain(self.ca_file, self.key_file)
        self.port = port
        self.start()

    # ---- lifecycle --------------------------------------------------------

    @property
    def running(self):
        return self._server is not None

    def start(self):
        """Serve (again) on self.port (a free one the first time)."""
        if self._server is not None:
            return self
        last = None
        for _ in range(50):
            try:
                self._server = _Server(("127.0.0.1", self.port or 0), _Handler)
                break
            except OSError as e:  # the old port still busy right after stop()
                last = e
                time.sleep(0.1)
        else:
            raise last
        self._server.proxy = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-xks-%d" % self.port, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop listening and cut every open connection: the proxy is down (nothing listens at
        its port) until start()."""
        self._release.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        self._thread.join(5)

    @contextlib.contextmanager
    def down(self):
        """with proxy.down(): ... the proxy is unreachable inside the block: its port is held
        bound and never listened on, so a connect is refused, and a server elsewhere that asks
        the kernel for a free port (another suite's kmsd or proxy) is not given this one, which
        would turn "cannot connect" into a TLS or HTTP error (test_xks once failed so with a
        port that was only free)."""
        self.stop()
        hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            # The proxy's own connections may linger in TIME_WAIT on this port.
            hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hold.bind(("127.0.0.1", self.port))
            yield self
        finally:
            hold.close()
            self.start()

    def close(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def reset(self):
        """Back to behaving: mode ok, only the constructor's URI path, no records."""
        self.release()
        with self._lock:
            self.mode = "ok"
            self.mode_ops = None
            self.extra_paths = set()
            self.requests = []
            self.tls_failures = 0
            self.connection_errors = 0
            self._release = threading.Event()

    def clear_requests(self):
        """Forget the records only (mode and paths stay)."""
        with self._lock:
            self.requests = []

    # ---- configuration ----------------------------------------------------

    def add_key(self, key_id, spec="AES_256", usage=("ENCRYPT", "DECRYPT"), status="ENABLED"):
        with self._lock:
            self.keys[key_id] = {"spec": spec, "usage": list(usage), "status": status,
                                 "material": AESGCM.generate_key(bit_length=256)}

    def add_credential(self, access_key_id, secret):
        with self._lock:
            self.credentials[access_key_id] = secret

    def set_mode(self, mode, ops=None):
        """mode for the operations in `ops` (an iterable of health/metadata/encrypt/decrypt;
        None = all of them)."""
        if mode.startswith("error:"):
            _name, status = self._error_of(mode)
            assert status > 0, mode
        elif mode not in ("ok", "garbage", "bad_json_fields", "slow", "hold", "unauthorized",
                          "unhealthy", "bad_cdiv", "long_metadata"):
            raise ValueError("unknown mode %r" % mode)
        with self._lock:
            self.mode = mode
            self.mode_ops = None if ops is None else set(ops)
            if mode == "hold":
                self._release = threading.Event()

    def release(self):
        """Let held requests go on."""
        self._release.set()

    @property
    def uri_paths(self):
        return {self.uri_path} | set(self.extra_paths)

    # ---- what happened ----------------------------------------------------

    def requests_for(self, op=None, kms_operation=None):
        """The recorded requests, optionally only those of one operation (health, metadata,
        encrypt, decrypt) and/or one requestMetadata.kmsOperation."""
        with self._lock:
            found = list(self.requests)
        if op is not None:
            found = [r for r in found if r["op"] == op]
        if kms_operation is not None:
            found = [r for r in found if r["kms_operation"] == kms_operation]
        return found

    def problems(self):
        """(path, problem) for every request that broke the specification (not counting
        requests rejected only for their credential, which tests provoke)."""
        with self._lock:
            return [(r["path"], p) for r in self.requests for p in r["problems"]]

    def wait_for_request(self, op=None, count=1, timeout=10.0):
        """Block until `count` requests (of `op`) have arrived; returns them or raises."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [r for r in self.requests if op is None or r["op"] == op]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("fake XKS proxy: %d %s request(s) after %.1fs, wanted %d"
                                         % (len(found), op or "any", timeout, count))
                self._arrived.wait(left)

    def _note_tls_failure(self):
        with self._lock:
            self.tls_failures += 1

    def _note_connection_error(self):
        with self._lock:
            self.connection_errors += 1

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ---- the protocol -----------------------------------------------------

    def _route(self, path):
        """(op, xks_key_id) or (None, None) for a path this proxy does not serve."""
        for base in sorted(self.uri_paths, key=len, reverse=True):
            if not path.startswith(base + "/"):
                continue
            rest = path[len(base):]
            if rest == "/health":
                return "health", None
            parts = rest.split("/")
            # ["", "keys", id, op]
            if (len(parts) == 4 and parts[1] == "keys" and parts[2]
                    and parts[3] in ("metadata", "encrypt", "decrypt")):
                return parts[3], urllib.parse.unquote(parts[2])
        return None, None

    def _verify(self, method, path, body, headers):
        """None when the SigV4 signature is right for a credential this proxy knows, else why
        not."""
        try:
            auth = parse_authorization(headers.get("authorization"))
        except ValueError as e:
            return str(e)
        amz_date = headers.get("x-amz-date", "")
        if len(amz_date) != 16 or not amz_date.endswith("Z") or "T" not in amz_date:
            return "bad or missing x-amz-date %r" % amz_date
        if auth["date"] != amz_date[:8]:
            return "credential scope date %s is not the x-amz-date's" % auth["date"]
        if auth["service"] != SERVICE:
            return "credential scope service %r" % auth["service"]
        if auth["region"] != self.region:
            return "credential scope region %r" % auth["region"]
        signed = auth["signed_headers"]
        if "host" not in signed or "x-amz-date" not in signed:
            return "SignedHeaders %r lack host or x-amz-date" % signed
        if signed != sorted(signed):
            return "SignedHeaders not sorted: %r" % signed
        for h in signed:
            if h not in headers:
                return "signed header %r absent" % h
        with self._lock:
            secret = self.credentials.get(auth["access_key_id"])
        if secret is None:
            return "unknown access key id %r" % auth["access_key_id"]
        expected = sigv4_signature(method, headers["host"], path, body, headers, signed,
                                   auth["access_key_id"], secret, auth["region"], amz_date)
        if expected != auth["signature"]:
            return "signature mismatch"
        return None

    @staticmethod
    def _error_of(mode):
        _, name, status = (mode.split(":") + ["", ""])[:3]
        try:
            return name, int(status)
        except ValueError:
            return name, ERROR_STATUS.get(name, 0)

    def _handle(self, handler, method):
        raw_path = handler.path
        path = urllib.parse.urlsplit(raw_path).path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = 0
        body = handler.rfile.read(length) if length > 0 else b""
        op, key_id = self._route(path)
        record = {"method": method, "path": path, "raw_path": raw_path, "op": op,
                  "key_id": key_id, "headers": headers, "raw_body": body, "body": None,
                  "kms_operation": None, "auth_ok": None, "auth_error": None,
                  "access_key_id": None, "problems": [], "status": None, "response": None,
                  "raw_response": None, "time": time.monotonic()}
        try:
            record["access_key_id"] = parse_authorization(
                headers.get("authorization"))["access_key_id"]
        except ValueError:
            pass
        try:
            record["body"] = json.loads(body) if body else None
        except ValueError:
            pass
        if isinstance(record["body"], dict):
            meta = record["body"].get("requestMetadata")
            if isinstance(meta, dict):
                record["kms_operation"] = meta.get("kmsOperation")
        with self._arrived:
            self.requests.append(record)
            self._arrived.notify_all()
            mode, mode_ops = self.mode, self.mode_ops
            release = self._release

        def answer(status, payload):
            if isinstance(payload, (dict, list)):
                data = json.dumps(payload).encode()
                record["response"] = payload
            else:
                data = payload
            record["status"] = status
            record["raw_response"] = data
            try:
                handler.send_response(status)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(data)))
                if status == 405:
                    handler.send_header("Allow", "POST")
                handler.end_headers()
                handler.wfile.write(data)
                handler.wfile.flush()
            except OSError:  # the client gave up (a "slow" answer after kmsd's timeout)
                self._note_connection_error()
                handler.close_connection = True

        def error(name, status=None):
            answer(status or ERROR_STATUS[name], {"errorName": name})

        if op is None:
            return error("InvalidUriPathException")
        if method != "POST":
            return answer(405, {"errorName": "ValidationException"})
        why = self._verify(method, path, body, headers)
        record["auth_ok"] = why is None
        record["auth_error"] = why
        if why is not None:
            return error("AuthenticationFailedException")

        active = mode if (mode_ops is None or op in mode_ops) else "ok"
        if active == "slow":
            time.sleep(self.slow_seconds)
        elif active == "hold":
            release.wait(self.hold_seconds)
        if active == "unauthorized":
            return error("AuthenticationFailedException")
        if active.startswith("error:"):
            name, status = self._error_of(active)
            return error(name, status)
        if active == "garbage":
            return answer(200, b"<html><body>502 Bad Gateway (not JSON)</body></html>")
        if active == "bad_json_fields":
            return answer(200, {"status": "fine", "note": "none of the members asked for"})

        request = record["body"]
        problems = record["problems"]
        if not isinstance(request, dict):
            problems.append("body is not a JSON object")
            return error("ValidationException")
        meta = request.get("requestMetadata")
        if not isinstance(meta, dict):
            problems.append("requestMetadata missing")
            return error("ValidationException")
        if meta.get("kmsOperation") not in KMS_OPERATIONS:
            problems.append("kmsOperation %r" % meta.get("kmsOperation"))
        if not isinstance(meta.get("kmsRequestId"), str) or not meta.get("kmsRequestId"):
            problems.append("kmsRequestId missing")
        if op != "health":
            if not isinstance(meta.get("awsPrincipalArn"), str) or \
                    not meta["awsPrincipalArn"].startswith("arn:"):
                problems.append("awsPrincipalArn %r" % meta.get("awsPrincipalArn"))
        if problems:
            return error("ValidationException")

        if op == "health":
            status = "UNAVAILABLE" if active == "unhealthy" else "ACTIVE"
            return answer(200, {
                "xksProxyFleetSize": 1, "xksProxyVendor": "kmsd tests",
                "xksProxyModel": "FakeXksProxy", "ekmVendor": "Fake EKM",
                "ekmFleetDetails": [{"id": "h1", "model": "m", "healthStatus": status},
                                    {"id": "h2", "model": "m", "healthStatus": status}]})

        with self._lock:
            key = self.keys.get(key_id)
        if key is None:
            return error("KeyNotFoundException")
        if op == "metadata":
            return answer(200, {"keySpec": key["spec"], "keyUsage": key["usage"],
                                "keyStatus": key["status"]})

        if request.get("encryptionAlgorithm") != "AES_GCM":
            problems.append("encryptionAlgorithm %r" % request.get("encryptionAlgorithm"))
            return error("ValidationException")
        try:
            aad = b64d(request["additionalAuthenticatedData"]) \
                if "additionalAuthenticatedData" in request else b""
        except (ValueError, binascii.Error):
            problems.append("additionalAuthenticatedData is not base64")
            return error("ValidationException")
        if key["status"] != "ENABLED":
            return error("InvalidStateException")
        if key["spec"] != "AES_256":
            return error("InvalidKeyUsageException")
        needed = "ENCRYPT" if op == "encrypt" else "DECRYPT"
        if needed not in key["usage"]:
            return error("InvalidKeyUsageException")
        gcm = AESGCM(key["material"])

        if op == "encrypt":
            try:
                plaintext = b64d(request["plaintext"])
            except (KeyError, ValueError, binascii.Error):
                problems.append("plaintext missing or not base64")
                return error("ValidationException")
            if "plaintext" in request and not plaintext:
                problems.append("empty plaintext")
            want_cdiv = request.get("ciphertextDataIntegrityValueAlgorithm")
            if want_cdiv not in (None, "SHA_256"):
                problems.append("ciphertextDataIntegrityValueAlgorithm %r" % want_cdiv)
                return error("ValidationException")
            metadata = bytes(range(1, 22)) if active == "long_metadata" else METADATA
            iv = os.urandom(12)
            sealed = gcm.encrypt(iv, plaintext, gcm_aad(aad, metadata))
            ciphertext, tag = sealed[:-16], sealed[-16:]
            out = {"ciphertext": b64e(ciphertext), "initializationVector": b64e(iv),
                   "authenticationTag": b64e(tag), "ciphertextMetadata": b64e(metadata)}
            if want_cdiv == "SHA_256":
                value = cdiv(aad, metadata, iv, ciphertext, tag)
                # Right by construction: the integrity value of exactly what is returned.
                assert value == b64e(hashlib.sha256(
                    aad + b64d(out["ciphertextMetadata"]) + b64d(out["initializationVector"])
                    + b64d(out["ciphertext"]) + b64d(out["authenticationTag"])).digest())
                if active == "bad_cdiv":
                    value = cdiv(aad + b"\x00", metadata, iv, ciphertext, tag)
                out["ciphertextDataIntegrityValue"] = value
            return answer(200, out)

        # decrypt
        try:
            ciphertext = b64d(request["ciphertext"])
            iv = b64d(request["initializationVector"])
            tag = b64d(request["authenticationTag"])
            metadata = b64d(request["ciphertextMetadata"]) \
                if "ciphertextMetadata" in request else b""
        except (KeyError, ValueError, binascii.Error):
            problems.append("decrypt request lacks a member or has bad base64")
            return error("ValidationException")
        if len(tag) != 16 or len(iv) not in (12, 16) or len(metadata) > 20:
            return error("InvalidCiphertextException")
        try:
            plaintext = gcm.decrypt(iv, ciphertext + tag, gcm_aad(aad, metadata))
        except (InvalidTag, ValueError):
            return error("InvalidCiphertextException")
        return answer(200, {"plaintext": b64e(plaintext)})


# ---- a client for the self-test ---------------------------------------------------------------

def signed_call(proxy, path, body, access_key_id, secret, host=None, region="us-east-1",
                method="POST", tamper=False):
    """One request to the proxy over TLS (certificate verified against proxy.ca_file for
    `host`), SigV4-signed with botocore as kmsd must sign. Returns (status, parsed body or raw
    bytes)."""
    import http.client

    host = host or proxy.host_name
    data = json.dumps(body).encode() if not isinstance(body, bytes) else body
    req = botocore.awsrequest.AWSRequest(method=method, url="https://%s%s" % (host, path),
                                         data=data, headers={"Host": host})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(access_key_id, secret),
                            SERVICE, region).add_auth(req)
    headers = dict(req.headers.items())
    headers["Content-Type"] = "application/json"
    if tamper:
        data = data.replace(b"}", b" }", 1)
    ctx = ssl.create_default_context(cafile=proxy.ca_file)
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT

    class _Conn(http.client.HTTPSConnection):
        def connect(self):  # TCP to 127.0.0.1, TLS for `host`
            sock = socket.create_connection(("127.0.0.1", proxy.port), 5)
            self.sock = ctx.wrap_socket(sock, server_hostname=host)

    conn = _Conn(host, context=ctx, timeout=10)
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, raw
    finally:
        conn.close()


def _self_test():
    akid, secret = "XKSAKIDABCDEFGHIJKLM2345", "FakeProxySelfTestSecret0123456789abcdefghijk="
    proxy = FakeXksProxy(akid, secret, extra_names=["xks2.example.com"])
    proxy.add_key("k1")
    proxy.add_key("off", status="DISABLED")
    base = proxy.uri_path
    meta = {"awsPrincipalArn": "arn:aws:iam::111122223333:root",
            "kmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/x",
            "kmsOperation": "Encrypt", "kmsRequestId": "r-1"}

    def call(path, body, **kw):
        return signed_call(proxy, path, body, kw.pop("akid", akid), kw.pop("secret", secret), **kw)

    try:
        st, out = call(base + "/health", {"requestMetadata": {
            "kmsRequestId": "r0", "kmsOperation": "CreateCustomKeyStore"}})
        assert st == 200 and out["ekmFleetDetails"][0]["healthStatus"] == "ACTIVE", (st, out)
        assert proxy.requests[-1]["auth_ok"], proxy.requests[-1]
        st, out = call(base + "/keys/k1/metadata", {"requestMetadata": dict(
            meta, kmsOperation="CreateKey", kmsKeyArn=None)})
        assert st == 200 and out["keySpec"] == "AES_256", (st, out)
        aad = b"outer aad"
        st, enc = call(base + "/keys/k1/encrypt", {
            "requestMetadata": meta, "plaintext": b64e(b"hello world"),
            "additionalAuthenticatedData": b64e(aad), "encryptionAlgorithm": "AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256"})
        assert st == 200, (st, enc)
        ct, iv, tag, md = (b64d(enc[k]) for k in ("ciphertext", "initializationVector",
                                                  "authenticationTag", "ciphertextMetadata"))
        assert len(ct) == 11 and len(iv) == 12 and len(tag) == 16 and md == METADATA
        assert enc["ciphertextDataIntegrityValue"] == b64e(
            hashlib.sha256(aad + md + iv + ct + tag).digest())
        dec_body = {"requestMetadata": dict(meta, kmsOperation="Decrypt"),
                    "ciphertext": enc["ciphertext"], "initializationVector": enc["initializationVector"],
                    "authenticationTag": enc["authenticationTag"],
                    "ciphertextMetadata": enc["ciphertextMetadata"],
                    "additionalAuthenticatedData": b64e(aad), "encryptionAlgorithm": "AES_GCM"}
        st, out = call(base + "/keys/k1/decrypt", dec_body)
        assert st == 200 and b64d(out["plaintext"]) == b"hello world", (st, out)
        st, out = call(base + "/keys/k1/decrypt", dict(dec_body, additionalAuthenticatedData=b64e(b"x")))
        assert (st, out) == (400, {"errorName": "InvalidCiphertextException"}), (st, out)
        st, out = call(base + "/keys/nope/metadata", {"requestMetadata": meta})
        assert (st, out) == (404, {"errorName": "KeyNotFoundException"}), (st, out)
        st, out = call(base + "/keys/off/encrypt", {"requestMetadata": meta,
                                                    "plaintext": b64e(b"x"),
                                                    "encryptionAlgorithm": "AES_GCM"})
        assert (st, out) == (400, {"errorName": "InvalidStateException"}), (st, out)
        # The second SAN works too.
        st, _ = call(base + "/health", {"requestMetadata": {"kmsRequestId": "r",
                                                            "kmsOperation": "KmsHealthCheck"}},
                     host="xks2.example.com")
        assert st == 200 and proxy.requests[-1]["headers"]["host"] == "xks2.example.com"
        # Authentication.
        health = {"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}
        for kw in ({"secret": secret[:-1] + "A"}, {"akid": "XKSAKIDZZZZZZZZZZZZZ2345"},
                   {"tamper": True}, {"region": "eu-west-1"}):
            st, out = call(base + "/health", health, **kw)
            assert (st, out) == (401, {"errorName": "AuthenticationFailedException"}), (kw, st)
            assert proxy.requests[-1]["auth_ok"] is False, proxy.requests[-1]["auth_error"]
        # Paths and methods.
        st, out = call("/other/kms/xks/v1/health", health)
        assert (st, out) == (404, {"errorName": "InvalidUriPathException"}), (st, out)
        st, _ = call(base + "/health", b"", method="GET")
        assert st == 405, st
        # Modes.
        enc_body = {"requestMetadata": meta, "plaintext": b64e(b"abc"),
                    "encryptionAlgorithm": "AES_GCM",
                    "ciphertextDataIntegrityValueAlgorithm": "SHA_256"}
        proxy.set_mode("garbage")
        st, out = call(base + "/health", health)
        assert st == 200 and isinstance(out, bytes), (st, out)
        proxy.set_mode("bad_json_fields")
        st, out = call(base + "/health", health)
        assert st == 200 and "ekmFleetDetails" not in out, out
        proxy.set_mode("unhealthy")
        st, out = call(base + "/health", health)
        assert all(e["healthStatus"] == "UNAVAILABLE" for e in out["ekmFleetDetails"]), out
        proxy.set_mode("unauthorized")
        assert call(base + "/health", health)[0] == 401
        proxy.set_mode("error:ThrottlingException:429")
        assert call(base + "/health", health) == (429, {"errorName": "ThrottlingException"})
        proxy.set_mode("bad_cdiv")
        st, out = call(base + "/keys/k1/encrypt", enc_body)
        parts = [b64d(out[k]) for k in ("ciphertextMetadata", "initializationVector",
                                        "ciphertext", "authenticationTag")]
        assert out["ciphertextDataIntegrityValue"] != b64e(hashlib.sha256(b"".join(parts)).digest())
        proxy.set_mode("long_metadata")
        st, out = call(base + "/keys/k1/encrypt", enc_body)
        assert len(b64d(out["ciphertextMetadata"])) == 21
        proxy.set_mode("slow", ops={"encrypt"})
        t0 = time.monotonic()
        assert call(base + "/health", health)[0] == 200
        assert time.monotonic() - t0 < 0.5
        assert call(base + "/keys/k1/encrypt", enc_body)[0] == 200
        assert time.monotonic() - t0 >= proxy.slow_seconds
        proxy.set_mode("hold", ops={"encrypt"})
        result = []
        th = threading.Thread(target=lambda: result.append(call(base + "/keys/k1/encrypt",
                                                                enc_body)))
        th.start()
        proxy.wait_for_request("encrypt", count=len(proxy.requests_for("encrypt")) + 1)
        assert call(base + "/health", health)[0] == 200  # not held
        assert not result
        proxy.release()
        th.join(10)
        assert result and result[0][0] == 200
        # Down and up again on the same port.
        proxy.reset()
        port = proxy.port
        with proxy.down():
            try:
                call(base + "/health", health)
                raise AssertionError("the proxy answered while down")
            except OSError:
                pass
        assert proxy.port == port and call(base + "/health", health)[0] == 200
        # Certificate verification against another name fails.
        try:
            call(base + "/health", health, host="other.example.com")
            raise AssertionError("TLS accepted a name the certificate does not cover")
        except ssl.SSLCertVerificationError:
            pass
        assert proxy.problems() == [], proxy.problems()
        print("fake XKS proxy self-test OK (port %d, %d requests, %d TLS failures)"
              % (proxy.port, len(proxy.requests), proxy.tls_failures))
    finally:
        proxy.close()


if __name__ == "__main__":
    _self_test()
