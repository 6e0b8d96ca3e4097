#!/usr/bin/env python3
"""Writes the text seed inputs of tests/fuzz/corpus/ (the blob files come from fuzz_make_corpus).

Usage: make_corpus.py CORPUS_DIR BLOBS_FILE
BLOBS_FILE holds `name base64` lines as fuzz_make_corpus prints them: valid ciphertexts under the
fuzz targets' seeded key (tests/fuzz/fuzz_common.h), so Decrypt and ReEncrypt seeds succeed.
Every implemented KMS operation has at least one request, the calls the integration tests make.
"""
import hashlib
import hmac
import json
import os
import sys

KEY = "11111111-2222-3333-4444-555555555555"
DISABLED = "66666666-7777-8888-9999-000000000000"
ACCT = "111122223333"
# The fuzz seed's asymmetric keys (tests/fuzz/fuzz_common.h), a peer P-256 public key, and
# signatures of "hello" by the ECDSA and Ed25519 keys.
SIGN_KEY = "a1a1a1a1-0000-4000-8000-000000000001"
AGREE_KEY = "a1a1a1a1-0000-4000-8000-000000000002"
RSA_KEY = "a1a1a1a1-0000-4000-8000-000000000003"
ED_KEY = "a1a1a1a1-0000-4000-8000-000000000004"
PEER_SPKI = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9+AwcRnZSm/1dE1bHImDosHkJ3cNZwFtqZtRRPodDyRlNS/bKwn0XBq/Eg4/3xloUY+rXc4//tcmq5zZ+0WDow=="
ECDSA_SIG = "MEUCIHOLSIrr7VvQRlUwe+bBmaIjVl5IIYAsU+LHY0KM2Be2AiEAx0OSnL02I+VXmfSCH8vvmdFttcpc8r5muHn762uVLOg="
ED25519_SIG = "UyoF0es93YnR6UOiiYNC05hYZFL/MxfQjloGSIDmFq7N72SDCy2hv3HdXCC/HKG0IPIM/h6sDp7th9dLauFnAw=="
ARN = "arn:aws:kms:us-east-1:%s:key/%s" % (ACCT, KEY)
ALIAS_ARN = "arn:aws:kms:us-east-1:%s:alias/fuzz" % ACCT
ROLE = "arn:aws:iam::%s:role/app" % ACCT
AMZ_DATE = "20240101T000000Z"  # the sigv4 target's fixed "now"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

POLICY = {
    "Version": "2012-10-17",
    "Id": "fuzz",
    "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCT},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "app", "Effect": "Allow", "Principal": {"AWS": [ROLE, ACCT]},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "t1"},
                       "ForAllValues:StringLike": {"kms:EncryptionContextKeys": ["tenant", "p*"]},
                       "IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]},
                       "NumericLessThanEquals": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"},
                       "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                       "Bool": {"aws:SecureTransport": "false"},
                       "Null": {"kms:GranteePrincipal": "true"},
                       "ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/a*"},
                       "StringNotEqualsIgnoreCaseIfExists": {"aws:ResourceTag/team": "RED"}}},
        {"Sid": "deny", "Effect": "Deny", "NotPrincipal": {"AWS": "arn:aws:iam::%s:root" % ACCT},
         "NotAction": "kms:Describe*", "NotResource": ARN,
         "Condition": {"ForAnyValue:StringEquals": {"kms:GrantOperations": ["Sign"]}}},
    ],
}

