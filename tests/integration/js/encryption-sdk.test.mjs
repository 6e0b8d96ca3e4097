// The AWS Encryption SDK for JavaScript (@aws-crypto/client-node) with KMS keyrings whose clients
// point at a real kmsd. The SDK calls GenerateDataKey / Encrypt / Decrypt with an encryption
// context and checks that KMS answers with the key ARN, so this is an end-to-end compatibility
// check of those operations.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';

import {
  CreateAliasCommand,
  CreateKeyCommand,
  DisableKeyCommand,
  ReplicateKeyCommand,
} from '@aws-sdk/client-kms';
import {
  CommitmentPolicy,
  KMS,
  KmsKeyringNode,
  buildAwsKmsMrkAwareDiscoveryMultiKeyringNode,
  buildAwsKmsMrkAwareStrictMultiKeyringNode,
  buildClient,
  getClient,
} from '@aws-crypto/client-node';

import { ACCOUNT, KmsdServer, aliasArn, uniqueAlias } from './harness.mjs';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

describe('kmsd with the AWS Encryption SDK (@aws-crypto/client-node)', () => {
  /** @type {KmsdServer} */
  let server;
  /** @type {import('@aws-sdk/client-kms').KMSClient} */
  let kmsClient;
  let clientProvider;

  before(async () => {
    server = await KmsdServer.start();
    kmsClient = server.client();
    // The SDK's helper: one aggregated KMS client per region, configured for kmsd. The keyrings
    // call kms.generateDataKey(...) etc., so the provider must return `KMS`, not `KMSClient`.
    clientProvider = getClient(KMS, server.clientConfig());
  });

  after(async () => {
    kmsClient?.destroy();
    if (server) await server.stop();
  });

  async function createKey() {
    const res = await kmsClient.send(new CreateKeyCommand({ Description: 'encryption sdk test' }));
    return res.KeyMetadata;
  }

  function keyring(opts) {
    return new KmsKeyringNode({ clientProvider, ...opts });
  }

  /** Asserts that `header.encryptionContext` contains every pair of `context`. */
  function assertContextReturned(header, context) {
    for (const [k, v] of Object.entries(context)) {
      assert.equal(header.encryptionContext[k], v, `encryption context ${k} returned by decrypt`);
    }
  }

  test('encrypt and decrypt with a keyring whose generator is the key ARN', async () => {
    const md = await createKey();
    const ring = keyring({ generatorKeyId: md.Arn });
    const plaintext = randomBytes(10_000);
    const context = { stage: 'test', purpose: 'kmsd integration', tenant: 'acme' };

    const { result, messageHeader: encHeader } = await encrypt(ring, plaintext, {
      encryptionContext: context,
      frameLength: 4096, // several frames
    });
    assert.ok(result.length > plaintext.length);
    assert.equal(encHeader.encryptedDataKeys.length, 1);
    const edk = encHeader.encryptedDataKeys[0];
    assert.equal(edk.providerId, 'aws-kms');
    assert.equal(edk.providerInfo, md.Arn, 'GenerateDataKey answered with the key ARN');
    assert.equal(edk.encryptedDataKey.length, 184, 'KMS blob of a 32-byte data key');

    const { plaintext: out, messageHeader } = await decrypt(ring, result);
    assert.deepEqual(Buffer.from(out), plaintext);
    assertContextReturned(messageHeader, context);
    assert.ok(messageHeader.encryptionContext['aws-crypto-public-key'], 'signing suite adds its public key');
  });

  test('encrypt with an alias ARN generator; decrypt with the key ARN and with discovery', async () => {
    const md = await createKey();
    const alias = uniqueAlias('esdk');
    await kmsClient.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: md.KeyId }));
    const generatorKeyId = aliasArn(alias);
    assert.equal(generatorKeyId, `arn:aws:kms:us-east-1:111122223333:${alias}`);

    // A hand-written client provider this time: (region) => KMS client.
    const customProvider = (region) => server.kms({ region: region || 'us-east-1' });
    const ring = new KmsKeyringNode({ clientProvider: customProvider, generatorKeyId });

    const plaintext = Buffer.from('alias encrypted payload');
    const context = { app: 'kmsd', via: 'alias' };
    const { result, messageHeader: encHeader } = await encrypt(ring, plaintext, { encryptionContext: context });
    assert.equal(
      encHeader.encryptedDataKeys[0].providerInfo,
      md.Arn,
      'GenerateDataKey through an alias ARN answers with the key ARN',
    );

    // The message names the key ARN, so a keyring configured with the key ARN decrypts it ...
    const byArn = await decrypt(keyring({ generatorKeyId: md.Arn }), result);
    assert.deepEqual(Buffer.from(byArn.plaintext), plaintext);
    assertContextReturned(byArn.messageHeader, context);

    // ... and so does a discovery keyring limited to the account.
    const discovery = keyring({ discovery: true, discoveryFilter: { accountIDs: [ACCOUNT], partition: 'aws' } });
    const byDiscovery = await decrypt(discovery, result);
    assert.deepEqual(Buffer.from(byDiscovery.plaintext), plaintext);
    assertContextReturned(byDiscovery.messageHeader, context);
  });

  test('a generator plus an additional key: either key alone decrypts', async () => {
    const a = await createKey();
    const b = await createKey();
    const ring = keyring({ generatorKeyId: a.Arn, keyIds: [b.Arn] });
    const plaintext = randomBytes(300);
    const context = { multi: 'key' };

    const { result, messageHeader } = await encrypt(ring, plaintext, { encryptionContext: context });
    assert.deepEqual(
      messageHeader.encryptedDataKeys.map((e) => e.providerInfo),
      [a.Arn, b.Arn],
      'GenerateDataKey under A, Encrypt under B',
    );
    for (const e of messageHeader.encryptedDataKeys) assert.equal(e.encryptedDataKey.length, 184);

    for (const md of [a, b]) {
      const { plaintext: out, messageHeader: h } = await decrypt(keyring({ generatorKeyId: md.Arn }), result);
      assert.deepEqual(Buffer.from(out), plaintext);
      assertContextReturned(h, context);
    }
  });

  test('decrypting with a keyring for a different key fails', async () => {
    const a = await createKey();
    const other = await createKey();
    const { result } = await encrypt(keyring({ generatorKeyId: a.Arn }), Buffer.from('for key a only'), {
      encryptionContext: { owner: 'a' },
    });

    // The keyring only tries data keys whose provider info is one of its own ARNs: none here, so
    // the SDK ends with no data key (not with a KMS or network error).
    const noDataKey = { name: 'Error', message: 'unencryptedDataKey has not been set' };
    await assert.rejects(decrypt(keyring({ generatorKeyId: other.Arn }), result), noDataKey);

    // A discovery keyring limited to another account does not try the key either.
    const foreign = keyring({ discovery: true, discoveryFilter: { accountIDs: ['444455556666'], partition: 'aws' } });
    await assert.rejects(decrypt(foreign, result), noDataKey);
  });

  test('decrypting after the key is disabled fails with the DisabledException from kmsd', async () => {
    const md = await createKey();
    const ring = keyring({ generatorKeyId: md.Arn });
    const { result } = await encrypt(ring, Buffer.from('soon unreadable'), { encryptionContext: { k: 'v' } });

    await kmsClient.send(new DisableKeyCommand({ KeyId: md.KeyId }));

    await assert.rejects(decrypt(ring, result), (err) => {
      assert.match(err.message, /Unable to decrypt data key/);
      assert.ok(err.message.includes(`${md.Arn} is disabled.`), `KMS error surfaced: ${err.message}`);
      return true;
    });
    // Encrypting under the disabled key fails as well.
    await assert.rejects(encrypt(ring, Buffer.from('x'), { encryptionContext: { k: 'v' } }), (err) => {
      assert.equal(err.name, 'DisabledException', err.message);
      assert.equal(err.message, `${md.Arn} is disabled.`);
      return true;
    });
  });

  test('multi-Region keys: encrypt in one Region, decrypt with the replica in another', async () => {
    const { KeyMetadata: primary } = await kmsClient.send(
      new CreateKeyCommand({ Description: 'mrk for the encryption sdk', MultiRegion: true }),
    );
    assert.match(primary.KeyId, /^mrk-[0-9a-f]{32}$/);
    const { ReplicaKeyMetadata: replica } = await kmsClient.send(
      new ReplicateKeyCommand({ KeyId: primary.KeyId, ReplicaRegion: 'us-west-2' }),
    );
    assert.equal(replica.Arn, primary.Arn.replace('us-east-1', 'us-west-2'));

    const context = { site: 'primary' };
    const east = buildAwsKmsMrkAwareStrictMultiKeyringNode({ generatorKeyId: primary.Arn, clientProvider });
    const { result, messageHeader } = await encrypt(east, Buffer.from('disaster recovery'), {
      encryptionContext: context,
    });
    assert.equal(messageHeader.encryptedDataKeys[0].providerInfo, primary.Arn);

    // The MRK-aware strict keyring for the replica's ARN calls Decrypt in us-west-2.
    const west = buildAwsKmsMrkAwareStrictMultiKeyringNode({ generatorKeyId: replica.Arn, clientProvider });
    const { plaintext, messageHeader: decHeader } = await decrypt(west, result);
    assert.equal(Buffer.from(plaintext).toString(), 'disaster recovery');
    assertContextReturned(decHeader, context);

    // So does the MRK-aware discovery keyring of us-west-2.
    const discovery = buildAwsKmsMrkAwareDiscoveryMultiKeyringNode({
      regions: ['us-west-2'],
      clientProvider,
      discoveryFilter: { accountIDs: [ACCOUNT], partition: 'aws' },
    });
    assert.equal(Buffer.from((await decrypt(discovery, result)).plaintext).toString(), 'disaster recovery');

    // A keyring that is not MRK-aware matches ARNs exactly and does not try the replica.
    await assert.rejects(decrypt(keyring({ generatorKeyId: replica.Arn }), result), {
      name: 'Error',
      message: 'unencryptedDataKey has not been set',
    });
  });
});
