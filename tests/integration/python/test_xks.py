"""External key stores (EXTERNAL_KEY_STORE) through boto3: kmsd calling an XKS proxy over HTTPS
with SigV4 (service kms-xks-proxy), as AWS KMS does. Most classes run a fake proxy in this process
(xks_fake_proxy.py: real AES-GCM, its own independent signature check, and modes that misbehave);
one runs the built-in `kmsd xks-proxy` as a second process and kills it.

kmsd reaches https://xks.example.com (and the other names below) through --xks-endpoint-map and
trusts the proxies' self-signed certificates through --xks-ca-file."""
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from botocore.exceptions import ClientError
from cryptography import x509

from harness import (ACCOUNT, KmsdTestCase, _sanitizer_report, free_port, kmsd_bin)
from xks_fake_proxy import FakeXksProxy

HOST = "xks.example.com"
HOST2 = "xks2.example.com"            # a second name in the fake proxy's certificate
DOWN_HOST = "down.example.com"        # mapped to a port where nothing listens
WRONG_NAME_HOST = "wrongname.example.com"  # mapped to the fake proxy; not in its certificate
UNTRUSTED_HOST = "untrusted.example.com"   # a proxy whose certificate kmsd does not trust
ENDPOINT = "https://" + HOST
PATH = "/kms/xks/v1"
VPC_SERVICE = "com.amazonaws.vpce.us-east-1.vpce-svc-0123456789abcdef0"

AKID = "XKSAKIDABCDEFGHIJKLM2345"
SECRET = "XksSecretDoNotLeak0123456789abcdefghij/klmnop+qrstuvwxyz="
AKID2 = "SECONDAKIDABCDEFGHIJ2345"
SECRET2 = "SecondXksSecretNeverShown9876543210zyxwvutsrqponmlkjihg"
AKID3 = "UNKNOWNAKIDABCDEFGHIJ234"  # no proxy knows it
SECRET3 = "ThirdSecretTheProxyHasNeverHeardOf0123456789abcd"
ROOT_ARN = "arn:aws:iam::%s:root" % ACCOUNT

UNREACHABLE = ("AWS KMS cannot communicate with the external key store proxy. This might be a "
               "transient network issue. If you see this error repeatedly, verify that your "
               "external key store proxy is active and is connected to the network, and that its "
               "endpoint URI is correct in your external keystore.")
AUTH = ("The external key store proxy rejected the request because it could not authenticate "
        "AWS KMS. Verify the XKS proxy authentication credentials for your external key store "
        "and update if necessary.")
MALFORMED = ("AWS KMS cannot interpret the response from the external key store proxy. If you "
             "see this error repeatedly, report it to your external key store proxy "
             "administrator.")
TIMEOUT = ("AWS KMS rejected the request because the external key store proxy did not respond in "
           "time. Retry the request. If you see this error repeatedly, report it to your external "
           "key store proxy administrator.")
UNHEALTHY = ("The external key store proxy is in an unhealthy state. If you see this message "
             "repeatedly, notify your external key store proxy administrator.")
KEY_NOT_FOUND = ("The external key store proxy rejected the request because it could not find "
                 "the external key.")
BAD_SPEC = ("The key spec of the external key must be AES_256. The key spec of specified "
            "external key is RSA_2048.")
DISABLED = ("The status of the external key must be ENABLED. The status of specified external "
            "key is DISABLED.")
CIPHERTEXT_REJECTED = ("The external key store proxy rejected the request because the specified "
                       "ciphertext or additional authenticated data is corrupted, missing, or "
                       "otherwise invalid.")
INNER_INVALID = ("The ciphertext that the external key store proxy submitted for decryption, or "
                 "the encryption context, is corrupted, missing, or otherwise invalid.")


def b64d(text):
    return base64.b64decode(text)


def credential(akid=AKID, secret=SECRET):
    return {"AccessKeyId": akid, "RawSecretAccessKey": secret}


