// Asymmetric (RSA, ECC, Ed25519), HMAC and key-agreement keys of a real kmsd, checked from outside
// with Node's own crypto, `jose` (JWTs) and `@noble/curves` (Ed25519ph). Every signature, ciphertext
// and shared secret that kmsd produces must work with an independent implementation, as AWS KMS's
// do (shared/kms-reference.md §3).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import {
  CreateKeyCommand,
  DecryptCommand,
  DeriveSharedSecretCommand,
  EncryptCommand,
  GenerateDataKeyPairCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
} from '@aws-sdk/client-kms';
import { ed25519, ed25519ph } from '@noble/curves/ed25519.js';
import { importSPKI, jwtVerify } from 'jose';

import { KmsdServer, UUID_RE } from './harness.mjs';

const bytes = (s) => new TextEncoder().encode(s);
const sha = (alg, data) => crypto.createHash(alg).update(data).digest();
const b64url = (data) => Buffer.from(data).toString('base64url');

/**
 * ECDSA DER `SEQUENCE { INTEGER r, INTEGER s }` → fixed-width r‖s (JWS / IEEE P1363 form).
 * Written out rather than taken from a library so a malformed DER from kmsd fails here loudly.
 */
function derToJose(der, size) {
  const buf = Buffer.from(der);
  let i = 0;
  assert.equal(buf[i++], 0x30, 'DER signature starts with SEQUENCE');
  let seqLen = buf[i++];
  if (seqLen & 0x80) {
    const n = seqLen & 0x7f;
    seqLen = buf.readUIntBE(i, n);
    i += n;
  }
  assert.equal(i + seqLen, buf.length, 'SEQUENCE length covers the whole signature');
  const readInt = () => {
    assert.equal(buf[i++], 0x02, 'INTEGER tag');
    const len = buf[i++];
    let v = buf.subarray(i, i + len);
    i += len;
    assert.ok(len === 1 || !(v[0] === 0 && (v[1] & 0x80) === 0), 'INTEGER is minimally encoded');
    while (v.length > size && v[0] === 0) v = v.subarray(1);
    assert.ok(v.length <= size, `INTEGER fits in ${size} bytes`);
    return Buffer.concat([Buffer.alloc(size - v.length), v]);
  };
  const r = readInt();
  const s = readInt();
  assert.equal(i, buf.length, 'nothing after s');
  return Buffer.concat([r, s]);
}

