// @aws-sdk/client-kms (JS SDK v3) against a real kmsd. Expectations follow real AWS KMS
// (shared/kms-reference.md §1, §4, §8).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateRandomCommand,
  ListAliasesCommand,
  ListKeysCommand,
} from '@aws-sdk/client-kms';

import { ACCOUNT, KmsdServer, UUID_RE, aliasArn, keyArn, uniqueAlias } from './harness.mjs';

const KEY_ARN_RE = /^arn:aws:kms:us-east-1:111122223333:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('kmsd with @aws-sdk/client-kms', () => {
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

  /** Sends a command and checks that the response carries a request ID. */
  async function send(command) {
    const res = await client.send(command);
    assert.match(
      String(res.$metadata?.requestId),
      UUID_RE,
      `${command.constructor.name}: $metadata.requestId should be a lower-case UUID (x-amzn-RequestId)`,
    );
    assert.equal(res.$metadata.httpStatusCode, 200);
    return res;
  }

  /**
   * Sends a command that must fail; checks the error name (`__type`), the HTTP status, the
   * request ID, and the message when `message` is given. Returns the error.
   */
  async function sendExpectingError(command, name, message) {
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
    assert.match(String(err.$metadata?.requestId), UUID_RE, 'error $metadata.requestId');
    if (message !== undefined) assert.equal(err.message, message, 'error message');
    return err;
  }

  async function createKey(input = {}) {
    const res = await send(new CreateKeyCommand(input));
    return res.KeyMetadata;
  }

  const bytes = (s) => new TextEncoder().encode(s);

  test('CreateKey returns symmetric key metadata', async () => {
    const md = await createKey({ Description: 'kmsd js test key' });
    assert.match(md.KeyId, UUID_RE);
    assert.equal(md.Arn, keyArn(md.KeyId));
    assert.match(md.Arn, KEY_ARN_RE);
    assert.equal(md.AWSAccountId, ACCOUNT);
    assert.equal(md.Description, 'kmsd js test key');
    assert.equal(md.Enabled, true);
    assert.equal(md.KeyState, 'Enabled');
    assert.equal(md.KeyUsage, 'ENCRYPT_DECRYPT');
    assert.equal(md.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(md.CustomerMasterKeySpec, 'SYMMETRIC_DEFAULT');
    assert.equal(md.KeyManager, 'CUSTOMER');
    assert.equal(md.Origin, 'AWS_KMS');
    assert.equal(md.MultiRegion, false);
    assert.deepEqual(md.EncryptionAlgorithms, ['SYMMETRIC_DEFAULT']);
    assert.ok(md.CreationDate instanceof Date, 'CreationDate parses as a timestamp');
    assert.ok(Math.abs(md.CreationDate.getTime() - Date.now()) < 5 * 60_000, 'CreationDate is about now');
  });

  test('CreateAlias, then DescribeKey by alias name and alias ARN', async () => {
    const md = await createKey();
    const alias = uniqueAlias('describe');
    const created = await send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: md.KeyId }));
    assert.equal(created.$metadata.httpStatusCode, 200);

    for (const keyRef of [alias, aliasArn(alias), md.KeyId, md.Arn]) {
      const res = await send(new DescribeKeyCommand({ KeyId: keyRef }));
      assert.equal(res.KeyMetadata.KeyId, md.KeyId, `DescribeKey(${keyRef}).KeyMetadata.KeyId`);
      assert.equal(res.KeyMetadata.Arn, `arn:aws:kms:us-east-1:111122223333:key/${md.KeyId}`);
      assert.match(res.KeyMetadata.Arn, KEY_ARN_RE);
    }

    const aliases = await send(new ListAliasesCommand({ KeyId: md.KeyId }));
    const entry = aliases.Aliases.find((a) => a.AliasName === alias);
    assert.ok(entry, `ListAliases(KeyId) lists ${alias}: ${JSON.stringify(aliases.Aliases)}`);
    assert.equal(entry.AliasArn, aliasArn(alias));
    assert.equal(entry.TargetKeyId, md.KeyId, 'TargetKeyId is the bare key ID');
  });

  test('Encrypt/Decrypt round trip without encryption context, Decrypt without KeyId', async () => {
    const md = await createKey();
    const plaintext = bytes('hello kmsd!!'); // 12 bytes

    const enc = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: plaintext }));
    assert.equal(enc.KeyId, md.Arn, 'Encrypt KeyId is the key ARN');
    assert.equal(enc.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.ok(enc.CiphertextBlob instanceof Uint8Array);
    assert.equal(enc.CiphertextBlob.length, plaintext.length + 152, 'blob size = P + 152 for P <= 35');
    assert.deepEqual([...enc.CiphertextBlob.subarray(0, 5)], [0x01, 0x02, 0x02, 0x00, 0x78], 'Encrypt blob header');
    assert.ok(Buffer.from(enc.CiphertextBlob).toString('base64').startsWith('AQICAH'));

    const dec = await send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    assert.equal(dec.KeyId, md.Arn, 'Decrypt KeyId is the key ARN');
    assert.equal(dec.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    assert.deepEqual(Buffer.from(dec.Plaintext), Buffer.from(plaintext));

    // Decrypt with the matching KeyId (ID, ARN) works too.
    for (const keyRef of [md.KeyId, md.Arn]) {
      const again = await send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: keyRef }));
      assert.deepEqual(Buffer.from(again.Plaintext), Buffer.from(plaintext));
    }

    // Encrypt is not deterministic.
    const enc2 = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: plaintext }));
    assert.notDeepEqual(Buffer.from(enc2.CiphertextBlob), Buffer.from(enc.CiphertextBlob));
  });

  test('Encrypt/Decrypt round trip with encryption context', async () => {
    const md = await createKey();
    const alias = uniqueAlias('ctx');
    await send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: md.KeyId }));
    const plaintext = bytes('secret with context');
    const ctx = { purpose: 'test', tenant: 'acme', 'ünïcode': 'välue' };

    const enc = await send(new EncryptCommand({ KeyId: alias, Plaintext: plaintext, EncryptionContext: ctx }));
    assert.equal(enc.KeyId, md.Arn, 'Encrypt via alias returns the key ARN');
    assert.equal(enc.CiphertextBlob.length, plaintext.length + 152, 'context does not change the blob size');

    // Order of pairs is irrelevant.
    const reordered = { tenant: 'acme', 'ünïcode': 'välue', purpose: 'test' };
    const dec = await send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: reordered }));
    assert.equal(dec.KeyId, md.Arn);
    assert.deepEqual(Buffer.from(dec.Plaintext), Buffer.from(plaintext));
  });

  test('Decrypt with a wrong encryption context fails with InvalidCiphertextException', async () => {
    const md = await createKey();
    const plaintext = bytes('context bound');
    const ctx = { purpose: 'test' };
    const enc = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: plaintext, EncryptionContext: ctx }));

    const wrongContexts = [
      undefined, // missing
      { purpose: 'other' }, // different value
      { Purpose: 'test' }, // different case
      { purpose: 'test', extra: 'x' }, // extra pair
    ];
    for (const EncryptionContext of wrongContexts) {
      await sendExpectingError(
        new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext }),
        'InvalidCiphertextException',
      );
    }

    // A blob made without context does not decrypt with one.
    const plain = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: plaintext }));
    await sendExpectingError(
      new DecryptCommand({ CiphertextBlob: plain.CiphertextBlob, EncryptionContext: ctx }),
      'InvalidCiphertextException',
    );

    // Appending a byte to the blob also gives InvalidCiphertextException.
    const tampered = Buffer.concat([Buffer.from(enc.CiphertextBlob), Buffer.from([0])]);
    await sendExpectingError(
      new DecryptCommand({ CiphertextBlob: tampered, EncryptionContext: ctx }),
      'InvalidCiphertextException',
    );
  });

  test('Decrypt with the KeyId of another key fails with IncorrectKeyException', async () => {
    const a = await createKey();
    const b = await createKey();
    const enc = await send(new EncryptCommand({ KeyId: a.KeyId, Plaintext: bytes('for key a') }));
    await sendExpectingError(
      new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: b.KeyId }),
      'IncorrectKeyException',
      'The key ID in the request does not identify a CMK that can perform this operation.',
    );
  });

  test('GenerateDataKey AES_256: 32-byte plaintext, 184-byte blob, KeyId is the key ARN', async () => {
    const md = await createKey();
    const alias = uniqueAlias('gdk');
    await send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: md.KeyId }));

    for (const keyRef of [md.KeyId, md.Arn, alias, aliasArn(alias)]) {
      const res = await send(new GenerateDataKeyCommand({ KeyId: keyRef, KeySpec: 'AES_256' }));
      assert.equal(res.KeyId, md.Arn, `GenerateDataKey(${keyRef}).KeyId is the key ARN`);
      assert.ok(res.Plaintext instanceof Uint8Array);
      assert.equal(res.Plaintext.length, 32);
      assert.equal(res.CiphertextBlob.length, 184);
      assert.deepEqual([...res.CiphertextBlob.subarray(0, 5)], [0x01, 0x02, 0x03, 0x00, 0x78], 'data key blob header');
      assert.ok(Buffer.from(res.CiphertextBlob).toString('base64').startsWith('AQIDAH'));

      const dec = await send(new DecryptCommand({ CiphertextBlob: res.CiphertextBlob }));
      assert.equal(dec.KeyId, md.Arn);
      assert.deepEqual(Buffer.from(dec.Plaintext), Buffer.from(res.Plaintext), 'data key decrypts to its plaintext');
    }
  });

  test('GenerateDataKey AES_128, NumberOfBytes and encryption context', async () => {
    const md = await createKey();
    const ctx = { app: 'kmsd-js' };

    const k128 = await send(new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_128', EncryptionContext: ctx }));
    assert.equal(k128.Plaintext.length, 16);
    assert.equal(k128.CiphertextBlob.length, 168);

    const k64 = await send(new GenerateDataKeyCommand({ KeyId: md.KeyId, NumberOfBytes: 64, EncryptionContext: ctx }));
    assert.equal(k64.Plaintext.length, 64);
    assert.equal(k64.CiphertextBlob.length, 220);

    const dec = await send(new DecryptCommand({ CiphertextBlob: k64.CiphertextBlob, EncryptionContext: ctx }));
    assert.deepEqual(Buffer.from(dec.Plaintext), Buffer.from(k64.Plaintext));
    await sendExpectingError(new DecryptCommand({ CiphertextBlob: k64.CiphertextBlob }), 'InvalidCiphertextException');
  });

  test('unknown key ID gives NotFoundException with the key ARN in the message', async () => {
    const unknown = '0b6f7a4e-3c2d-4e5f-8a9b-0c1d2e3f4a5b';
    const expected = `Key 'arn:aws:kms:us-east-1:111122223333:key/${unknown}' does not exist`;
    await sendExpectingError(new DescribeKeyCommand({ KeyId: unknown }), 'NotFoundException', expected);
    await sendExpectingError(new DescribeKeyCommand({ KeyId: keyArn(unknown) }), 'NotFoundException', expected);
    await sendExpectingError(
      new EncryptCommand({ KeyId: unknown, Plaintext: bytes('x') }),
      'NotFoundException',
      expected,
    );
    await sendExpectingError(
      new GenerateDataKeyCommand({ KeyId: unknown, KeySpec: 'AES_256' }),
      'NotFoundException',
      expected,
    );
  });

  test('malformed key ID and unknown alias give NotFoundException', async () => {
    await sendExpectingError(
      new DescribeKeyCommand({ KeyId: 'fake-key-id' }),
      'NotFoundException',
      "Invalid keyId 'fake-key-id'",
    );
    // Message text for an unknown alias is only known from emulators, so only the name is checked.
    await sendExpectingError(new DescribeKeyCommand({ KeyId: uniqueAlias('missing') }), 'NotFoundException');
  });

  test('DisableKey: crypto operations fail with DisabledException "<ARN> is disabled."', async () => {
    const md = await createKey();
    const enc = await send(new EncryptCommand({ KeyId: md.KeyId, Plaintext: bytes('before disable') }));

    await send(new DisableKeyCommand({ KeyId: md.KeyId }));

    const described = await send(new DescribeKeyCommand({ KeyId: md.KeyId }));
    assert.equal(described.KeyMetadata.KeyState, 'Disabled');
    assert.equal(described.KeyMetadata.Enabled, false);

    const expected = `${md.Arn} is disabled.`;
    await sendExpectingError(
      new EncryptCommand({ KeyId: md.KeyId, Plaintext: bytes('x') }),
      'DisabledException',
      expected,
    );
    await sendExpectingError(
      new GenerateDataKeyCommand({ KeyId: md.KeyId, KeySpec: 'AES_256' }),
      'DisabledException',
      expected,
    );
    await sendExpectingError(
      new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }),
      'DisabledException',
      expected,
    );

    await send(new EnableKeyCommand({ KeyId: md.KeyId }));
    const dec = await send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob }));
    assert.equal(Buffer.from(dec.Plaintext).toString(), 'before disable');
  });

  test('ListKeys lists created keys, with pagination', async () => {
    const created = [await createKey(), await createKey(), await createKey()];

    const all = await send(new ListKeysCommand({}));
    assert.equal(all.Truncated, false);
    assert.equal(all.NextMarker, undefined, 'NextMarker absent when not truncated');
    for (const md of created) {
      const entry = all.Keys.find((k) => k.KeyId === md.KeyId);
      assert.ok(entry, `ListKeys contains ${md.KeyId}`);
      assert.equal(entry.KeyArn, md.Arn);
    }

    // Page through with Limit 1: every key is seen exactly once.
    const seen = [];
    let Marker;
    for (let page = 0; page < 1000; page++) {
      const res = await send(new ListKeysCommand({ Limit: 1, Marker }));
      assert.ok(res.Keys.length <= 1);
      seen.push(...res.Keys.map((k) => k.KeyId));
      if (!res.Truncated) {
        assert.equal(res.NextMarker, undefined);
        break;
      }
      assert.equal(typeof res.NextMarker, 'string');
      Marker = res.NextMarker;
    }
    assert.equal(new Set(seen).size, seen.length, 'no key listed twice');
    assert.deepEqual([...seen].sort(), all.Keys.map((k) => k.KeyId).sort());
  });

  test('GenerateRandom returns the requested number of bytes', async () => {
    for (const n of [1, 16, 32, 1024]) {
      const res = await send(new GenerateRandomCommand({ NumberOfBytes: n }));
      assert.ok(res.Plaintext instanceof Uint8Array);
      assert.equal(res.Plaintext.length, n);
    }
    const a = await send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    const b = await send(new GenerateRandomCommand({ NumberOfBytes: 32 }));
    assert.notDeepEqual(Buffer.from(a.Plaintext), Buffer.from(b.Plaintext));
  });

  test('GenerateRandom out of range gives ValidationException', async () => {
    await sendExpectingError(
      new GenerateRandomCommand({ NumberOfBytes: 1025 }),
      'ValidationException',
      "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy constraint: Member must have value less than or equal to 1024",
    );
    await sendExpectingError(
      new GenerateRandomCommand({ NumberOfBytes: 0 }),
      'ValidationException',
      "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
  });

  test('wire format: JSON 1.1 content type, request ID header, exact error bodies', async () => {
    const md = await createKey();
    const enc = await send(
      new EncryptCommand({ KeyId: md.KeyId, Plaintext: bytes('wire'), EncryptionContext: { a: '1' } }),
    );
    const blob = Buffer.from(enc.CiphertextBlob).toString('base64');

    const checkHeaders = (res, what) => {
      assert.equal(res.headers.get('content-type'), 'application/x-amz-json-1.1', `${what}: Content-Type`);
      assert.match(String(res.headers.get('x-amzn-requestid')), UUID_RE, `${what}: x-amzn-RequestId`);
    };

    // Success: no null members anywhere (optional members are omitted).
    const ok = await server.rawCall('DescribeKey', { KeyId: md.KeyId });
    assert.equal(ok.status, 200);
    checkHeaders(ok, 'DescribeKey');
    const nulls = [];
    (function walk(v, p) {
      if (v === null) nulls.push(p);
      else if (typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, `${p}.${k}`);
    })(ok.json, '$');
    assert.deepEqual(nulls, [], 'no null members in DescribeKey response');
    assert.equal(ok.json.KeyMetadata.Arn, md.Arn);

    // InvalidCiphertextException has no message member at all.
    const bad = await server.rawCall('Decrypt', { CiphertextBlob: blob, EncryptionContext: { a: '2' } });
    assert.equal(bad.status, 400);
    checkHeaders(bad, 'Decrypt error');
    assert.deepEqual(bad.json, { __type: 'InvalidCiphertextException' }, `body: ${bad.text}`);

    // Other errors: bare __type and lower-case message.
    const missing = '11111111-2222-4333-8444-555555555555';
    const nf = await server.rawCall('DescribeKey', { KeyId: missing });
    assert.equal(nf.status, 400);
    checkHeaders(nf, 'NotFound');
    assert.deepEqual(nf.json, {
      __type: 'NotFoundException',
      message: `Key 'arn:aws:kms:us-east-1:111122223333:key/${missing}' does not exist`,
    });

    // Unknown operation.
    const unk = await server.rawCall('NoSuchOperation', {});
    assert.equal(unk.status, 400);
    assert.equal(unk.json?.__type, 'UnknownOperationException', `body: ${unk.text}`);

    // List responses always carry Truncated.
    const list = await server.rawCall('ListKeys', '{}');
    assert.equal(list.status, 200);
    assert.equal(list.json.Truncated, false);
  });

  test('every response carries $metadata.requestId, unique per call', async () => {
    const ids = new Set();
    const md = await createKey();
    const responses = [
      await send(new DescribeKeyCommand({ KeyId: md.KeyId })),
      await send(new ListKeysCommand({})),
      await send(new GenerateRandomCommand({ NumberOfBytes: 8 })),
      await send(new DisableKeyCommand({ KeyId: md.KeyId })), // an operation with no output members
      await send(new EnableKeyCommand({ KeyId: md.KeyId })),
    ];
    for (const res of responses) ids.add(res.$metadata.requestId);
    const err = await sendExpectingError(new DescribeKeyCommand({ KeyId: 'fake-key-id' }), 'NotFoundException');
    ids.add(err.$metadata.requestId);
    assert.equal(ids.size, responses.length + 1, 'request IDs are unique');
  });

  // Runs last: it stops the file's server and replaces it with a new one over the same data.
  test('SIGTERM stops kmsd cleanly and keys survive a restart', async () => {
    const md = await createKey({ Description: 'durable' });
    const alias = uniqueAlias('durable');
    await send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: md.KeyId }));
    const enc = await send(
      new EncryptCommand({ KeyId: alias, Plaintext: bytes('survives restart'), EncryptionContext: { r: '1' } }),
    );

    const dataDir = server.dataDir;
    const info = await server.stop({ keepDataDir: true });
    assert.deepEqual(info, { code: 0, signal: null, killed: false }, `exit on SIGTERM\n${server.log()}`);

    client.destroy();
    server = await KmsdServer.start({ dataDir });
    client = server.client();

    const described = await send(new DescribeKeyCommand({ KeyId: alias }));
    assert.equal(described.KeyMetadata.Arn, md.Arn);
    assert.equal(described.KeyMetadata.Description, 'durable');
    const dec = await send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: { r: '1' } }));
    assert.equal(dec.KeyId, md.Arn);
    assert.equal(Buffer.from(dec.Plaintext).toString(), 'survives restart');
  });
});