IDENTITY_POLICY = {"Version": "2012-10-17",
                   "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def requests(blobs):
    ctx = {"purpose": "fuzz"}
    grant = {"KeyId": KEY, "GranteePrincipal": ROLE, "RetiringPrincipal": ROLE,
             "Operations": ["Encrypt", "Decrypt", "RetireGrant", "CreateGrant"],
             "Constraints": {"EncryptionContextSubset": {"tenant": "t1"}}, "Name": "g1"}
    grant_id = "a" * 64
    return {
        "CreateKey": [{}, {"Description": "fuzz", "KeyUsage": "ENCRYPT_DECRYPT",
                           "KeySpec": "SYMMETRIC_DEFAULT", "Origin": "AWS_KMS",
                           "Tags": [{"TagKey": "team", "TagValue": "blue"}],
                           "Policy": json.dumps(POLICY), "BypassPolicyLockoutSafetyCheck": False,
                           "MultiRegion": False}],
        "DescribeKey": [{"KeyId": KEY}, {"KeyId": "alias/fuzz"}, {"KeyId": ARN},
                        {"KeyId": ALIAS_ARN, "GrantTokens": ["token"]}],
        "ListKeys": [{}, {"Limit": 1}, {"Limit": 1, "Marker": KEY}],
        "UpdateKeyDescription": [{"KeyId": KEY, "Description": "new"}],
        "Encrypt": [{"KeyId": "alias/fuzz", "Plaintext": b64("hello"), "EncryptionContext": ctx},
                    {"KeyId": KEY, "Plaintext": b64("x" * 100),
                     "EncryptionAlgorithm": "SYMMETRIC_DEFAULT", "DryRun": False},
                    {"KeyId": RSA_KEY, "Plaintext": b64("hello"),
                     "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}],
        "Decrypt": [{"CiphertextBlob": blobs["valid-context"], "EncryptionContext": ctx},
                    {"CiphertextBlob": blobs["valid-empty-context"], "KeyId": KEY,
                     "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                    {"CiphertextBlob": blobs["valid-one-byte"], "EncryptionContext": ctx,
                     "GrantTokens": ["t"], "DryRun": True}],
        "ReEncrypt": [{"CiphertextBlob": blobs["valid-context"], "SourceEncryptionContext": ctx,
                       "DestinationKeyId": "alias/fuzz",
                       "DestinationEncryptionContext": {"tenant": "t1"},
                       "SourceKeyId": KEY, "SourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                       "DestinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT"}],
        "GenerateDataKey": [{"KeyId": KEY, "KeySpec": "AES_256", "EncryptionContext": ctx},
                            {"KeyId": "alias/fuzz", "NumberOfBytes": 64}],
        "GenerateDataKeyWithoutPlaintext": [{"KeyId": KEY, "KeySpec": "AES_128"}],
        "GenerateRandom": [{"NumberOfBytes": 32}],
        "CreateAlias": [{"AliasName": "alias/new", "TargetKeyId": KEY}],
        "UpdateAlias": [{"AliasName": "alias/fuzz", "TargetKeyId": DISABLED}],
        "DeleteAlias": [{"AliasName": "alias/fuzz"}],
        "ListAliases": [{}, {"KeyId": KEY, "Limit": 10}],
        "DisableKey": [{"KeyId": KEY}],
        "EnableKey": [{"KeyId": DISABLED}],
        "EnableKeyRotation": [{"KeyId": KEY, "RotationPeriodInDays": 90}],
        "DisableKeyRotation": [{"KeyId": KEY}],
        "GetKeyRotationStatus": [{"KeyId": ARN}],
        "RotateKeyOnDemand": [{"KeyId": KEY}],
        "ListKeyRotations": [{"KeyId": KEY, "IncludeKeyMaterial": "ALL_KEY_MATERIAL",
                              "Limit": 5}],
        "ScheduleKeyDeletion": [{"KeyId": KEY, "PendingWindowInDays": 7}],
        "CancelKeyDeletion": [{"KeyId": KEY}],
        "GetKeyPolicy": [{"KeyId": KEY, "PolicyName": "default"}, {"KeyId": KEY}],
        "PutKeyPolicy": [{"KeyId": KEY, "PolicyName": "default", "Policy": json.dumps(POLICY)}],
        "ListKeyPolicies": [{"KeyId": KEY}],
        "TagResource": [{"KeyId": KEY, "Tags": [{"TagKey": "team", "TagValue": "red"}]}],
        "UntagResource": [{"KeyId": KEY, "TagKeys": ["team"]}],
        "ListResourceTags": [{"KeyId": KEY, "Limit": 5}],
        "CreateGrant": [grant, {"KeyId": KEY, "GranteePrincipal": ACCT,
                                "Operations": ["GenerateDataKey"],
                                "Constraints": {"EncryptionContextEquals": {"a": "b"}}}],
        "ListGrants": [{"KeyId": KEY}, {"KeyId": KEY, "GrantId": grant_id,
                                        "GranteePrincipal": ROLE}],
        "ListRetirableGrants": [{"RetiringPrincipal": ROLE}],
        "RetireGrant": [{"KeyId": ARN, "GrantId": grant_id}, {"GrantToken": "token"}],
        "RevokeGrant": [{"KeyId": KEY, "GrantId": grant_id}],
        "GetKeyLastUsage": [{"KeyId": KEY}],
        "Sign": [{"KeyId": SIGN_KEY, "Message": b64("hello"), "SigningAlgorithm": "ECDSA_SHA_256"},
                 {"KeyId": SIGN_KEY, "Message": b64("x" * 32), "MessageType": "DIGEST",
                  "SigningAlgorithm": "ECDSA_SHA_256", "GrantTokens": ["t"], "DryRun": False},
                 {"KeyId": ED_KEY, "Message": b64("hello"), "SigningAlgorithm": "ED25519_SHA_512"}],
        "Verify": [{"KeyId": SIGN_KEY, "Message": b64("hello"), "Signature": ECDSA_SIG,
                    "SigningAlgorithm": "ECDSA_SHA_256", "MessageType": "RAW"},
                   {"KeyId": ED_KEY, "Message": b64("hello"), "Signature": ED25519_SIG,
                    "SigningAlgorithm": "ED25519_SHA_512"}],
        "GetPublicKey": [{"KeyId": SIGN_KEY}, {"KeyId": RSA_KEY, "GrantTokens": ["t"]}],
        "DeriveSharedSecret": [{"KeyId": AGREE_KEY, "KeyAgreementAlgorithm": "ECDH",
                                "PublicKey": PEER_SPKI}],
        "GenerateDataKeyPair": [{"KeyId": KEY, "KeyPairSpec": "ECC_NIST_P256",
                                 "EncryptionContext": ctx}],
        "GenerateDataKeyPairWithoutPlaintext": [{"KeyId": "alias/fuzz",
                                                 "KeyPairSpec": "ECC_NIST_EDWARDS25519"}],
        "GenerateMac": [{"KeyId": KEY, "Message": b64("m"), "MacAlgorithm": "HMAC_SHA_256"}],
        "VerifyMac": [{"KeyId": KEY, "Message": b64("m"), "Mac": b64("x" * 32),
                       "MacAlgorithm": "HMAC_SHA_256"}],
    }


def http_request(op, body, target="/", method="POST", extra=""):
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":"))
    head = ("%s %s HTTP/1.1\r\nHost: localhost:8080\r\n" % (method, target))
    if op:
        head += "X-Amz-Target: TrentService.%s\r\n" % op
        head += "Content-Type: application/x-amz-json-1.1\r\n"
        head += ("Authorization: AWS4-HMAC-SHA256 Credential=%s/20240101/us-east-1/kms/"
                 "aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, "
                 "Signature=%s\r\nX-Amz-Date: %s\r\n" % (ACCESS_KEY, "0" * 64, AMZ_DATE))
    head += extra
    return head + "Content-Length: %d\r\n\r\n%s" % (len(body.encode()), body)


def sigv4_request(op, body, key=ACCESS_KEY, secret=SECRET, token=None, target="/"):
    """A request as the sigv4 target reads it, signed as boto3 signs."""
    body = json.dumps(body, separators=(",", ":"))
    headers = [("content-type", "application/x-amz-json-1.1"), ("host", "localhost:8080"),
               ("x-amz-date", AMZ_DATE), ("x-amz-target", "TrentService." + op)]
    if token:
        headers.append(("x-amz-security-token", token))
    signed = ";".join(h for h, _ in headers)
    path, _, query = target.partition("?")
    canonical = "\n".join(["POST", path, query] + ["%s:%s" % h for h in headers] +
                          ["", signed, hashlib.sha256(body.encode()).hexdigest()])
    scope = "20240101/us-east-1/kms/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", AMZ_DATE, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in ["20240101", "us-east-1", "kms", "aws4_request"]:
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    lines = ["POST " + target]
    lines += ["%s: %s" % (n.title() if n != "x-amz-target" else "X-Amz-Target", v)
              for n, v in headers]
    lines.append("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, "
                 "Signature=%s" % (key, scope, signed, sig))
    return "\n".join(lines) + "\n\n" + body


PRINCIPALS_README = """\
accounts:
  "111122223333":
    root: {access_key_id: AKIAROOT1111EXAMPLE, secret_access_key: "..."}
    users:
      - name: alice
        access_key_id: AKIAALICE111EXAMPLE
        secret_access_key: "..."
        policies:        # identity (IAM) policies, in YAML or JSON
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
  "444455556666":
    roles:   # temporary credentials; the session token is required with the key
      - name: app        # caller: arn:aws:sts::444455556666:assumed-role/app/app-session
        access_key_id: ASIAAPP11111EXAMPLE
        secret_access_key: "..."
        session_token: "..."
        session_name: app-session
        policies:
          - Version: "2012-10-17"
            Statement:
              - {Effect: Allow, Action: ["kms:Encrypt", "kms:Decrypt"], Resource: "*"}
"""

PRINCIPALS_BLOCK = """\
accounts:
  "111122223333":
    users:
      - name: writer
        access_key_id: AKIAWRITER00EXAMPLE
        secret_access_key: writer-secret
        policies:
          - Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: ["kms:CreateKey", "kms:Encrypt"]
                Resource: "*"
              - Effect: Deny
                Action: kms:Decrypt
                Resource: "*"
                Condition:
                  StringEquals: {"kms:EncryptionContext:tenant": [t1, t2]}
"""

PRINCIPALS_ANCHORS = """\
defaults: &allow {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
accounts:
  "111122223333":
    root: {access_key_id: AKIDEXAMPLE, secret_access_key: x}
    users:
      - {name: a, access_key_id: AKIAALICE111EXAMPLE, secret_access_key: s, policies: [*allow]}
      - {name: b, policies: [*allow, *allow]}
"""

SEED = """\
Keys:
  Symmetric:
    Aes:
      - Metadata:
          KeyId: bc436485-5092-42b8-92a3-0aa8b93536dc
          Description: seeded
        BackingKeys:
          - 5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9
          - 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0
Aliases:
  - AliasName: alias/testing
    TargetKeyId: bc436485-5092-42b8-92a3-0aa8b93536dc
"""

# A throwaway P-256 key made for this corpus (openssl ecparam -genkey), in local-kms's
# Keys.Asymmetric shape.
SEED_ASYMMETRIC = """\
Keys:
  Asymmetric:
    Ecc:
      - Metadata:
          KeyId: 800d5768-3fd7-4edd-a4b8-4c81c3e4c147
          KeyUsage: SIGN_VERIFY
        PrivateKeyPem: |
          -----BEGIN EC PRIVATE KEY-----
          MHcCAQEEIMCvX5YYeSx5HwF+pxDI/JyE7Sp2BomDAXDso1Vb7vnfoAoGCCqGSM49
          AwEHoUQDQgAEIVni24w68k9PraXmu4S4FgrDQP42U1Z8UN3x0IVUEUUzvtquX9xd
          WtrfXzZVNkLByYb/YEkT1tpbf3GAA2/Elg==
          -----END EC PRIVATE KEY-----
"""

SEED_DISABLED = """\
Keys:
  Symmetric:
    Aes:
      - Metadata: {KeyId: 66666666-7777-8888-9999-000000000000, KeyState: Disabled}
        BackingKeys: [5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9]
Aliases:
  - {AliasName: alias/a, TargetKeyId: 66666666-7777-8888-9999-000000000000}
  - {AliasName: alias/b, TargetKeyId: 66666666-7777-8888-9999-000000000000}
"""


# Bodies where the parsers could part: numbers at the edges of 64 bits and of double, escapes,
# a BOM, duplicates, non-objects, trailing bytes.
JSON_EDGES = {
    "numbers": '{"a":-0,"b":0,"c":-0.0,"d":18446744073709551615,"e":18446744073709551616,'
               '"f":-9223372036854775808,"g":-9223372036854775809,"h":1e308,"i":1e-400,'
               '"j":2.2250738585072011e-308,"k":1E+2,"l":[1.5,-2,3e0]}',
    "escapes": '{"a":"\\u0000\\ud83d\\ude00\\n\\"\\/","b\\u00e9":"\u00e9\u4e2d"}',
    "bom": '\ufeff{"KeyId":"k"}',
    "duplicate": '{"a":1,"b":{"c":1,"c":2}}',
    "array": '[{"a":1}]',
    "trailing": '{"a":1} x',
    "nested": '{"a":{"b":{"c":[[{"d":null,"e":true,"f":false}]]}}}',
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def main():
    out, blobs_file = sys.argv[1], sys.argv[2]
    blobs = dict(line.split() for line in open(blobs_file) if line.strip())
    reqs = requests(blobs)
    for op, bodies in reqs.items():
        for i, body in enumerate(bodies):
            write("%s/http/%s-%d" % (out, op, i), http_request(op, body))
            # fuzz_json compares the two body parsers: every request body is a seed.
            write("%s/json/%s-%d" % (out, op, i),
                  body if isinstance(body, str) else json.dumps(body, separators=(",", ":")))
    for name, text in JSON_EDGES.items():
        write("%s/json/edge-%s" % (out, name), text)
    # Sequences: state changes followed by the requests they affect.
    seqs = {
        "alias-lifecycle": [("CreateAlias", {"AliasName": "alias/x", "TargetKeyId": KEY}),
                            ("Encrypt", {"KeyId": "alias/x", "Plaintext": b64("p")}),
                            ("DeleteAlias", {"AliasName": "alias/x"})],
        "disable-encrypt": [("DisableKey", {"KeyId": KEY}),
                            ("Encrypt", {"KeyId": KEY, "Plaintext": b64("p")}),
                            ("EnableKey", {"KeyId": KEY})],
        "schedule-cancel": [("ScheduleKeyDeletion", {"KeyId": KEY, "PendingWindowInDays": 7}),
                            ("DescribeKey", {"KeyId": KEY}),
                            ("CancelKeyDeletion", {"KeyId": KEY})],
        "grant-list": [("CreateGrant", requests(blobs)["CreateGrant"][0]),
                       ("ListGrants", {"KeyId": KEY}),
                       ("ListRetirableGrants", {"RetiringPrincipal": ROLE})],
        "rotate-decrypt": [("RotateKeyOnDemand", {"KeyId": KEY}),
                           ("Decrypt", {"CiphertextBlob": blobs["valid-context"],
                                        "EncryptionContext": {"purpose": "fuzz"}}),
                           ("ListKeyRotations", {"KeyId": KEY})],
    }
    for name, calls in seqs.items():
        write("%s/http/seq-%s" % (out, name), "".join(http_request(op, b) for op, b in calls))
    # Scheduled deletion then the admin clock: the deletion runs.
    write("%s/http/seq-schedule-advance" % out,
          http_request("ScheduleKeyDeletion", {"KeyId": KEY, "PendingWindowInDays": 7}) +
          http_request(None, '{"advance_seconds":700000}', target="/_kmsd/clock",
                       extra="Content-Type: application/json\r\n") +
          http_request("DescribeKey", {"KeyId": KEY}))
    write("%s/http/admin-health" % out, "GET /_kmsd/health HTTP/1.1\r\nHost: x\r\n\r\n")
    write("%s/http/admin-reset" % out, http_request(None, "", target="/moto-api/reset"))
    write("%s/http/get-root" % out, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    write("%s/http/unknown-op" % out, http_request("NoSuchOperation", {}))
    write("%s/http/chunked" % out,
          "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.ListKeys\r\n"
          "Content-Type: application/x-amz-json-1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
          "2\r\n{}\r\n0\r\n\r\n")
    write("%s/http/json10" % out,
          http_request("ListKeys", {}).replace("json-1.1", "json-1.0; charset=utf-8"))

    # method, path, Authorization, Content-Type, Origin, Host, then the body (fuzz_admin.cpp).
    j = "application/json"
    admin = {
        "health": ["GET", "/_kmsd/health", "", "", "", "localhost:8080", ""],
        "clock-get": ["GET", "/_kmsd/clock", "Bearer fuzz-token", "", "", "localhost:8080", ""],
        "clock-advance": ["POST", "/_kmsd/clock", "Bearer fuzz-token", j, "", "127.0.0.1:8080",
                          '{"advance_seconds": 3600}'],
        "clock-now": ["POST", "/_kmsd/clock", "Bearer fuzz-token", j + "; charset=utf-8",
                      "http://localhost:8080", "localhost:8080", '{"now": 4102444800}'],
        "reset": ["POST", "/_kmsd/reset", "Bearer fuzz-token", "", "", "localhost:8080", ""],
        "moto-reset": ["POST", "/moto-api/reset?x=1", "Bearer fuzz-token", "", "", "[::1]:8080",
                       ""],
        "foreign-origin": ["POST", "/_kmsd/reset", "Bearer fuzz-token", "",
                           "http://evil.example", "evil.example", ""],
        "no-token": ["POST", "/_kmsd/clock", "", j, "", "localhost", '{"advance_seconds": 1}'],
        "unknown": ["GET", "/_kmsd/nothing", "Bearer fuzz-token", "", "", "localhost", ""],
        "audit": ["GET", "/_kmsd/audit", "Bearer fuzz-token", "", "", "localhost", ""],
        "audit-query": ["GET", "/_kmsd/audit?eventName=DescribeKey&limit=5&since=2000-01-01T00:00:00Z"
                        "&keyArn=arn%3Aaws%3Akms%3Aus-east-1%3A111122223333%3Akey%2Fx",
                        "Bearer fuzz-token", "", "", "localhost", ""],
        "audit-bad": ["GET", "/_kmsd/audit?limit=0&since=%zz+1", "Bearer fuzz-token", "", "",
                      "localhost", ""],
        "keys": ["GET", "/_kmsd/keys?limit=2&marker=0", "Bearer fuzz-token", "", "", "localhost",
                 ""],
        "key-arn": ["GET", "/_kmsd/keys/arn%3Aaws%3Akms%3Aus-east-1%3A111122223333%3Akey%2F"
                    "11111111-2222-3333-4444-555555555555", "Bearer fuzz-token", "", "",
                    "localhost", ""],
        "ui": ["GET", "/_kmsd/ui", "", "", "", "localhost", ""],
    }
    admin = {k: "\n".join(v) for k, v in admin.items()}
    for name, text in admin.items():
        write("%s/admin/%s" % (out, name), text)

    for op in ["Encrypt", "DescribeKey", "ListKeys"]:
        body = reqs[op][0]
        write("%s/sigv4/%s" % (out, op), sigv4_request(op, body))
    write("%s/sigv4/query-role" % out,
          sigv4_request("ListKeys", {}, key="ASIAAPP11111EXAMPLE", secret="app-secret",
                        token="app-token", target="/?a=1&b=%20x"))
    write("%s/sigv4/unsigned" % out, "POST /\nHost: localhost\n\n{}")

    write("%s/policy/full" % out, json.dumps(POLICY, indent=1))
    write("%s/policy/identity" % out, json.dumps(IDENTITY_POLICY))
    write("%s/policy/default" % out, json.dumps({
        "Version": "2012-10-17", "Id": "key-default-1",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": "arn:aws:iam::%s:root" % ACCT},
                       "Action": "kms:*", "Resource": "*"}]}))
    write("%s/policy/star" % out, json.dumps({
        "Statement": {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
                      "Resource": "*", "Condition": {
                          "StringNotLike": {"kms:RequestAlias": ["alias/f*", "alias/?"]},
                          "NumericGreaterThan": {"aws:EpochTime": "1"},
                          "DateLessThanIfExists": {"aws:CurrentTime": "1704067200"},
                          "NotIpAddress": {"aws:SourceIp": "192.168.0.1/32"},
                          "ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::*:user/*"},
                          "BinaryEquals": {"x": "AA=="}}}}))

    write("%s/principals/readme" % out, PRINCIPALS_README)
    write("%s/principals/block-policy" % out, PRINCIPALS_BLOCK)
    write("%s/principals/anchors" % out, PRINCIPALS_ANCHORS)
    write("%s/seed/test-seed" % out, SEED)
    write("%s/seed/disabled-flow" % out, SEED_DISABLED)
    write("%s/seed/asymmetric" % out, SEED_ASYMMETRIC)


if __name__ == "__main__":
    main()
