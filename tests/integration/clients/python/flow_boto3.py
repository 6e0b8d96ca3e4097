"""The client flow (tests/integration/python/test_clients.py) with whatever boto3 the interpreter
imports; the test runs it with Debian's /usr/bin/python3 and python3-boto3 (1.26, which ignores
AWS_ENDPOINT_URL_KMS: the endpoint is the client's endpoint_url):

    /usr/bin/python3 -s -E flow_boto3.py ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]

Prints "ok <step>" per step and exits 1 with "FAIL <step>: ..." on the first wrong result. With
WRONG_SECRET_KEY (strict mode) it also checks that a request signed with it is refused.
"""
import datetime
import os
import sys

import boto3
import botocore
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

REGION = "us-east-1"
ACCOUNT = "111122223333"
CLIENT = "boto3"

step = "setup"


class Failure(Exception):
    pass


def fail(msg):
    raise Failure(msg)


def ok():
    print("ok " + step, flush=True)


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))


def expect_error(kms, exc_name, fn, **kw):
    """fn(**kw) raises the client's modeled exception class exc_name (kms.exceptions.<name>), or,
    for a code the KMS model does not name, a ClientError with that code; HTTP 400, a request ID."""
    modeled = getattr(kms.exceptions, exc_name, None)
    try:
        fn(**kw)
    except ClientError as e:
        err = e.response["Error"]
        if modeled is not None and not isinstance(e, modeled):
            fail("got %s (%r), want %s" % (type(e).__name__, err, exc_name))
        expect("code", err.get("Code"), exc_name)
        expect("HTTP status", e.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        if not e.response["ResponseMetadata"].get("RequestId"):
            fail("%s without a request ID (x-amzn-RequestId)" % exc_name)
        return e
    fail("succeeded; want " + exc_name)


def key_arn(key_id):
    return "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, key_id)


def new_client(endpoint, access, secret):
    return boto3.session.Session().client(
        "kms", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=access, aws_secret_access_key=secret)


def flow(endpoint, access, secret, wrong_secret):
    global step
    kms = new_client(endpoint, access, secret)
    suffix = os.urandom(4).hex()
    alias = "alias/%s-%s" % (CLIENT, suffix)

    step = "create_key"
    description = "kmsd client flow " + CLIENT
    md = kms.create_key(Description=description, Tags=[{"TagKey": "client", "TagValue": CLIENT},
                                                       {"TagKey": "run", "TagValue": suffix}])
    md = md["KeyMetadata"]
    key1 = md["KeyId"]
    expect("Arn", md["Arn"], key_arn(key1))
    expect("AWSAccountId", md["AWSAccountId"], ACCOUNT)
    expect("Description", md["Description"], description)
    expect("KeyState", md["KeyState"], "Enabled")
    expect("KeyUsage", md["KeyUsage"], "ENCRYPT_DECRYPT")
    expect("KeySpec", md["KeySpec"], "SYMMETRIC_DEFAULT")
    expect("Enabled", md["Enabled"], True)
    if not isinstance(md.get("CreationDate"), datetime.datetime):
        fail("CreationDate %r" % md.get("CreationDate"))
    ok()

    step = "create_alias"
    kms.create_alias(AliasName=alias, TargetKeyId=key1)
    ok()

    step = "describe_key_by_alias"
    described = kms.describe_key(KeyId=alias)["KeyMetadata"]
    expect("KeyId", described["KeyId"], key1)
    expect("Description", described["Description"], description)
    ok()

    step = "list_aliases_by_key"
    aliases = kms.list_aliases(KeyId=key1)
    if len(aliases["Aliases"]) != 1:
        fail("want 1 alias, got %r" % aliases["Aliases"])
    a = aliases["Aliases"][0]
    expect("AliasName", a["AliasName"], alias)
    expect("AliasArn", a["AliasArn"], "arn:aws:kms:%s:%s:%s" % (REGION, ACCOUNT, alias))
    expect("TargetKeyId", a["TargetKeyId"], key1)
    expect("Truncated", aliases["Truncated"], False)
    ok()

    step = "list_resource_tags"
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key1)["Tags"]}
    expect("Tags", tags, {"client": CLIENT, "run": suffix})
    ok()

    step = "generate_data_key"
    ctx = {"purpose": "client-flow", "client": CLIENT}
    dk = kms.generate_data_key(KeyId=alias, KeySpec="AES_256", EncryptionContext=ctx)
    expect("KeyId", dk["KeyId"], key_arn(key1))
    expect("len(Plaintext)", len(dk["Plaintext"]), 32)
    if not dk["CiphertextBlob"]:
        fail("empty CiphertextBlob")
    ok()

    step = "decrypt"
    dec = kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], EncryptionContext=ctx)
    expect("Plaintext", dec["Plaintext"], dk["Plaintext"])
    expect("KeyId", dec["KeyId"], key_arn(key1))
    expect("EncryptionAlgorithm", dec["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
    ok()

    step = "decrypt_wrong_context"
    expect_error(kms, "InvalidCiphertextException", kms.decrypt,
                 CiphertextBlob=dk["CiphertextBlob"], EncryptionContext={"purpose": "other"})
    ok()

    step = "re_encrypt"
    key2 = kms.create_key(Description="second key " + CLIENT)["KeyMetadata"]["KeyId"]
    ctx2 = {"purpose": "re-encrypted"}
    re = kms.re_encrypt(CiphertextBlob=dk["CiphertextBlob"], SourceEncryptionContext=ctx,
                        DestinationKeyId=key2, DestinationEncryptionContext=ctx2)
    expect("SourceKeyId", re["SourceKeyId"], key_arn(key1))
    expect("KeyId", re["KeyId"], key_arn(key2))
    if re["CiphertextBlob"] == dk["CiphertextBlob"]:
        fail("ciphertext unchanged")
    ok()

    step = "decrypt_re_encrypted"
    dec2 = kms.decrypt(CiphertextBlob=re["CiphertextBlob"], EncryptionContext=ctx2)
    expect("Plaintext", dec2["Plaintext"], dk["Plaintext"])
    expect("KeyId", dec2["KeyId"], key_arn(key2))
    ok()

    step = "list_keys_paginated"
    pages, seen = 0, set()
    for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1}):
        pages += 1
        if len(page["Keys"]) > 1:
            fail("page of %d keys with PageSize 1" % len(page["Keys"]))
        for k in page["Keys"]:
            if k["KeyId"] in seen:
                fail("key %s listed twice" % k["KeyId"])
            seen.add(k["KeyId"])
            expect("KeyArn", k["KeyArn"], key_arn(k["KeyId"]))
    if key1 not in seen or key2 not in seen or pages < 2:
        fail("%d pages, keys %r: want both %s and %s over several pages"
             % (pages, seen, key1, key2))
    ok()

    step = "schedule_key_deletion"
    sched = kms.schedule_key_deletion(KeyId=key2, PendingWindowInDays=7)
    expect("KeyId", sched["KeyId"], key_arn(key2))
    expect("KeyState", sched["KeyState"], "PendingDeletion")
    expect("PendingWindowInDays", sched["PendingWindowInDays"], 7)
    if not isinstance(sched.get("DeletionDate"), datetime.datetime):
        fail("DeletionDate %r" % sched.get("DeletionDate"))
    ok()

    step = "encrypt_pending_deletion"
    e = expect_error(kms, "KMSInvalidStateException", kms.encrypt, KeyId=key2, Plaintext=b"x")
    expect("message", e.response["Error"]["Message"], key_arn(key2) + " is pending deletion.")
    ok()

    step = "missing_key"
    missing = "11111111-2222-3333-4444-" + os.urandom(6).hex()
    e = expect_error(kms, "NotFoundException", kms.describe_key, KeyId=missing)
    expect("message", e.response["Error"]["Message"], "Key '%s' does not exist" % key_arn(missing))
    ok()

    step = "sign_verify"
    sk = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    expect("KeySpec", sk["KeySpec"], "ECC_NIST_P256")
    expect("SigningAlgorithms", sk["SigningAlgorithms"], ["ECDSA_SHA_256"])
    message = ("message signed by " + CLIENT).encode()
    signed = kms.sign(KeyId=sk["KeyId"], Message=message, MessageType="RAW",
                      SigningAlgorithm="ECDSA_SHA_256")
    expect("KeyId", signed["KeyId"], key_arn(sk["KeyId"]))
    expect("SigningAlgorithm", signed["SigningAlgorithm"], "ECDSA_SHA_256")
    verified = kms.verify(KeyId=sk["KeyId"], Message=message, MessageType="RAW",
                          Signature=signed["Signature"], SigningAlgorithm="ECDSA_SHA_256")
    expect("SignatureValid", verified["SignatureValid"], True)
    expect_error(kms, "KMSInvalidSignatureException", kms.verify, KeyId=sk["KeyId"],
                 Message=b"another message", MessageType="RAW", Signature=signed["Signature"],
                 SigningAlgorithm="ECDSA_SHA_256")
    # The signature checks out with the public key outside KMS too.
    pub = load_der_public_key(kms.get_public_key(KeyId=sk["KeyId"])["PublicKey"])
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        fail("public key %r" % pub)
    try:
        pub.verify(signed["Signature"], message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        fail("cryptography does not verify the signature")
    ok()

    step = "generate_verify_mac"
    hk = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    expect("MacAlgorithms", hk["MacAlgorithms"], ["HMAC_SHA_256"])
    mac = kms.generate_mac(KeyId=hk["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256")
    expect("len(Mac)", len(mac["Mac"]), 32)
    expect("KeyId", mac["KeyId"], key_arn(hk["KeyId"]))
    vm = kms.verify_mac(KeyId=hk["KeyId"], Message=message, Mac=mac["Mac"],
                        MacAlgorithm="HMAC_SHA_256")
    expect("MacValid", vm["MacValid"], True)
    expect_error(kms, "KMSInvalidMacException", kms.verify_mac, KeyId=hk["KeyId"],
                 Message=b"another message", Mac=mac["Mac"], MacAlgorithm="HMAC_SHA_256")
    ok()

    if wrong_secret is not None:
        step = "wrong_secret"
        e = expect_error(kms, "InvalidSignatureException",
                         new_client(endpoint, access, wrong_secret).list_keys)
        message = e.response["Error"]["Message"]
        if "The request signature we calculated does not match" not in message:
            fail("message %r" % message)
        ok()


def main(argv):
    if len(argv) not in (4, 5):
        print("usage: flow_boto3.py ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]",
              file=sys.stderr)
        return 2
    print("version boto3 %s botocore %s python %s (%s)"
          % (boto3.__version__, botocore.__version__, sys.version.split()[0],
             os.path.dirname(boto3.__file__)), flush=True)
    try:
        flow(argv[1], argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    except Failure as e:
        print("FAIL %s: %s" % (step, e), file=sys.stderr)
        return 1
    except Exception as e:  # anything a step did not expect fails that step
        print("FAIL %s: %s: %s" % (step, type(e).__name__, e), file=sys.stderr)
        return 1
    print("PASS " + CLIENT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