describe('kmsd asymmetric, HMAC and key agreement keys', () => {
  /** @type {KmsdServer} */
  let server;
  /** @type {import('@aws-sdk/client-kms').KMSClient} */
  let client;

  before(async () => {
    server = await KmsdServer.start();
    client = server.client();
  });

  after(async () => {
    client?.destroy();
    if (server) await server.stop();
  });

  async function send(command) {
    const res = await client.send(command);
    assert.equal(res.$metadata.httpStatusCode, 200);
    assert.match(String(res.$metadata.requestId), UUID_RE);
    return res;
  }

  /** Sends a command that must fail with error `name` (HTTP 400). Returns the error. */
  async function sendExpectingError(command, name) {
    let err;
    try {
      const res = await client.send(command);
      assert.fail(`${command.constructor.name} should fail with ${name}, got ${JSON.stringify(res)}`);
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      err = e;
    }
    assert.equal(err.name, name, `error name (message: ${err.message})`);
    assert.equal(err.$metadata?.httpStatusCode, 400, 'HTTP status');
    return err;
  }

  /** Creates a key; returns {md, der (SPKI DER Buffer), pub (KeyObject)} (no public key for HMAC). */
  async function createKey(KeySpec, KeyUsage) {
    const { KeyMetadata: md } = await send(new CreateKeyCommand({ KeySpec, KeyUsage }));
    assert.equal(md.KeySpec, KeySpec);
    assert.equal(md.KeyUsage, KeyUsage);
    assert.equal(md.CurrentKeyMaterialId, undefined, 'no CurrentKeyMaterialId on HMAC/asymmetric keys');
    if (KeySpec.startsWith('HMAC_')) return { md };
    const gp = await send(new GetPublicKeyCommand({ KeyId: md.KeyId }));
    assert.equal(gp.KeyId, md.Arn);
    assert.equal(gp.KeySpec, KeySpec);
    assert.equal(gp.KeyUsage, KeyUsage);
    const der = Buffer.from(gp.PublicKey);
    const pub = crypto.createPublicKey({ key: der, format: 'der', type: 'spki' });
    return { md, der, pub, getPublicKey: gp };
  }

  async function sign(KeyId, Message, SigningAlgorithm, MessageType = 'RAW') {
    const res = await send(new SignCommand({ KeyId, Message, SigningAlgorithm, MessageType }));
    assert.equal(res.SigningAlgorithm, SigningAlgorithm);
    return Buffer.from(res.Signature);
  }

  async function kmsVerify(KeyId, Message, Signature, SigningAlgorithm, MessageType = 'RAW') {
    const res = await send(new VerifyCommand({ KeyId, Message, Signature, SigningAlgorithm, MessageType }));
    assert.equal(res.SignatureValid, true);
    assert.equal(res.SigningAlgorithm, SigningAlgorithm);
  }

  // Key pairs are slow to make (RSA especially): create each kind once, share between tests.
  const keys = {};
  const key = async (name, spec, usage) => (keys[name] ??= await createKey(spec, usage));
  const rsaSign = () => key('rsaSign', 'RSA_2048', 'SIGN_VERIFY');
  const p256Sign = () => key('p256Sign', 'ECC_NIST_P256', 'SIGN_VERIFY');

  test('RSA_2048: PSS (salt = hash length) and PKCS#1 v1.5 verify in Node; DIGEST signs the message', async () => {
    const { md, der, pub, getPublicKey } = await rsaSign();
    assert.equal(pub.asymmetricKeyType, 'rsa');
    assert.equal(pub.asymmetricKeyDetails.modulusLength, 2048);
    assert.equal(pub.asymmetricKeyDetails.publicExponent, 65537n);
    assert.equal(der.length, 294, 'RSA_2048 SPKI DER is 294 bytes');
    assert.deepEqual(getPublicKey.SigningAlgorithms?.slice().sort(), [
      'RSASSA_PKCS1_V1_5_SHA_256',
      'RSASSA_PKCS1_V1_5_SHA_384',
      'RSASSA_PKCS1_V1_5_SHA_512',
      'RSASSA_PSS_SHA_256',
      'RSASSA_PSS_SHA_384',
      'RSASSA_PSS_SHA_512',
    ]);
    const msg = bytes('RSA signing from kmsd, checked by node:crypto');
    const pss = { key: pub, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 };
    const pkcs1 = { key: pub, padding: crypto.constants.RSA_PKCS1_PADDING };

    const sigPss = await sign(md.KeyId, msg, 'RSASSA_PSS_SHA_256');
    assert.equal(sigPss.length, 256, 'signature is the modulus size');
    assert.ok(crypto.verify('sha256', msg, pss, sigPss), 'PSS SHA-256, salt 32, verifies');
    // Salt length is exactly the digest length, not the maximum: a verifier that pins a
    // different salt length rejects it.
    assert.equal(crypto.verify('sha256', msg, { ...pss, saltLength: 222 }, sigPss), false);
    assert.equal(crypto.verify('sha256', bytes('another message'), pss, sigPss), false);

    const sigPkcs1 = await sign(md.KeyId, msg, 'RSASSA_PKCS1_V1_5_SHA_256');
    assert.equal(sigPkcs1.length, 256);
    assert.ok(crypto.verify('sha256', msg, pkcs1, sigPkcs1), 'PKCS#1 v1.5 SHA-256 verifies');
    // PKCS#1 v1.5 is deterministic: signing again gives the same bytes; PSS is randomised.
    assert.deepEqual(await sign(md.KeyId, msg, 'RSASSA_PKCS1_V1_5_SHA_256'), sigPkcs1);
    assert.notDeepEqual(await sign(md.KeyId, msg, 'RSASSA_PSS_SHA_256'), sigPss);

    // MessageType DIGEST: KMS skips its own hashing, so the signature is over the original message.
    const digest = sha('sha256', msg);
    const sigDigestPss = await sign(md.KeyId, digest, 'RSASSA_PSS_SHA_256', 'DIGEST');
    assert.ok(crypto.verify('sha256', msg, pss, sigDigestPss), 'PSS over a DIGEST verifies over the message');
    const sigDigestPkcs1 = await sign(md.KeyId, digest, 'RSASSA_PKCS1_V1_5_SHA_256', 'DIGEST');
    assert.deepEqual(sigDigestPkcs1, sigPkcs1, 'PKCS#1 v1.5 over DIGEST(msg) equals over RAW msg');

    // And the signatures also pass kmsd's own Verify, both message types.
    await kmsVerify(md.KeyId, msg, sigPss, 'RSASSA_PSS_SHA_256');
    await kmsVerify(md.KeyId, digest, sigPss, 'RSASSA_PSS_SHA_256', 'DIGEST');
    // A valid signature by another RSA key is rejected.
    const priv = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const foreign = crypto.sign('sha256', msg, { key: priv, padding: crypto.constants.RSA_PKCS1_PADDING });
    await sendExpectingError(
      new VerifyCommand({
        KeyId: md.KeyId,
        Message: msg,
        Signature: foreign,
        SigningAlgorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      }),
      'KMSInvalidSignatureException',
    );
  });

  test('ECDSA: P-256, secp256k1 and P-384 signatures are DER and verify in Node', async () => {
    const cases = [
      // name, spec, algorithm, hash, SPKI DER size, Node curve name, max DER signature size, |r| = |s|
      ['p256Sign', 'ECC_NIST_P256', 'ECDSA_SHA_256', 'sha256', 91, 'prime256v1', 72, 32],
      ['k256Sign', 'ECC_SECG_P256K1', 'ECDSA_SHA_256', 'sha256', 88, 'secp256k1', 72, 32],
      ['p384Sign', 'ECC_NIST_P384', 'ECDSA_SHA_384', 'sha384', 120, 'secp384r1', 104, 48],
    ].map(([name, spec, alg, hash, derLen, curve, maxSig, size]) => (
      { name, spec, alg, hash, derLen, curve, maxSig, size }
    ));
    for (const c of cases) {
      const { md, der, pub, getPublicKey } = await key(c.name, c.spec, 'SIGN_VERIFY');
      assert.equal(der.length, c.derLen, `${c.spec} SPKI DER size`);
      assert.equal(pub.asymmetricKeyType, 'ec');
      assert.equal(pub.asymmetricKeyDetails.namedCurve, c.curve);
      assert.deepEqual(getPublicKey.SigningAlgorithms, [c.alg], `${c.spec} has exactly one signing algorithm`);

      const msg = bytes(`ECDSA with ${c.spec}`);
      const sig = await sign(md.KeyId, msg, c.alg);
      assert.ok(sig.length <= c.maxSig && sig[0] === 0x30, `${c.spec}: DER SEQUENCE, ≤ ${c.maxSig} bytes`);
      assert.ok(crypto.verify(c.hash, msg, { key: pub, dsaEncoding: 'der' }, sig), `${c.spec} RAW verifies (DER)`);
      derToJose(sig, c.size); // well-formed, minimal DER integers

      const digestSig = await sign(md.KeyId, sha(c.hash, msg), c.alg, 'DIGEST');
      assert.ok(
        crypto.verify(c.hash, msg, { key: pub, dsaEncoding: 'der' }, digestSig),
        `${c.spec} DIGEST verifies over the message`,
      );
      assert.equal(crypto.verify(c.hash, bytes('tampered'), { key: pub, dsaEncoding: 'der' }, sig), false);
    }
  });

  test('Ed25519: ED25519_SHA_512 is pure Ed25519; ED25519_PH_SHA_512 is Ed25519ph over the digest', async () => {
    const { md, der, pub, getPublicKey } = await key('ed', 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY');
    assert.equal(der.length, 44, 'Ed25519 SPKI DER is 44 bytes');
    assert.equal(pub.asymmetricKeyType, 'ed25519');
    assert.deepEqual(getPublicKey.SigningAlgorithms?.slice().sort(), ['ED25519_PH_SHA_512', 'ED25519_SHA_512']);
    const rawPub = der.subarray(12); // 12-byte SPKI prefix, then the 32-byte point
    assert.equal(rawPub.length, 32);
    assert.deepEqual(pub.export({ format: 'jwk' }).x, b64url(rawPub), 'raw key is the SPKI tail');
    const msg = bytes('Edwards curve signing from kmsd');

    // Pure Ed25519 (RAW): Node verifies it directly, and it is deterministic (RFC 8032).
    const sig = await sign(md.KeyId, msg, 'ED25519_SHA_512', 'RAW');
    assert.equal(sig.length, 64);
    assert.ok(crypto.verify(null, msg, pub, sig), 'ED25519_SHA_512 verifies as Ed25519');
    assert.ok(ed25519.verify(sig, msg, rawPub), 'and with noble ed25519');
    assert.deepEqual(await sign(md.KeyId, msg, 'ED25519_SHA_512', 'RAW'), sig, 'Ed25519 is deterministic');

    // Ed25519ph (DIGEST = SHA-512 of the text): KMS still runs the Ed25519ph prehash over the 64
    // bytes it is given, so the PH input is SHA-512(digest) (shared/kms-reference.md §3.3).
    // noble's ed25519ph.verify(sig, msg, pub) applies PH = SHA-512 to `msg` itself
    // (src/abstract/edwards.ts: `if (prehash) msg = prehash(msg)`; it reproduces RFC 8032 §7.3's
    // "abc" vector from the message 'abc'), empty context, so passing `digest` checks exactly that.
    const digest = sha('sha512', msg);
    const phSig = await sign(md.KeyId, digest, 'ED25519_PH_SHA_512', 'DIGEST');
    assert.equal(phSig.length, 64);
    assert.ok(ed25519ph.verify(phSig, digest, rawPub), 'Ed25519ph (empty context) over the digest verifies');
    assert.equal(ed25519ph.verify(phSig, msg, rawPub), false, 'not Ed25519ph of the text (PH input = digest)');
    assert.equal(crypto.verify(null, digest, pub, phSig), false, 'not pure Ed25519 over the digest');
    assert.equal(ed25519.verify(phSig, digest, rawPub), false, 'not pure Ed25519 over the digest (noble)');
    assert.notDeepEqual(phSig, sig);
    // kmsd's own Verify accepts both.
    await kmsVerify(md.KeyId, digest, phSig, 'ED25519_PH_SHA_512', 'DIGEST');
    await kmsVerify(md.KeyId, msg, sig, 'ED25519_SHA_512', 'RAW');
  });

  test('JWTs ES256, RS256 and PS256 signed through KMS Sign verify with jose', async () => {
    const now = Math.floor(Date.now() / 1000);
    const payload = { sub: 'kmsd-test', iss: 'kmsd', aud: 'jose', iat: now, exp: now + 600 };
    const cases = [
      { alg: 'ES256', k: await p256Sign(), signing: 'ECDSA_SHA_256', ecdsa: 32 },
      { alg: 'RS256', k: await rsaSign(), signing: 'RSASSA_PKCS1_V1_5_SHA_256' },
      { alg: 'PS256', k: await rsaSign(), signing: 'RSASSA_PSS_SHA_256' },
    ];
    for (const { alg, k, signing, ecdsa } of cases) {
      const header = { alg, typ: 'JWT', kid: k.md.KeyId };
      const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
      let sig = await sign(k.md.KeyId, bytes(signingInput), signing);
      if (ecdsa) sig = derToJose(sig, ecdsa); // JWS ES256 wants r‖s, not DER
      const jwt = `${signingInput}.${b64url(sig)}`;

      const pem = k.pub.export({ format: 'pem', type: 'spki' });
      const verifyKey = await importSPKI(pem, alg);
      const { payload: got, protectedHeader } = await jwtVerify(jwt, verifyKey, {
        issuer: 'kmsd',
        audience: 'jose',
        algorithms: [alg],
      });
      assert.equal(protectedHeader.alg, alg);
      assert.deepEqual(got, payload, `${alg} JWT verifies and round-trips its payload`);

      // A changed payload under the same signature is rejected.
      const forgedPayload = b64url(JSON.stringify({ ...payload, sub: 'x' }));
      const forged = `${b64url(JSON.stringify(header))}.${forgedPayload}.${b64url(sig)}`;
      await assert.rejects(jwtVerify(forged, verifyKey), { code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    }
  });

  test('RSA_3072 ENCRYPT_DECRYPT: Node OAEP ciphertexts decrypt in kmsd; kmsd ciphertexts are 384 bytes', async () => {
    const { md, pub, getPublicKey } = await createKey('RSA_3072', 'ENCRYPT_DECRYPT');
    assert.equal(pub.asymmetricKeyDetails.modulusLength, 3072);
    assert.deepEqual(getPublicKey.EncryptionAlgorithms?.slice().sort(), ['RSAES_OAEP_SHA_1', 'RSAES_OAEP_SHA_256']);
    const plaintext = bytes('encrypted in node, decrypted by kmsd');

    for (const [alg, oaepHash] of [
      ['RSAES_OAEP_SHA_256', 'sha256'],
      ['RSAES_OAEP_SHA_1', 'sha1'],
    ]) {
      // Node encrypts with the public key; kmsd decrypts with the private half.
      const oaep = { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash };
      const ct = crypto.publicEncrypt(oaep, plaintext);
      assert.equal(ct.length, 384);
      const dec = await send(new DecryptCommand({ KeyId: md.KeyId, CiphertextBlob: ct, EncryptionAlgorithm: alg }));
      assert.equal(dec.KeyId, md.Arn);
      assert.equal(dec.EncryptionAlgorithm, alg);
      assert.equal(dec.KeyMaterialId, undefined, 'KeyMaterialId only for symmetric keys');
      assert.deepEqual(Buffer.from(dec.Plaintext), Buffer.from(plaintext), `${alg}: Node ciphertext decrypts`);

      // kmsd encrypts: a bare 384-byte OAEP block (no KMS envelope), randomised, and it decrypts.
      const enc = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: plaintext, EncryptionAlgorithm: alg }));
      assert.equal(enc.EncryptionAlgorithm, alg);
      assert.equal(enc.KeyId, md.Arn);
      assert.equal(enc.CiphertextBlob.length, 384, `${alg}: ciphertext is the modulus size`);
      const enc2 = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: plaintext, EncryptionAlgorithm: alg }));
      assert.notDeepEqual(Buffer.from(enc2.CiphertextBlob), Buffer.from(enc.CiphertextBlob), 'OAEP is randomised');
      const back = await send(
        new DecryptCommand({ KeyId: md.KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: alg }),
      );
      assert.deepEqual(Buffer.from(back.Plaintext), Buffer.from(plaintext));
    }

    // The OAEP hash is part of the algorithm: a SHA-1 ciphertext does not decrypt as SHA-256.
    const ct1 = crypto.publicEncrypt(
      { key: pub, padding: crypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' },
      plaintext,
    );
    await sendExpectingError(
      new DecryptCommand({ KeyId: md.KeyId, CiphertextBlob: ct1, EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
      'InvalidCiphertextException',
    );
  });

  test('ECC_NIST_P256 KEY_AGREEMENT: DeriveSharedSecret equals Node ECDH', async () => {
    const { md, pub, getPublicKey } = await createKey('ECC_NIST_P256', 'KEY_AGREEMENT');
    assert.deepEqual(getPublicKey.KeyAgreementAlgorithms, ['ECDH']);
    const mine = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const myDer = mine.publicKey.export({ format: 'der', type: 'spki' });

    const res = await send(
      new DeriveSharedSecretCommand({ KeyId: md.KeyId, KeyAgreementAlgorithm: 'ECDH', PublicKey: myDer }),
    );
    assert.equal(res.KeyId, md.Arn);
    assert.equal(res.KeyAgreementAlgorithm, 'ECDH');
    assert.equal(res.KeyOrigin, 'AWS_KMS');
    const expected = crypto.diffieHellman({ privateKey: mine.privateKey, publicKey: pub });
    assert.equal(expected.length, 32);
    assert.deepEqual(Buffer.from(res.SharedSecret), expected, 'shared secret = x coordinate of the ECDH point');

    // Another peer key gives another secret.
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const res2 = await send(
      new DeriveSharedSecretCommand({
        KeyId: md.KeyId,
        KeyAgreementAlgorithm: 'ECDH',
        PublicKey: other.publicKey.export({ format: 'der', type: 'spki' }),
      }),
    );
    const expected2 = crypto.diffieHellman({ privateKey: other.privateKey, publicKey: pub });
    assert.deepEqual(Buffer.from(res2.SharedSecret), expected2);
    assert.notDeepEqual(Buffer.from(res2.SharedSecret), expected);
  });

  test('HMAC_256: GenerateMac is a stable 32-byte tag, VerifyMac accepts it, a flipped bit does not', async () => {
    const { md } = await createKey('HMAC_256', 'GENERATE_VERIFY_MAC');
    assert.deepEqual(md.MacAlgorithms, ['HMAC_SHA_256']);
    const msg = bytes('message to authenticate');

    const a = await send(new GenerateMacCommand({ KeyId: md.KeyId, Message: msg, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.equal(a.KeyId, md.Arn);
    assert.equal(a.MacAlgorithm, 'HMAC_SHA_256');
    const mac = Buffer.from(a.Mac);
    assert.equal(mac.length, 32);
    const b = await send(new GenerateMacCommand({ KeyId: md.KeyId, Message: msg, MacAlgorithm: 'HMAC_SHA_256' }));
    assert.deepEqual(Buffer.from(b.Mac), mac, 'same message, same MAC');
    const c = await send(
      new GenerateMacCommand({ KeyId: md.KeyId, Message: bytes('other'), MacAlgorithm: 'HMAC_SHA_256' }),
    );
    assert.notDeepEqual(Buffer.from(c.Mac), mac, 'other message, other MAC');

    const ok = await send(
      new VerifyMacCommand({ KeyId: md.KeyId, Message: msg, Mac: mac, MacAlgorithm: 'HMAC_SHA_256' }),
    );
    assert.equal(ok.MacValid, true);
    assert.equal(ok.KeyId, md.Arn);
    assert.equal(ok.MacAlgorithm, 'HMAC_SHA_256');

    const flipped = Buffer.from(mac);
    flipped[7] ^= 0x01;
    await sendExpectingError(
      new VerifyMacCommand({ KeyId: md.KeyId, Message: msg, Mac: flipped, MacAlgorithm: 'HMAC_SHA_256' }),
      'KMSInvalidMacException',
    );
    await sendExpectingError(
      new VerifyMacCommand({
        KeyId: md.KeyId,
        Message: bytes('message to authenticatE'),
        Mac: mac,
        MacAlgorithm: 'HMAC_SHA_256',
      }),
      'KMSInvalidMacException',
    );
  });

  test('Verify with a tampered signature fails with KMSInvalidSignatureException', async () => {
    const msg = bytes('signed, then tampered');
    const cases = [
      { k: await rsaSign(), alg: 'RSASSA_PSS_SHA_256' },
      { k: await p256Sign(), alg: 'ECDSA_SHA_256' },
      { k: await key('ed', 'ECC_NIST_EDWARDS25519', 'SIGN_VERIFY'), alg: 'ED25519_SHA_512' },
    ];
    for (const { k, alg } of cases) {
      const sig = await sign(k.md.KeyId, msg, alg);
      await kmsVerify(k.md.KeyId, msg, sig, alg);
      const tampered = Buffer.from(sig);
      tampered[tampered.length - 5] ^= 0x10; // inside s for ECDSA; DER structure stays valid
      const err = await sendExpectingError(
        new VerifyCommand({ KeyId: k.md.KeyId, Message: msg, Signature: tampered, SigningAlgorithm: alg }),
        'KMSInvalidSignatureException',
      );
      assert.equal(err.SignatureValid, undefined, 'Verify never answers SignatureValid:false');
      // The untouched signature over another message fails the same way.
      await sendExpectingError(
        new VerifyCommand({ KeyId: k.md.KeyId, Message: bytes('other'), Signature: sig, SigningAlgorithm: alg }),
        'KMSInvalidSignatureException',
      );
    }
  });

  test('GenerateDataKeyPair ECC_NIST_P256: private key matches PublicKey, its ciphertext decrypts to it', async () => {
    const { KeyMetadata: sym } = await send(new CreateKeyCommand({}));
    const ctx = { purpose: 'data-key-pair' };
    const res = await send(
      new GenerateDataKeyPairCommand({ KeyId: sym.KeyId, KeyPairSpec: 'ECC_NIST_P256', EncryptionContext: ctx }),
    );
    assert.equal(res.KeyId, sym.Arn);
    assert.equal(res.KeyPairSpec, 'ECC_NIST_P256');
    assert.equal(res.KeyMaterialId, sym.CurrentKeyMaterialId, 'KeyMaterialId of the wrapping key');
    const privDer = Buffer.from(res.PrivateKeyPlaintext);
    const pubDer = Buffer.from(res.PublicKey);
    assert.equal(pubDer.length, 91);

    // PKCS#8 private key whose public half is exactly the returned SPKI.
    const priv = crypto.createPrivateKey({ key: privDer, format: 'der', type: 'pkcs8' });
    assert.equal(priv.asymmetricKeyType, 'ec');
    assert.equal(priv.asymmetricKeyDetails.namedCurve, 'prime256v1');
    const derived = crypto.createPublicKey(priv).export({ format: 'der', type: 'spki' });
    assert.deepEqual(derived, pubDer, 'public key derived from the private key = PublicKey');
    // And the pair works: sign with the private key, verify with PublicKey.
    const pub = crypto.createPublicKey({ key: pubDer, format: 'der', type: 'spki' });
    const sig = crypto.sign('sha256', bytes('pair'), priv);
    assert.ok(crypto.verify('sha256', bytes('pair'), pub, sig));

    const dec = await send(
      new DecryptCommand({ CiphertextBlob: res.PrivateKeyCiphertextBlob, EncryptionContext: ctx }),
    );
    assert.equal(dec.KeyId, sym.Arn);
    assert.deepEqual(Buffer.from(dec.Plaintext), privDer, 'PrivateKeyCiphertextBlob decrypts to PrivateKeyPlaintext');
    // The blob is bound to the encryption context like any symmetric ciphertext.
    await sendExpectingError(
      new DecryptCommand({ CiphertextBlob: res.PrivateKeyCiphertextBlob }),
      'InvalidCiphertextException',
    );

    // Each call makes a fresh pair.
    const again = await send(new GenerateDataKeyPairCommand({ KeyId: sym.KeyId, KeyPairSpec: 'ECC_NIST_P256' }));
    assert.notDeepEqual(Buffer.from(again.PublicKey), pubDer);
  });
});
