"""The client flow (tests/integration/python/test_clients.py) with an AWS CLI binary; the test runs
it with Debian's awscli (v2.9, which ignores AWS_ENDPOINT_URL_KMS and a profile's services
section: every call passes --endpoint-url):

    /usr/bin/python3 -s -E flow_cli.py AWS_BIN ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]

Prints "ok <step>" per step and exits 1 with "FAIL <step>: ..." on the first wrong result. With
WRONG_SECRET_KEY (strict mode) it also checks that a request signed with it is refused. Errors are
checked as the CLI reports them: exit status 254 and "An error occurred (<Code>) when calling the
<Operation> operation: <message>" on stderr.
"""
import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

REGION = "us-east-1"
ACCOUNT = "111122223333"
CLIENT = "cli"
ERROR = re.compile(r"An error occurred \((\w+)\) when calling the (\w+) operation: ?(.*)")

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


def key_arn(key_id):
    return "arn:aws:kms:%s:%s:key/%s" % (REGION, ACCOUNT, key_id)


class Cli:
    def __init__(self, aws, endpoint, access, secret, tmp):
        self.aws, self.endpoint, self.tmp = aws, endpoint, tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.env.update(AWS_ACCESS_KEY_ID=access, AWS_SECRET_ACCESS_KEY=secret,
                        AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                        AWS_PAGER="")
        self.files = 0

    def file(self, data):
        """fileb:// of a temp file holding data (the CLI's way to pass raw bytes)."""
        self.files += 1
        path = os.path.join(self.tmp, "blob%d" % self.files)
        with open(path, "wb") as f:
            f.write(data)
        return "fileb://" + path

    def run(self, *args):
        cmd = [self.aws, "kms"] + list(args) + ["--endpoint-url", self.endpoint,
                                                "--region", REGION, "--output", "json"]
        return cmd, subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)

    def __call__(self, *args):
        cmd, p = self.run(*args)
        if p.returncode != 0:
            fail("%s exited %d\nstdout: %s\nstderr: %s"
                 % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
        return json.loads(p.stdout) if p.stdout.strip() else {}

    def error(self, code, *args):
        """Runs the command, which must fail as the CLI reports a service error with this code."""
        cmd, p = self.run(*args)
        m = ERROR.search(p.stderr)
        if p.returncode != 254 or not m or m.group(1) != code:
            fail("%s: want exit 254 with (%s), got %d\nstdout: %s\nstderr: %s"
                 % (" ".join(cmd), code, p.returncode, p.stdout, p.stderr))
        return m.group(3).strip()


def flow(cli, wrong):
    global step
    suffix = os.urandom(4).hex()
    alias = "alias/%s-%s" % (CLIENT, suffix)

    step = "create_key"
    description = "kmsd client flow " + CLIENT
    md = cli("create-key", "--description", description, "--tags",
             "TagKey=client,TagValue=" + CLIENT, "TagKey=run,TagValue=" + suffix)["KeyMetadata"]
    key1 = md["KeyId"]
    expect("Arn", md["Arn"], key_arn(key1))
    expect("AWSAccountId", md["AWSAccountId"], ACCOUNT)
    expect("Description", md["Description"], description)
    expect("KeyState", md["KeyState"], "Enabled")
    expect("KeyUsage", md["KeyUsage"], "ENCRYPT_DECRYPT")
    expect("KeySpec", md["KeySpec"], "SYMMETRIC_DEFAULT")
    expect("Enabled", md["Enabled"], True)
    # The CLI prints timestamps as ISO 8601; this parses it or fails.
    datetime.datetime.fromisoformat(md["CreationDate"])
    ok()

    step = "create_alias"
    expect("output", cli("create-alias", "--alias-name", alias, "--target-key-id", key1), {})
    ok()

    step = "describe_key_by_alias"
    described = cli("describe-key", "--key-id", alias)["KeyMetadata"]
    expect("KeyId", described["KeyId"], key1)
    expect("Description", described["Description"], description)
    ok()

    step = "list_aliases_by_key"
    aliases = cli("list-aliases", "--key-id", key1)["Aliases"]
    if len(aliases) != 1:
        fail("want 1 alias, got %r" % aliases)
    expect("AliasName", aliases[0]["AliasName"], alias)
    expect("AliasArn", aliases[0]["AliasArn"], "arn:aws:kms:%s:%s:%s" % (REGION, ACCOUNT, alias))
    expect("TargetKeyId", aliases[0]["TargetKeyId"], key1)
    ok()

    step = "list_resource_tags"
    tags = {t["TagKey"]: t["TagValue"] for t in cli("list-resource-tags", "--key-id", key1)["Tags"]}
    expect("Tags", tags, {"client": CLIENT, "run": suffix})
    ok()

    step = "generate_data_key"
    ctx = json.dumps({"purpose": "client-flow", "client": CLIENT})
    dk = cli("generate-data-key", "--key-id", alias, "--key-spec", "AES_256",
             "--encryption-context", ctx)
    expect("KeyId", dk["KeyId"], key_arn(key1))
    plaintext = base64.b64decode(dk["Plaintext"])
    blob = base64.b64decode(dk["CiphertextBlob"])
    expect("len(Plaintext)", len(plaintext), 32)
    ok()

    step = "decrypt"
    dec = cli("decrypt", "--ciphertext-blob", cli.file(blob), "--encryption-context", ctx)
    expect("Plaintext", base64.b64decode(dec["Plaintext"]), plaintext)
    expect("KeyId", dec["KeyId"], key_arn(key1))
    expect("EncryptionAlgorithm", dec["EncryptionAlgorithm"], "SYMMETRIC_DEFAULT")
    ok()

    step = "decrypt_wrong_context"
    cli.error("InvalidCiphertextException", "decrypt", "--ciphertext-blob", cli.file(blob),
              "--encryption-context", '{"purpose":"other"}')
    ok()

    step = "re_encrypt"
    key2 = cli("create-key", "--description", "second key " + CLIENT)["KeyMetadata"]["KeyId"]
    ctx2 = '{"purpose":"re-encrypted"}'
    re_ = cli("re-encrypt", "--ciphertext-blob", cli.file(blob), "--source-encryption-context", ctx,
              "--destination-key-id", key2, "--destination-encryption-context", ctx2)
    expect("SourceKeyId", re_["SourceKeyId"], key_arn(key1))
    expect("KeyId", re_["KeyId"], key_arn(key2))
    blob2 = base64.b64decode(re_["CiphertextBlob"])
    if blob2 == blob:
        fail("ciphertext unchanged")
    ok()

    step = "decrypt_re_encrypted"
    dec2 = cli("decrypt", "--ciphertext-blob", cli.file(blob2), "--encryption-context", ctx2)
    expect("Plaintext", base64.b64decode(dec2["Plaintext"]), plaintext)
    expect("KeyId", dec2["KeyId"], key_arn(key2))
    ok()

    step = "list_keys_paginated"
    # The CLI's paginator: --page-size 1 fetches every page and merges them; --max-items with
    # --starting-token walks them one page at a time.
    everything = [k["KeyId"] for k in cli("list-keys", "--page-size", "1")["Keys"]]
    walked, token, pages = [], None, 0
    while True:
        args = ["list-keys", "--page-size", "1", "--max-items", "1"]
        page = cli(*(args + (["--starting-token", token] if token else [])))
        pages += 1
        for k in page["Keys"]:
            expect("KeyArn", k["KeyArn"], key_arn(k["KeyId"]))
            walked.append(k["KeyId"])
        token = page.get("NextToken")
        if not token:
            break
    expect("keys walked page by page", walked, everything)
    if len(set(everything)) != len(everything) or key1 not in everything or key2 not in everything \
            or pages < 2:
        fail("%d pages, keys %r: want both %s and %s once, over several pages"
             % (pages, everything, key1, key2))
    ok()

    step = "schedule_key_deletion"
    sched = cli("schedule-key-deletion", "--key-id", key2, "--pending-window-in-days", "7")
    expect("KeyId", sched["KeyId"], key_arn(key2))
    expect("KeyState", sched["KeyState"], "PendingDeletion")
    expect("PendingWindowInDays", sched["PendingWindowInDays"], 7)
    datetime.datetime.fromisoformat(sched["DeletionDate"])
    ok()

    step = "encrypt_pending_deletion"
    msg = cli.error("KMSInvalidStateException", "encrypt", "--key-id", key2,
                    "--plaintext", cli.file(b"x"))
    expect("message", msg, key_arn(key2) + " is pending deletion.")
    ok()

    step = "missing_key"
    missing = "11111111-2222-3333-4444-" + os.urandom(6).hex()
    msg = cli.error("NotFoundException", "describe-key", "--key-id", missing)
    expect("message", msg, "Key '%s' does not exist" % key_arn(missing))
    ok()

    step = "sign_verify"
    sk = cli("create-key", "--key-spec", "ECC_NIST_P256",
             "--key-usage", "SIGN_VERIFY")["KeyMetadata"]
    expect("KeySpec", sk["KeySpec"], "ECC_NIST_P256")
    expect("SigningAlgorithms", sk["SigningAlgorithms"], ["ECDSA_SHA_256"])
    message = ("message signed by " + CLIENT).encode()
    signed = cli("sign", "--key-id", sk["KeyId"], "--message", cli.file(message),
                 "--message-type", "RAW", "--signing-algorithm", "ECDSA_SHA_256")
    expect("KeyId", signed["KeyId"], key_arn(sk["KeyId"]))
    expect("SigningAlgorithm", signed["SigningAlgorithm"], "ECDSA_SHA_256")
    signature = base64.b64decode(signed["Signature"])
    verified = cli("verify", "--key-id", sk["KeyId"], "--message", cli.file(message),
                   "--message-type", "RAW", "--signature", cli.file(signature),
                   "--signing-algorithm", "ECDSA_SHA_256")
    expect("SignatureValid", verified["SignatureValid"], True)
    cli.error("KMSInvalidSignatureException", "verify", "--key-id", sk["KeyId"],
              "--message", cli.file(b"another message"), "--message-type", "RAW",
              "--signature", cli.file(signature), "--signing-algorithm", "ECDSA_SHA_256")
    # The signature checks out with the public key outside KMS too.
    der = base64.b64decode(cli("get-public-key", "--key-id", sk["KeyId"])["PublicKey"])
    pub = load_der_public_key(der)
    if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
        fail("public key %r" % pub)
    try:
        pub.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        fail("cryptography does not verify the signature")
    ok()

    step = "generate_verify_mac"
    hk = cli("create-key", "--key-spec", "HMAC_256",
             "--key-usage", "GENERATE_VERIFY_MAC")["KeyMetadata"]
    expect("MacAlgorithms", hk["MacAlgorithms"], ["HMAC_SHA_256"])
    mac = cli("generate-mac", "--key-id", hk["KeyId"], "--message", cli.file(message),
              "--mac-algorithm", "HMAC_SHA_256")
    expect("KeyId", mac["KeyId"], key_arn(hk["KeyId"]))
    mac_bytes = base64.b64decode(mac["Mac"])
    expect("len(Mac)", len(mac_bytes), 32)
    vm = cli("verify-mac", "--key-id", hk["KeyId"], "--message", cli.file(message),
             "--mac", cli.file(mac_bytes), "--mac-algorithm", "HMAC_SHA_256")
    expect("MacValid", vm["MacValid"], True)
    cli.error("KMSInvalidMacException", "verify-mac", "--key-id", hk["KeyId"],
              "--message", cli.file(b"another message"), "--mac", cli.file(mac_bytes),
              "--mac-algorithm", "HMAC_SHA_256")
    ok()

    if wrong is not None:
        step = "wrong_secret"
        msg = wrong.error("InvalidSignatureException", "list-keys")
        if "The request signature we calculated does not match" not in msg:
            fail("message %r" % msg)
        ok()


def main(argv):
    if len(argv) not in (5, 6):
        print("usage: flow_cli.py AWS_BIN ENDPOINT ACCESS_KEY SECRET_KEY [WRONG_SECRET_KEY]",
              file=sys.stderr)
        return 2
    aws, endpoint, access, secret = argv[1:5]
    version = subprocess.run([aws, "--version"], capture_output=True, text=True, timeout=60)
    print("version " + (version.stdout or version.stderr).strip(), flush=True)
    tmp = tempfile.mkdtemp(prefix="kmsd-cli-flow-")
    try:
        cli = Cli(aws, endpoint, access, secret, tmp)
        wrong = Cli(aws, endpoint, access, argv[5], tmp) if len(argv) == 6 else None
        flow(cli, wrong)
    except Failure as e:
        print("FAIL %s: %s" % (step, e), file=sys.stderr)
        return 1
    except Exception as e:  # anything a step did not expect fails that step
        print("FAIL %s: %s: %s" % (step, type(e).__name__, e), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS " + CLIENT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