def wait_for_port(port, proc=None, timeout=15.0):
    """True once 127.0.0.1:port accepts a TCP connection; False if `proc` exits first or the
    time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class XksTestCase(KmsdTestCase):
    """One fake proxy per class, started before the server; the proxy's records and mode are
    cleared before every test (and the server reset, as KmsdTestCase does)."""

    xks_timeout_ms = 1000  # above a loaded machine's TLS handshake, below the "slow" sleep
    slow_seconds = 2.5
    with_untrusted_proxy = False

    @classmethod
    def more_server_args(cls):
        return []

    @classmethod
    def setUpClass(cls):
        cls.proxy = FakeXksProxy(AKID, SECRET, uri_path=PATH, host_name=HOST,
                                 extra_names=[HOST2], slow_seconds=cls.slow_seconds)
        cls.untrusted = None
        try:
            for key_id in ("key-1", "key-2", "key-3"):
                cls.proxy.add_key(key_id)
            cls.proxy.add_key("rsa-key", spec="RSA_2048")
            cls.proxy.add_key("disabled-key", status="DISABLED")
            cls.proxy.add_key("sign-only", usage=["SIGN", "VERIFY"])
            # Bound and kept, never listened on: connecting is refused, and no other process
            # (another suite's kmsd, a proxy) can take the port while the class runs, as one did
            # once with a port that was only free when it was picked (a TLS error instead).
            cls.down_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            cls.down_socket.bind(("127.0.0.1", 0))
            cls.down_port = cls.down_socket.getsockname()[1]
            mapping = [(HOST, cls.proxy.port), (HOST2, cls.proxy.port),
                       (WRONG_NAME_HOST, cls.proxy.port), (DOWN_HOST, cls.down_port)]
            if cls.with_untrusted_proxy:
                cls.untrusted = FakeXksProxy(AKID, SECRET, uri_path=PATH,
                                             host_name=UNTRUSTED_HOST)
                mapping.append((UNTRUSTED_HOST, cls.untrusted.port))
            args = []
            for host, port in mapping:
                args += ["--xks-endpoint-map", "%s=127.0.0.1:%d" % (host, port)]
            args += ["--xks-ca-file", cls.proxy.ca_file,
                     "--xks-timeout-ms", str(cls.xks_timeout_ms)]
            cls.server_args = args + cls.more_server_args()
            super().setUpClass()
        except Exception:
            cls._close_proxies()
            raise

    @classmethod
    def _close_proxies(cls):
        if getattr(cls, "down_socket", None) is not None:
            cls.down_socket.close()
        cls.proxy.close()
        if cls.untrusted is not None:
            cls.untrusted.close()

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._close_proxies()

    def setUp(self):
        super().setUp()
        self.proxy.reset()
        if self.untrusted is not None:
            self.untrusted.reset()
        self.bad_signatures_expected = False

    def tearDown(self):
        self.proxy.release()
        if not self.proxy.running:
            self.proxy.start()
        # kmsd speaks the protocol: every request well-formed, and signed right whenever it
        # was signed with a credential the proxy knows (unless the test sent a wrong secret).
        self.assertEqual(self.proxy.problems(), [], "kmsd sent requests that break the spec")
        if not self.bad_signatures_expected:
            bad = [(r["path"], r["auth_error"]) for r in self.proxy.requests_for()
                   if r["auth_ok"] is False and r["access_key_id"] in self.proxy.credentials]
            self.assertEqual(bad, [], "kmsd's SigV4 signatures did not verify")
        super().tearDown()

    # ---- helpers ---------------------------------------------------------

    def advance(self, seconds):
        status, body = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": seconds})
        self.assertEqual(status, 200, body)

    def store_args(self, name="xks-store", endpoint=ENDPOINT, path=PATH, akid=AKID,
                   secret=SECRET, **kw):
        args = dict(CustomKeyStoreName=name, CustomKeyStoreType="EXTERNAL_KEY_STORE",
                    XksProxyConnectivity="PUBLIC_ENDPOINT", XksProxyUriEndpoint=endpoint,
                    XksProxyUriPath=path, XksProxyAuthenticationCredential=credential(akid, secret))
        args.update(kw)
        return {k: v for k, v in args.items() if v is not None}

    def create_store(self, **kw):
        resp = self.kms.create_custom_key_store(**self.store_args(**kw))
        return resp["CustomKeyStoreId"]

    def store(self, store_id, kms=None):
        kms = kms or self.kms
        return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]

    def connect(self, store_id):
        """ConnectCustomKeyStore, then the KMS clock moves on; the store's entry once it is no
        longer CONNECTING."""
        self.assertEqual(self.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
                         .get("ResponseMetadata", {}).get("HTTPStatusCode"), 200)
        self.assertEqual(self.store(store_id)["ConnectionState"], "CONNECTING")
        deadline = time.monotonic() + 15
        while True:
            self.advance(3)
            entry = self.store(store_id)
            if entry["ConnectionState"] != "CONNECTING" or time.monotonic() > deadline:
                return entry
            time.sleep(0.1)

    def connected_store(self, **kw):
        store_id = self.create_store(**kw)
        self.assertEqual(self.connect(store_id)["ConnectionState"], "CONNECTED")
        return store_id

    def create_xks_key(self, store_id, xks_key_id="key-1", **kw):
        return self.kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id,
                                   XksKeyId=xks_key_id, **kw)["KeyMetadata"]

    def xks_key(self, xks_key_id="key-1"):
        store_id = self.connected_store()
        return store_id, self.create_xks_key(store_id, xks_key_id)

    def assertNoStores(self):
        self.assertEqual(self.kms.describe_custom_key_stores()["CustomKeyStores"], [])

    def assertSignedRequest(self, record, akid=AKID):
        self.assertTrue(record["auth_ok"], record["auth_error"])
        self.assertEqual(record["access_key_id"], akid)
        auth = record["headers"]["authorization"]
        self.assertIn("/us-east-1/kms-xks-proxy/aws4_request", auth)
        self.assertIn("SignedHeaders=host;x-amz-date", auth)

    def only(self, records):
        self.assertEqual(len(records), 1, [(r["path"], r["kms_operation"]) for r in records])
        return records[0]


class StoreCreateTest(XksTestCase):
    with_untrusted_proxy = True

    def test_create_checks_proxy_health_and_describes_the_store(self):
        resp = self.kms.create_custom_key_store(**self.store_args())
        store_id = resp["CustomKeyStoreId"]
        self.assertRegex(store_id, r"^cks-[0-9a-f]{17}$")
        health = self.only(self.proxy.requests_for())
        self.assertEqual((health["op"], health["path"]), ("health", PATH + "/health"))
        self.assertEqual(health["headers"]["host"], HOST)
        self.assertSignedRequest(health)
        meta = health["body"]["requestMetadata"]
        self.assertEqual(meta["kmsOperation"], "CreateCustomKeyStore")
        self.assertEqual(meta["kmsRequestId"], resp["ResponseMetadata"]["RequestId"])
        self.assertNotIn("kmsKeyArn", meta)

        entry = self.store(store_id)
        self.assertEqual(entry["CustomKeyStoreId"], store_id)
        self.assertEqual(entry["CustomKeyStoreName"], "xks-store")
        self.assertEqual(entry["CustomKeyStoreType"], "EXTERNAL_KEY_STORE")
        self.assertEqual(entry["ConnectionState"], "DISCONNECTED")
        self.assertIn("CreationDate", entry)
        self.assertEqual(entry["XksProxyConfiguration"],
                         {"AccessKeyId": AKID, "Connectivity": "PUBLIC_ENDPOINT",
                          "UriEndpoint": ENDPOINT, "UriPath": PATH})
        for absent in ("ConnectionErrorCode", "CloudHsmClusterId", "TrustAnchorCertificate"):
            self.assertNotIn(absent, entry)
        listed = self.kms.describe_custom_key_stores()
        self.assertEqual([s["CustomKeyStoreId"] for s in listed["CustomKeyStores"]], [store_id])
        self.assertNotIn(SECRET, json.dumps(listed, default=str))
        # By name, too.
        self.assertEqual(self.kms.describe_custom_key_stores(CustomKeyStoreName="xks-store")
                         ["CustomKeyStores"][0]["CustomKeyStoreId"], store_id)

    def test_vpc_endpoint_service_store_is_not_contacted_at_create(self):
        store_id = self.create_store(XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
                                     XksProxyVpcEndpointServiceName=VPC_SERVICE)
        self.assertEqual(self.proxy.requests_for(), [])
        entry = self.store(store_id)
        config = entry["XksProxyConfiguration"]
        self.assertEqual(config["Connectivity"], "VPC_ENDPOINT_SERVICE")
        self.assertEqual(config["VpcEndpointServiceName"], VPC_SERVICE)
        self.assertEqual((config["AccessKeyId"], config["UriEndpoint"], config["UriPath"]),
                         (AKID, ENDPOINT, PATH))
        self.assertEqual(entry["ConnectionState"], "DISCONNECTED")
        # VPC connectivity needs its endpoint service.
        self.assertKmsError(self.kms.create_custom_key_store, "ValidationException",
                            **self.store_args(name="other", endpoint="https://" + HOST2,
                                              XksProxyConnectivity="VPC_ENDPOINT_SERVICE"))

    def test_create_refused_by_the_proxy_stores_nothing(self):
        for mode, code, message in [
                ("unauthorized", "XksProxyIncorrectAuthenticationCredentialException", AUTH),
                ("garbage", "XksProxyInvalidResponseException", MALFORMED),
                ("bad_json_fields", "XksProxyInvalidResponseException", MALFORMED),
                ("slow", "XksProxyUriUnreachableException", TIMEOUT),
                ("unhealthy", "XksProxyUriUnreachableException", UNHEALTHY)]:
            with self.subTest(mode=mode):
                self.proxy.reset()
                self.proxy.set_mode(mode)
                self.assertKmsError(self.create_store, code, message)
                health = self.only(self.proxy.requests_for("health"))
                self.assertEqual(health["kms_operation"], "CreateCustomKeyStore")
                self.assertSignedRequest(health)
                self.assertNoStores()
        # The proxy behaving again, the same request works: nothing was half-stored.
        self.proxy.reset()
        self.assertTrue(self.create_store().startswith("cks-"))

    def test_create_with_the_proxy_unreachable(self):
        self.assertKmsError(self.create_store, "XksProxyUriUnreachableException", UNREACHABLE,
                            endpoint="https://" + DOWN_HOST)
        self.assertNoStores()
        with self.proxy.down():
            self.assertKmsError(self.create_store, "XksProxyUriUnreachableException",
                                UNREACHABLE)
        self.assertNoStores()
        # Not in the map and not resolvable.
        self.assertKmsError(self.create_store, "XksProxyUriUnreachableException",
                            endpoint="https://xks-unmapped.invalid")
        self.assertNoStores()
        self.assertEqual(self.proxy.requests_for(), [])

    def test_create_with_a_path_the_proxy_does_not_serve(self):
        self.assertKmsError(self.create_store, "XksProxyInvalidConfigurationException",
                            path="/other/kms/xks/v1")
        record = self.only(self.proxy.requests_for())
        self.assertEqual(record["path"], "/other/kms/xks/v1/health")
        self.assertEqual((record["status"], record["response"]),
                         (404, {"errorName": "InvalidUriPathException"}))
        self.assertNoStores()

    def test_create_checks_the_proxy_certificate(self):
        # A certificate kmsd does not trust: the TLS handshake fails, no request is made.
        self.assertKmsError(self.create_store, "XksProxyUriUnreachableException",
                            endpoint="https://" + UNTRUSTED_HOST)
        self.assertEqual(self.untrusted.requests_for(), [])
        deadline = time.monotonic() + 5
        while self.untrusted.tls_failures == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(self.untrusted.tls_failures, 1, "kmsd never reached the proxy")
        # A trusted certificate for another name.
        self.assertKmsError(self.create_store, "XksProxyUriUnreachableException",
                            endpoint="https://" + WRONG_NAME_HOST)
        self.assertEqual(self.proxy.requests_for(), [])
        self.assertNoStores()
        # The second name in the certificate is fine.
        store_id = self.create_store(endpoint="https://" + HOST2)
        self.assertEqual(self.only(self.proxy.requests_for())["headers"]["host"], HOST2)
        self.assertEqual(self.store(store_id)["XksProxyConfiguration"]["UriEndpoint"],
                         "https://" + HOST2)

    def test_create_validation(self):
        base = self.store_args()

        def variant(**over):
            args = dict(base)
            for k, v in over.items():
                if v is None:
                    args.pop(k, None)
                else:
                    args[k] = v
            return args

        cases = [
            ("endpoint with a port", variant(XksProxyUriEndpoint="https://xks.example.com:8443")),
            ("http endpoint", variant(XksProxyUriEndpoint="http://xks.example.com")),
            ("endpoint with a path", variant(XksProxyUriEndpoint="https://xks.example.com/kms")),
            ("path without /kms/xks/v<n>", variant(XksProxyUriPath="/kms/xks/version1")),
            ("path not ending in the version", variant(XksProxyUriPath="/kms/xks/v1/more")),
            ("relative path", variant(XksProxyUriPath="kms/xks/v1")),
            ("access key id too short", variant(
                XksProxyAuthenticationCredential=credential(akid="ABCDEFGHIJKL234"))),
            ("access key id in lower case", variant(
                XksProxyAuthenticationCredential=credential(akid=AKID.lower()))),
            ("access key id with 1 and 8", variant(
                XksProxyAuthenticationCredential=credential(akid="ABCDEFGHIJKLMNOP1818"))),
            ("secret too short", variant(
                XksProxyAuthenticationCredential=credential(secret="tooShortSecret0123456789"))),
            ("secret with a bad character", variant(
                XksProxyAuthenticationCredential=credential(secret=SECRET[:-1] + "!"))),
            ("no endpoint", variant(XksProxyUriEndpoint=None)),
            ("no path", variant(XksProxyUriPath=None)),
            ("no credential", variant(XksProxyAuthenticationCredential=None)),
            ("no connectivity", variant(XksProxyConnectivity=None)),
        ]
        for why, args in cases:
            with self.subTest(why=why):
                self.assertKmsError(self.kms_nv.create_custom_key_store, "ValidationException",
                                    **args)
        self.assertNoStores()
        self.assertEqual(self.proxy.requests_for(), [], "validation comes before the proxy")

    def test_endpoint_and_name_in_use(self):
        first = self.create_store(name="first")
        self.assertKmsError(self.create_store, "XksProxyUriInUseException", name="second")
        self.assertKmsError(self.create_store, "CustomKeyStoreNameInUseException", name="first",
                            endpoint="https://" + HOST2)
        # Another endpoint with the same path is another proxy.
        second = self.create_store(name="second", endpoint="https://" + HOST2)
        ids = sorted(s["CustomKeyStoreId"]
                     for s in self.kms.describe_custom_key_stores()["CustomKeyStores"])
        self.assertEqual(ids, sorted([first, second]))


class ConnectTest(XksTestCase):

    def test_connect_disconnect_delete(self):
        store_id = self.create_store()
        self.proxy.reset()
        entry = self.connect(store_id)
        self.assertEqual(entry["ConnectionState"], "CONNECTED")
        self.assertNotIn("ConnectionErrorCode", entry)
        health = self.proxy.requests_for("health", kms_operation="ConnectCustomKeyStore")
        self.assertGreaterEqual(len(health), 1)
        self.assertSignedRequest(health[0])
        # Connecting a connected store changes nothing.
        self.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        self.assertEqual(self.store(store_id)["ConnectionState"], "CONNECTED")
        self.assertKmsError(self.kms.delete_custom_key_store,
                            "CustomKeyStoreInvalidStateException", CustomKeyStoreId=store_id)
        self.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        self.assertEqual(self.store(store_id)["ConnectionState"], "DISCONNECTED")
        self.kms.delete_custom_key_store(CustomKeyStoreId=store_id)
        self.assertKmsError(self.kms.describe_custom_key_stores,
                            "CustomKeyStoreNotFoundException", CustomKeyStoreId=store_id)
        self.assertNoStores()
        # The endpoint is free again.
        self.assertTrue(self.create_store().startswith("cks-"))

    def test_failed_connections_say_why(self):
        tenant = "/tenant-b/kms/xks/v1"

        def moved_path():
            self.proxy.extra_paths = set()  # the proxy no longer serves the store's path

        cases = [
            ("proxy down", None, "XKS_PROXY_NOT_REACHABLE", PATH),
            ("unauthorized", lambda: self.proxy.set_mode("unauthorized"),
             "INVALID_CREDENTIALS", PATH),
            ("slow", lambda: self.proxy.set_mode("slow"), "XKS_PROXY_TIMED_OUT", PATH),
            ("garbage", lambda: self.proxy.set_mode("garbage"),
             "XKS_PROXY_INVALID_RESPONSE", PATH),
            ("unknown path", moved_path, "XKS_PROXY_INVALID_CONFIGURATION", tenant),
        ]
        for why, break_it, code, path in cases:
            with self.subTest(why=why):
                self.server.reset()
                self.proxy.reset()
                self.proxy.extra_paths.add(tenant)
                store_id = self.create_store(path=path)
                if break_it is None:
                    with self.proxy.down():
                        entry = self.connect(store_id)
                else:
                    break_it()
                    entry = self.connect(store_id)
                self.assertEqual((entry["ConnectionState"], entry.get("ConnectionErrorCode")),
                                 ("FAILED", code))
                if break_it is not None:  # the proxy was asked, and answered badly
                    self.assertTrue(self.proxy.requests_for(kms_operation="ConnectCustomKeyStore"))
                # A FAILED store is disconnected before it connects again.
                self.assertKmsError(self.kms.connect_custom_key_store,
                                    "CustomKeyStoreInvalidStateException",
                                    CustomKeyStoreId=store_id)
                self.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
                entry = self.store(store_id)
                self.assertEqual(entry["ConnectionState"], "DISCONNECTED")
                self.assertNotIn("ConnectionErrorCode", entry)
                # Fixed, it connects.
                self.proxy.reset()
                self.proxy.extra_paths.add(tenant)
                self.assertEqual(self.connect(store_id)["ConnectionState"], "CONNECTED")

    def test_update_while_connected(self):
        self.proxy.add_credential(AKID2, SECRET2)
        store_id, key = self.xks_key()
        self.kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
        self.assertEqual(self.store(store_id)["CustomKeyStoreName"], "renamed")

        # A new credential: kmsd checks it with the proxy before keeping it.
        self.proxy.reset()
        self.kms.update_custom_key_store(CustomKeyStoreId=store_id,
                                         XksProxyAuthenticationCredential=credential(AKID2, SECRET2))
        health = self.only(self.proxy.requests_for("health"))
        self.assertEqual(health["kms_operation"], "UpdateCustomKeyStore")
        self.assertSignedRequest(health, akid=AKID2)
        self.assertEqual(self.store(store_id)["XksProxyConfiguration"]["AccessKeyId"], AKID2)
        self.proxy.reset()
        self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"signed with the new key")
        self.assertSignedRequest(self.only(self.proxy.requests_for("encrypt")), akid=AKID2)

        # A credential the proxy rejects changes nothing.
        self.bad_signatures_expected = True
        for akid, secret in ((AKID3, SECRET3), (AKID2, SECRET3)):
            with self.subTest(akid=akid):
                self.assertKmsError(
                    self.kms.update_custom_key_store,
                    "XksProxyIncorrectAuthenticationCredentialException", AUTH,
                    CustomKeyStoreId=store_id,
                    XksProxyAuthenticationCredential=credential(akid, secret))
                entry = self.store(store_id)
                self.assertEqual(entry["XksProxyConfiguration"]["AccessKeyId"], AKID2)
                self.assertEqual(entry["ConnectionState"], "CONNECTED")
        self.proxy.reset()
        self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"still the second credential")
        self.assertSignedRequest(self.only(self.proxy.requests_for("encrypt")), akid=AKID2)

        # A new path the proxy serves; then one it does not (refused, unchanged).
        tenant = "/tenant-b/kms/xks/v1"
        self.proxy.extra_paths.add(tenant)
        self.kms.update_custom_key_store(CustomKeyStoreId=store_id, XksProxyUriPath=tenant)
        self.assertEqual(self.store(store_id)["XksProxyConfiguration"]["UriPath"], tenant)
        self.proxy.clear_requests()
        self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"through the new path")
        self.assertEqual(self.only(self.proxy.requests_for("encrypt"))["path"],
                         tenant + "/keys/key-1/encrypt")
        self.assertKmsError(self.kms.update_custom_key_store,
                            "XksProxyInvalidConfigurationException",
                            CustomKeyStoreId=store_id, XksProxyUriPath="/gone/kms/xks/v1")
        self.assertEqual(self.store(store_id)["XksProxyConfiguration"]["UriPath"], tenant)

        # Endpoint and connectivity only while disconnected.
        self.assertKmsError(self.kms.update_custom_key_store,
                            "CustomKeyStoreInvalidStateException",
                            CustomKeyStoreId=store_id, XksProxyUriEndpoint="https://" + HOST2)
        self.assertKmsError(self.kms.update_custom_key_store,
                            "CustomKeyStoreInvalidStateException",
                            CustomKeyStoreId=store_id, XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
                            XksProxyVpcEndpointServiceName=VPC_SERVICE)
        config = self.store(store_id)["XksProxyConfiguration"]
        self.assertEqual((config["UriEndpoint"], config["Connectivity"]),
                         (ENDPOINT, "PUBLIC_ENDPOINT"))

        self.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        self.kms.update_custom_key_store(CustomKeyStoreId=store_id,
                                         XksProxyUriEndpoint="https://" + HOST2)
        self.assertEqual(self.store(store_id)["XksProxyConfiguration"]["UriEndpoint"],
                         "https://" + HOST2)
        self.proxy.clear_requests()
        self.assertEqual(self.connect(store_id)["ConnectionState"], "CONNECTED")
        self.assertIn(HOST2, [r["headers"].get("host") for r in self.proxy.requests_for("health")])
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"via xks2")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"via xks2")

    def test_update_validation(self):
        store_id = self.create_store()
        self.assertKmsError(self.kms.update_custom_key_store, "CustomKeyStoreNotFoundException",
                            CustomKeyStoreId="cks-00000000000000000", NewCustomKeyStoreName="x")
        self.assertKmsError(self.kms_nv.update_custom_key_store, "ValidationException",
                            CustomKeyStoreId=store_id, XksProxyUriEndpoint="http://" + HOST2)
        self.assertKmsError(self.kms_nv.update_custom_key_store, "ValidationException",
                            CustomKeyStoreId=store_id, XksProxyUriPath="/not/the/pattern")
        self.assertKmsError(self.kms_nv.update_custom_key_store, "ValidationException",
                            CustomKeyStoreId=store_id,
                            XksProxyAuthenticationCredential=credential(akid="short"))
        self.assertEqual(self.store(store_id)["XksProxyConfiguration"],
                         {"AccessKeyId": AKID, "Connectivity": "PUBLIC_ENDPOINT",
                          "UriEndpoint": ENDPOINT, "UriPath": PATH})


class XksKeyTest(XksTestCase):

    def test_create_key_asks_the_proxy_for_the_key(self):
        store_id = self.connected_store()
        self.proxy.reset()
        key = self.create_xks_key(store_id, "key-1", Description="external")
        self.assertEqual(key["Origin"], "EXTERNAL_KEY_STORE")
        self.assertEqual(key["CustomKeyStoreId"], store_id)
        self.assertEqual(key["XksKeyConfiguration"], {"Id": "key-1"})
        self.assertEqual(key["KeySpec"], "SYMMETRIC_DEFAULT")
        self.assertEqual(key["KeyUsage"], "ENCRYPT_DECRYPT")
        self.assertEqual(key["KeyState"], "Enabled")
        self.assertTrue(key["Enabled"])
        self.assertFalse(key["MultiRegion"])
        self.assertNotIn("CloudHsmClusterId", key)
        metadata = self.only(self.proxy.requests_for())
        self.assertEqual((metadata["op"], metadata["path"]),
                         ("metadata", PATH + "/keys/key-1/metadata"))
        self.assertSignedRequest(metadata)
        meta = metadata["body"]["requestMetadata"]
        self.assertEqual(meta["kmsOperation"], "CreateKey")
        self.assertEqual(meta["awsPrincipalArn"], ROOT_ARN)
        self.assertNotIn("kmsKeyArn", meta)
        described = self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        for field in ("Origin", "CustomKeyStoreId", "XksKeyConfiguration", "KeySpec", "KeyState",
                      "Arn", "Description"):
            self.assertEqual(described[field], key[field], field)
        # One KMS key per external key in a store.
        self.assertKmsError(self.create_xks_key, "XksKeyAlreadyInUseException",
                            store_id=store_id, xks_key_id="key-1")
        other = self.create_xks_key(store_id, "key-2")
        self.assertEqual(sorted(k["KeyId"] for k in self.kms.list_keys()["Keys"]),
                         sorted([key["KeyId"], other["KeyId"]]))

    def test_create_key_refused_for_the_external_key(self):
        store_id = self.connected_store()
        for xks_key_id, code, message in [
                ("no-such-key", "XksKeyNotFoundException", KEY_NOT_FOUND),
                ("rsa-key", "XksKeyInvalidConfigurationException", BAD_SPEC),
                ("disabled-key", "XksKeyInvalidConfigurationException", DISABLED),
                ("sign-only", "XksKeyInvalidConfigurationException", None)]:
            with self.subTest(xks_key_id=xks_key_id):
                self.proxy.reset()
                self.assertKmsError(self.create_xks_key, code, message, store_id=store_id,
                                    xks_key_id=xks_key_id)
                record = self.only(self.proxy.requests_for("metadata"))
                self.assertEqual(record["kms_operation"], "CreateKey")
        with self.proxy.down():
            self.assertKmsError(self.create_xks_key, "CustomKeyStoreInvalidStateException",
                                store_id=store_id, xks_key_id="key-1")
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_create_key_rules(self):
        store_id = self.connected_store()
        idle = self.create_store(name="idle", endpoint="https://" + HOST2)
        self.proxy.reset()
        self.assertKmsError(self.kms.create_key, "ValidationException", XksKeyId="key-1")
        self.assertKmsError(self.kms.create_key, "ValidationException",
                            Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id)
        self.assertKmsError(self.kms.create_key, "ValidationException",
                            Origin="EXTERNAL_KEY_STORE", XksKeyId="key-1")
        self.assertKmsError(self.create_xks_key, "CustomKeyStoreNotFoundException",
                            store_id="cks-00000000000000000")
        self.assertKmsError(self.create_xks_key, "CustomKeyStoreInvalidStateException",
                            store_id=idle)
        self.assertKmsError(self.create_xks_key, "UnsupportedOperationException",
                            store_id=store_id, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
        self.assertKmsError(self.create_xks_key, "UnsupportedOperationException",
                            store_id=store_id, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
        self.assertKmsError(self.create_xks_key, "UnsupportedOperationException",
                            store_id=store_id, MultiRegion=True)
        self.assertEqual(self.proxy.requests_for("metadata"), [])
        self.assertEqual(self.kms.list_keys()["Keys"], [])

    def test_disconnected_store_makes_keys_unavailable(self):
        store_id, key = self.xks_key()
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]
        self.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        self.assertEqual(self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"],
                         "Unavailable")
        self.proxy.reset()
        unavailable = "%s is unavailable." % key["Arn"]
        self.assertKmsError(self.kms.encrypt, "KMSInvalidStateException", unavailable,
                            KeyId=key["KeyId"], Plaintext=b"x")
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", unavailable,
                            CiphertextBlob=ct)
        self.assertKmsError(self.kms.generate_data_key, "KMSInvalidStateException", unavailable,
                            KeyId=key["KeyId"], KeySpec="AES_256")
        self.assertEqual([r for r in self.proxy.requests_for() if r["op"] != "health"], [])
        self.assertKmsError(self.kms.delete_custom_key_store, "CustomKeyStoreHasCMKsException",
                            CustomKeyStoreId=store_id)
        # Back again.
        self.assertEqual(self.connect(store_id)["ConnectionState"], "CONNECTED")
        self.assertEqual(self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"],
                         "Enabled")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"before")
        # Deleted key, then the store.
        self.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
        self.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        self.assertKmsError(self.kms.delete_custom_key_store, "CustomKeyStoreHasCMKsException",
                            CustomKeyStoreId=store_id)
        self.advance(8 * 86400)
        self.kms.delete_custom_key_store(CustomKeyStoreId=store_id)
        self.assertNoStores()


class XksCryptoTest(XksTestCase):

    def test_encrypt_decrypt_is_double_encryption(self):
        _store, key = self.xks_key()
        plaintext = b"the caller's plaintext: correct horse battery staple"
        context = {"purpose": "xks-test", "tenant": "t1"}
        self.proxy.reset()
        resp = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext,
                                EncryptionContext=context)
        self.assertEqual(resp["KeyId"], key["Arn"])
        self.assertEqual(resp["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
        blob = resp["CiphertextBlob"]
        enc = self.only(self.proxy.requests_for())
        self.assertEqual((enc["op"], enc["path"]), ("encrypt", PATH + "/keys/key-1/encrypt"))
        self.assertSignedRequest(enc)
        meta = enc["body"]["requestMetadata"]
        self.assertEqual(meta["kmsOperation"], "Encrypt")
        self.assertEqual(meta["kmsKeyArn"], key["Arn"])
        self.assertEqual(meta["awsPrincipalArn"], ROOT_ARN)
        self.assertEqual(meta["kmsRequestId"], resp["ResponseMetadata"]["RequestId"])
        self.assertEqual(enc["body"]["encryptionAlgorithm"], "AES_GCM")
        self.assertEqual(enc["body"]["ciphertextDataIntegrityValueAlgorithm"], "SHA_256")
        # Double encryption: the proxy never sees the caller's plaintext.
        sent = b64d(enc["body"]["plaintext"])
        self.assertNotIn(plaintext, sent)
        self.assertNotIn(plaintext, enc["raw_body"])
        self.assertNotIn(base64.b64encode(plaintext), enc["raw_body"])
        self.assertNotIn(plaintext, blob)
        # ... and what it returns is inside the blob.
        self.assertEqual(enc["status"], 200)
        self.assertIn(b64d(enc["response"]["ciphertext"]), blob)

        self.proxy.reset()
        out = self.kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        self.assertEqual(out["Plaintext"], plaintext)
        self.assertEqual(out["KeyId"], key["Arn"])
        dec = self.only(self.proxy.requests_for())
        self.assertEqual((dec["op"], dec["path"]), ("decrypt", PATH + "/keys/key-1/decrypt"))
        self.assertSignedRequest(dec)
        meta = dec["body"]["requestMetadata"]
        self.assertEqual((meta["kmsOperation"], meta["kmsKeyArn"]), ("Decrypt", key["Arn"]))
        self.assertEqual(meta["kmsRequestId"], out["ResponseMetadata"]["RequestId"])
        for field in ("ciphertext", "initializationVector", "authenticationTag",
                      "ciphertextMetadata"):
            self.assertEqual(dec["body"][field], enc["response"][field], field)
        self.assertEqual(dec["body"].get("additionalAuthenticatedData"),
                         enc["body"].get("additionalAuthenticatedData"))
        self.assertEqual(dec["body"]["encryptionAlgorithm"], "AES_GCM")
        self.assertEqual(b64d(dec["response"]["plaintext"]), sent)
        # With the key named, too; a wrong context is refused.
        self.assertEqual(self.kms.decrypt(CiphertextBlob=blob, KeyId=key["KeyId"],
                                          EncryptionContext=context)["Plaintext"], plaintext)
        # The proxy's layer opens, kmsd's own (bound to the context) does not: AWS's crypto
        # failures of an external key are KMSInvalidStateException, with this text.
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", INNER_INVALID,
                            CiphertextBlob=blob,
                            EncryptionContext={"purpose": "other", "tenant": "t1"})
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", INNER_INVALID,
                            CiphertextBlob=blob)
        # Two encryptions of the same plaintext differ.
        again = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext,
                                 EncryptionContext=context)["CiphertextBlob"]
        self.assertNotEqual(again, blob)

    def test_generate_data_key_variants(self):
        _store, key = self.xks_key()
        context = {"app": "dk"}
        self.proxy.reset()
        dk = self.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                        EncryptionContext=context)
        self.assertEqual(len(dk["Plaintext"]), 32)
        enc = self.only(self.proxy.requests_for("encrypt"))
        self.assertEqual(enc["kms_operation"], "GenerateDataKey")
        self.assertEqual(enc["body"]["requestMetadata"]["kmsKeyArn"], key["Arn"])
        self.assertNotIn(dk["Plaintext"], b64d(enc["body"]["plaintext"]))
        self.assertEqual(self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"],
                                          EncryptionContext=context)["Plaintext"],
                         dk["Plaintext"])

        self.proxy.reset()
        blob = self.kms.generate_data_key_without_plaintext(
            KeyId=key["KeyId"], NumberOfBytes=64, EncryptionContext=context)["CiphertextBlob"]
        enc = self.only(self.proxy.requests_for("encrypt"))
        self.assertEqual(enc["kms_operation"], "GenerateDataKeyWithoutPlaintext")
        self.assertEqual(enc["body"]["requestMetadata"]["kmsKeyArn"], key["Arn"])
        self.assertEqual(len(self.kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
                             ["Plaintext"]), 64)

    def test_reencrypt_both_directions(self):
        _store, key = self.xks_key()
        normal = self.create_key()
        source_ctx, dest_ctx = {"from": "normal"}, {"to": "xks"}
        ct = self.kms.encrypt(KeyId=normal["KeyId"], Plaintext=b"moving data",
                              EncryptionContext=source_ctx)["CiphertextBlob"]
        self.proxy.reset()
        into = self.kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext=source_ctx,
                                   DestinationKeyId=key["KeyId"],
                                   DestinationEncryptionContext=dest_ctx)
        self.assertEqual((into["SourceKeyId"], into["KeyId"]), (normal["Arn"], key["Arn"]))
        enc = self.only(self.proxy.requests_for())
        self.assertEqual((enc["op"], enc["kms_operation"]), ("encrypt", "ReEncrypt"))
        self.assertEqual(enc["body"]["requestMetadata"]["kmsKeyArn"], key["Arn"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=into["CiphertextBlob"],
                                          EncryptionContext=dest_ctx)["Plaintext"],
                         b"moving data")

        self.proxy.reset()
        back = self.kms.re_encrypt(CiphertextBlob=into["CiphertextBlob"],
                                   SourceEncryptionContext=dest_ctx,
                                   DestinationKeyId=normal["KeyId"])
        self.assertEqual((back["SourceKeyId"], back["KeyId"]), (key["Arn"], normal["Arn"]))
        dec = self.only(self.proxy.requests_for())
        self.assertEqual((dec["op"], dec["kms_operation"]), ("decrypt", "ReEncrypt"))
        self.assertEqual(dec["body"]["requestMetadata"]["kmsKeyArn"], key["Arn"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=back["CiphertextBlob"],
                                          KeyId=normal["KeyId"])["Plaintext"], b"moving data")
        # From the external key to itself: a decrypt and an encrypt at the proxy.
        self.proxy.reset()
        same = self.kms.re_encrypt(CiphertextBlob=into["CiphertextBlob"],
                                   SourceEncryptionContext=dest_ctx,
                                   DestinationKeyId=key["KeyId"])
        self.assertEqual(sorted(r["op"] for r in self.proxy.requests_for()),
                         ["decrypt", "encrypt"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=same["CiphertextBlob"])["Plaintext"],
                         b"moving data")

    def test_unsupported_operations(self):
        store_id, key = self.xks_key()
        self.proxy.reset()
        self.assertKmsError(self.kms.generate_data_key_pair, "UnsupportedOperationException",
                            KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256")
        self.assertKmsError(self.kms.generate_data_key_pair_without_plaintext,
                            "UnsupportedOperationException",
                            KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256")
        self.assertKmsError(self.kms.enable_key_rotation, "UnsupportedOperationException",
                            KeyId=key["KeyId"])
        self.assertKmsError(self.kms.generate_random, "UnsupportedOperationException",
                            NumberOfBytes=16, CustomKeyStoreId=store_id)
        self.assertEqual([r for r in self.proxy.requests_for() if r["op"] != "health"], [])

    def test_proxy_failures_become_kms_invalid_state(self):
        store_id, key = self.xks_key()
        context = {"k": "v"}
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"good",
                              EncryptionContext=context)["CiphertextBlob"]
        cases = [
            # mode, the operations it applies to, message (None: the type only), check decrypt
            ("garbage", None, MALFORMED, True),
            ("bad_json_fields", None, MALFORMED, True),
            ("bad_cdiv", None, MALFORMED, False),
            ("long_metadata", None, MALFORMED, False),
            ("slow", None, TIMEOUT, True),
            ("unauthorized", None, AUTH, True),
            ("error:KeyNotFoundException:404", None, None, True),
            ("error:InternalException:500", None, None, True),
        ]
        for mode, ops, message, check_decrypt in cases:
            with self.subTest(mode=mode):
                self.proxy.reset()
                self.proxy.set_mode(mode, ops)
                self.assertKmsError(self.kms.encrypt, "KMSInvalidStateException", message,
                                    KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext=context)
                self.assertKmsError(self.kms.generate_data_key, "KMSInvalidStateException",
                                    message, KeyId=key["KeyId"], NumberOfBytes=16)
                if check_decrypt:
                    self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", message,
                                        CiphertextBlob=ct, EncryptionContext=context)
                self.assertGreaterEqual(len(self.proxy.requests_for("encrypt")), 2)
        # The proxy rejecting a ciphertext on decrypt.
        self.proxy.reset()
        self.proxy.set_mode("error:InvalidCiphertextException:400", ops={"decrypt"})
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", CIPHERTEXT_REJECTED,
                            CiphertextBlob=ct, EncryptionContext=context)
        # None of it disconnected the store or hurt the key.
        self.proxy.reset()
        self.assertEqual(self.store(store_id)["ConnectionState"], "CONNECTED")
        self.assertEqual(self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"],
                         "Enabled")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct, EncryptionContext=context)
                         ["Plaintext"], b"good")

    def test_proxy_down_during_crypto(self):
        _store, key = self.xks_key()
        normal = self.create_key()
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
        with self.proxy.down():
            self.assertKmsError(self.kms.encrypt, "KMSInvalidStateException", UNREACHABLE,
                                KeyId=key["KeyId"], Plaintext=b"x")
            self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", UNREACHABLE,
                                CiphertextBlob=ct)
            # Ordinary keys and the key's metadata do not need the proxy.
            nct = self.kms.encrypt(KeyId=normal["KeyId"], Plaintext=b"n")["CiphertextBlob"]
            self.assertEqual(self.kms.decrypt(CiphertextBlob=nct)["Plaintext"], b"n")
            self.assertEqual(self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"],
                             key["KeyId"])
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"kept")

    def test_slow_proxy_times_out_without_blocking_other_clients(self):
        _store, key = self.xks_key()
        normal = self.create_key()
        self.proxy.reset()
        self.proxy.set_mode("slow", ops={"encrypt"})
        done = {}

        def slow_call():
            try:
                self.server.client().encrypt(KeyId=key["KeyId"], Plaintext=b"slow")
                done["xks"] = ("no error", None)
            except ClientError as e:
                done["xks"] = (e.response["Error"]["Code"], e.response["Error"]["Message"])
            done["xks_at"] = time.monotonic()

        thread = threading.Thread(target=slow_call)
        thread.start()
        try:
            self.proxy.wait_for_request("encrypt")
            other = self.server.client()
            ct = other.encrypt(KeyId=normal["KeyId"], Plaintext=b"fast")["CiphertextBlob"]
            self.assertEqual(other.decrypt(CiphertextBlob=ct)["Plaintext"], b"fast")
            done["normal_at"] = time.monotonic()
        finally:
            thread.join(30)
        self.assertFalse(thread.is_alive())
        self.assertEqual(done["xks"], ("KMSInvalidStateException", TIMEOUT))
        self.assertLess(done["normal_at"], done["xks_at"])


class SecretTest(XksTestCase):
    """The proxy's secret is never shown: not in responses, the audit trail, the export or
    the logs."""

    @classmethod
    def more_server_args(cls):
        cls.audit_log = os.path.join(cls.proxy.tmp, "audit.log")
        return ["--audit-log", cls.audit_log, "--log-level", "debug"]

    def test_secret_never_leaks(self):
        self.proxy.add_credential(AKID2, SECRET2)
        secrets = (SECRET, SECRET2, SECRET3)
        # Refused creates, a store, a connection, a rotated credential, a refused one, a key.
        self.assertKmsError(self.create_store, "XksProxyInvalidConfigurationException",
                            path="/nope/kms/xks/v1")
        self.assertKmsError(self.kms_nv.create_custom_key_store, "ValidationException",
                            **self.store_args(path="bad"))
        store_id = self.connected_store()
        self.kms.update_custom_key_store(CustomKeyStoreId=store_id,
                                         XksProxyAuthenticationCredential=credential(AKID2, SECRET2))
        self.assertKmsError(self.kms.update_custom_key_store,
                            "XksProxyIncorrectAuthenticationCredentialException",
                            CustomKeyStoreId=store_id,
                            XksProxyAuthenticationCredential=credential(AKID3, SECRET3))
        key = self.create_xks_key(store_id)
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"p")["CiphertextBlob"]
        self.kms.decrypt(CiphertextBlob=ct)

        described = json.dumps(self.kms.describe_custom_key_stores(), default=str)
        self.assertIn(AKID2, described)
        status, audit = self.server.admin("GET", "/_kmsd/audit?limit=1000")
        self.assertEqual(status, 200, audit)
        events = [r["eventName"] for r in json.loads(audit)["Records"]]
        self.assertIn("CreateCustomKeyStore", events)
        self.assertIn("UpdateCustomKeyStore", events)
        status, export = self.server.admin("GET", "/_kmsd/export")
        self.assertEqual(status, 200, export)
        deadline = time.monotonic() + 10
        while True:  # the audit file is written in batches
            audit_file = b""
            if os.path.exists(self.audit_log):
                with open(self.audit_log, "rb") as f:
                    audit_file = f.read()
            if b"UpdateCustomKeyStore" in audit_file or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertIn(b"UpdateCustomKeyStore", audit_file)
        for secret in secrets:
            with self.subTest(secret=secret[:6]):
                self.assertNotIn(secret, described)
                self.assertNotIn(secret.encode(), audit)
                self.assertNotIn(secret.encode(), export)
                self.assertNotIn(secret.encode(), audit_file)
                self.assertNotIn(secret, self.server.stderr())
                self.assertNotIn(secret, self.server.stdout())


class HeldProxyTest(XksTestCase):
    """A generous --xks-timeout-ms: a proxy that takes its time is waited for, and while one
    call waits every other client is served."""

    xks_timeout_ms = 20000
    slow_seconds = 1.0

    def test_held_proxy_call_does_not_block_other_clients(self):
        store_id, key = self.xks_key()
        normal = self.create_key()
        self.proxy.reset()
        self.proxy.set_mode("hold", ops={"encrypt"})
        result = {}

        def held_call():
            try:
                result["ct"] = self.server.client().encrypt(
                    KeyId=key["KeyId"], Plaintext=b"held")["CiphertextBlob"]
            except Exception as e:  # reported below
                result["error"] = e

        held = threading.Thread(target=held_call)
        held.start()
        try:
            self.proxy.wait_for_request("encrypt")
            errors = []

            def burst():
                try:
                    kms = self.server.client()
                    for i in range(5):
                        data = b"burst %d" % i
                        ct = kms.encrypt(KeyId=normal["KeyId"], Plaintext=data)["CiphertextBlob"]
                        if kms.decrypt(CiphertextBlob=ct)["Plaintext"] != data:
                            errors.append("round trip")
                        kms.describe_key(KeyId=key["KeyId"])
                except Exception as e:
                    errors.append(e)

            workers = [threading.Thread(target=burst) for _ in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(30)
            self.assertFalse(any(w.is_alive() for w in workers), "other clients were blocked")
            self.assertEqual(errors, [])
            self.assertEqual(self.store(store_id)["ConnectionState"], "CONNECTED")
            # All that while the external key's call was still waiting for the proxy.
            self.assertTrue(held.is_alive())
            self.assertEqual(result, {})
        finally:
            self.proxy.release()
            held.join(30)
        self.assertNotIn("error", result)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=result["ct"])["Plaintext"], b"held")

    def test_timeout_option_lets_a_slow_proxy_answer(self):
        _store, key = self.xks_key()
        self.proxy.set_mode("slow", ops={"encrypt", "decrypt"})
        started = time.monotonic()
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"patience")["CiphertextBlob"]
        self.assertGreaterEqual(time.monotonic() - started, self.slow_seconds)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"patience")


class XksRestartTest(XksTestCase):
    """Its own server: a restart moves it to a new port."""

    def test_store_and_key_survive_a_restart(self):
        store_id, key = self.xks_key()
        context = {"kept": "yes"}
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"across restarts",
                              EncryptionContext=context)["CiphertextBlob"]
        before = self.store(store_id)
        self.server.restart()
        type(self).kms = self.server.client()
        type(self).kms_nv = self.server.client(validate=False)
        after = self.store(store_id)
        for field in ("CustomKeyStoreName", "CustomKeyStoreType", "XksProxyConfiguration",
                      "CreationDate"):
            self.assertEqual(after[field], before[field], field)
        described = self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        self.assertEqual((described["Origin"], described["CustomKeyStoreId"],
                          described["XksKeyConfiguration"]),
                         ("EXTERNAL_KEY_STORE", store_id, {"Id": "key-1"}))
        if after["ConnectionState"] != "CONNECTED":
            self.assertEqual(self.connect(store_id)["ConnectionState"], "CONNECTED")
        # The stored secret still signs.
        self.proxy.reset()
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct, EncryptionContext=context)
                         ["Plaintext"], b"across restarts")
        self.assertSignedRequest(self.only(self.proxy.requests_for("decrypt")))
        ct2 = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"after")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct2)["Plaintext"], b"after")
        self.assertNotIn(SECRET, self.server.stderr())


class BuiltinProxy:
    """`kmsd xks-proxy` as a second process, on a fixed port and data dir across restarts."""

    def __init__(self, keys, disabled_keys):
        self.tmp = tempfile.mkdtemp(prefix="kmsd-xks-proxy-")
        self.data_dir = os.path.join(self.tmp, "data")
        os.makedirs(self.data_dir)
        self.port = free_port()
        self.keys = list(keys)
        self.disabled_keys = list(disabled_keys)
        self.proc = None
        self.logs = []

    @property
    def cert_file(self):
        return os.path.join(self.data_dir, "tls-cert.pem")

    def command(self):
        args = [kmsd_bin(), "xks-proxy", "--data-dir", self.data_dir, "--port", str(self.port),
                "--bind", "127.0.0.1", "--tls-name", HOST, "--access-key-id", AKID,
                "--secret-access-key", SECRET, "--uri-path", PATH]
        for k in self.keys:
            args += ["--key", k]
        for k in self.disabled_keys:
            args += ["--disabled-key", k]
        return args

    def start(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            log_path = os.path.join(self.tmp, "proxy.%d.log" % (len(self.logs) + 1))
            self.logs.append(log_path)
            with open(log_path, "wb") as log:
                self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            if wait_for_port(self.port, self.proc, max(1.0, deadline - time.monotonic())):
                return self
            exited = self.proc.poll() is not None
            if not exited:
                self.kill9()
            # Right after a SIGKILL the port may still be held for a moment.
            if exited and "in use" in self.log().lower() and time.monotonic() < deadline:
                time.sleep(0.2)
                continue
            raise AssertionError("kmsd xks-proxy did not start (rc=%s):\n%s"
                                 % (self.proc.returncode, self.log()[-3000:]))

    @property
    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.alive:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self):
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill9()

    def log(self):
        text = ""
        for path in self.logs:
            with open(path, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        return text

    def cleanup(self):
        self.stop()
        report = _sanitizer_report(self.log())
        if not os.environ.get("KMSD_KEEP_LOGS"):
            shutil.rmtree(self.tmp, ignore_errors=True)
        if report:
            raise AssertionError("sanitizer report from kmsd xks-proxy:\n" + report)


class BuiltinProxyTest(KmsdTestCase):
    """kmsd and `kmsd xks-proxy`: the whole external key store flow between two processes."""

    @classmethod
    def setUpClass(cls):
        cls.xks = BuiltinProxy(keys=["k1", "k2"], disabled_keys=["off-key"])
        try:
            cls.xks.start()
            cls.server_args = ["--xks-endpoint-map", "%s=127.0.0.1:%d" % (HOST, cls.xks.port),
                               "--xks-ca-file", cls.xks.cert_file,
                               # sanitizer builds of both processes: room for the handshake
                               "--xks-timeout-ms", "3000"]
            super().setUpClass()
        except Exception:
            cls.xks.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls.xks.cleanup()

    def setUp(self):
        super().setUp()
        if not self.xks.alive:
            self.xks.start()

    def advance(self, seconds):
        status, body = self.server.admin("POST", "/_kmsd/clock", {"advance_seconds": seconds})
        self.assertEqual(status, 200, body)

    def create_store(self, akid=AKID, secret=SECRET, path=PATH):
        return self.kms.create_custom_key_store(
            CustomKeyStoreName="builtin", CustomKeyStoreType="EXTERNAL_KEY_STORE",
            XksProxyConnectivity="PUBLIC_ENDPOINT", XksProxyUriEndpoint=ENDPOINT,
            XksProxyUriPath=path,
            XksProxyAuthenticationCredential=credential(akid, secret))["CustomKeyStoreId"]

    def connected_store(self):
        store_id = self.create_store()
        self.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
        deadline = time.monotonic() + 15
        while True:
            self.advance(3)
            entry = self.kms.describe_custom_key_stores(
                CustomKeyStoreId=store_id)["CustomKeyStores"][0]
            if entry["ConnectionState"] != "CONNECTING" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(entry["ConnectionState"], "CONNECTED", entry)
        return store_id

    def xks_key(self, store_id, xks_key_id="k1"):
        return self.kms.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId=store_id,
                                   XksKeyId=xks_key_id)["KeyMetadata"]

    def test_certificate_and_credentials(self):
        with open(self.xks.cert_file, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        names = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        self.assertIn(HOST, names)
        self.assertTrue(os.path.exists(os.path.join(self.xks.data_dir, "tls-key.pem")))
        self.assertKmsError(self.create_store, "XksProxyIncorrectAuthenticationCredentialException",
                            AUTH, secret=SECRET2)
        self.assertKmsError(self.create_store, "XksProxyIncorrectAuthenticationCredentialException",
                            AUTH, akid=AKID2)
        self.assertKmsError(self.create_store, "XksProxyInvalidConfigurationException",
                            path="/other/kms/xks/v1")
        self.assertEqual(self.kms.describe_custom_key_stores()["CustomKeyStores"], [])
        self.assertTrue(self.create_store().startswith("cks-"))

    def test_keys_of_the_builtin_proxy(self):
        store_id = self.connected_store()
        key = self.xks_key(store_id, "k1")
        self.assertEqual((key["Origin"], key["XksKeyConfiguration"]),
                         ("EXTERNAL_KEY_STORE", {"Id": "k1"}))
        context = {"builtin": "proxy"}
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"two processes",
                              EncryptionContext=context)["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct, EncryptionContext=context)
                         ["Plaintext"], b"two processes")
        dk = self.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")
        self.assertEqual(self.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"],
                         dk["Plaintext"])
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", INNER_INVALID,
                            CiphertextBlob=ct, EncryptionContext={"builtin": "other"})
        self.assertKmsError(self.xks_key, "XksKeyNotFoundException", KEY_NOT_FOUND,
                            store_id=store_id, xks_key_id="nope")
        self.assertKmsError(self.xks_key, "XksKeyInvalidConfigurationException", DISABLED,
                            store_id=store_id, xks_key_id="off-key")
        self.assertKmsError(self.xks_key, "XksKeyAlreadyInUseException",
                            store_id=store_id, xks_key_id="k1")
        other = self.xks_key(store_id, "k2")
        self.assertKmsError(self.kms.decrypt, "IncorrectKeyException", CiphertextBlob=ct,
                            KeyId=other["KeyId"], EncryptionContext=context)

    def test_killed_proxy_and_restart(self):
        store_id = self.connected_store()
        key = self.xks_key(store_id)
        normal = self.create_key()
        ct = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before the kill")["CiphertextBlob"]
        with open(self.xks.cert_file, "rb") as f:
            cert_before = f.read()

        self.xks.kill9()
        self.assertKmsError(self.kms.encrypt, "KMSInvalidStateException", UNREACHABLE,
                            KeyId=key["KeyId"], Plaintext=b"x")
        self.assertKmsError(self.kms.decrypt, "KMSInvalidStateException", UNREACHABLE,
                            CiphertextBlob=ct)
        # Everything else goes on, at its usual pace.
        started = time.monotonic()
        for i in range(20):
            data = b"normal %d" % i
            nct = self.kms.encrypt(KeyId=normal["KeyId"], Plaintext=data)["CiphertextBlob"]
            self.assertEqual(self.kms.decrypt(CiphertextBlob=nct)["Plaintext"], data)
            self.assertEqual(self.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"],
                             key["KeyId"])
        self.assertLess(time.monotonic() - started, 15.0)

        self.xks.start()
        with open(self.xks.cert_file, "rb") as f:
            self.assertEqual(f.read(), cert_before)
        self.assertEqual(self.kms.decrypt(CiphertextBlob=ct)["Plaintext"], b"before the kill")
        again = self.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"after")["CiphertextBlob"]
        self.assertEqual(self.kms.decrypt(CiphertextBlob=again)["Plaintext"], b"after")
        self.assertNotIn(SECRET, self.server.stderr())


if __name__ == "__main__":
    unittest.main()
