// Strict mode: the JS SDK v3's own SigV4 signatures, verified by kmsd against a principals file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KMSClient, CreateKeyCommand, EncryptCommand, DecryptCommand, ListKeysCommand } from '@aws-sdk/client-kms';
import { KmsdServer } from './harness.mjs';

describe('strict SigV4 with the JS SDK', () => {
  let server;
  before(async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'kmsd-js-auth-'));
    const principals = path.join(dir, 'principals.yaml');
    await writeFile(principals, [
      'accounts:',
      '  "111122223333":',
      '    users:',
      '      - name: js',
      '        access_key_id: AKIAJSUSER11EXAMPLE',
      '        secret_access_key: "js/secret+1"',
      '        policies: [{Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}]',
      '',
    ].join('\n'));
    server = await KmsdServer.start({ extraArgs: ['--auth', 'strict', '--principals', principals] });
  });
  after(async () => { await server?.stop(); });

  const client = (secretAccessKey) => new KMSClient({
    endpoint: server.endpoint,
    region: 'eu-central-1',
    credentials: { accessKeyId: 'AKIAJSUSER11EXAMPLE', secretAccessKey },
    maxAttempts: 1,
  });

  it('accepts the SDK signature and scopes keys to the signed Region', async () => {
    const kms = client('js/secret+1');
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({ Description: 'from js' }));
    assert.match(KeyMetadata.Arn, /^arn:aws:kms:eu-central-1:111122223333:key\//);
    const { CiphertextBlob } = await kms.send(new EncryptCommand({
      KeyId: KeyMetadata.KeyId, Plaintext: Buffer.from('signed'), EncryptionContext: { a: 'b' },
    }));
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { a: 'b' } }));
    assert.equal(Buffer.from(Plaintext).toString(), 'signed');
  });

  it('rejects a wrong secret with InvalidSignatureException', async () => {
    await assert.rejects(client('wrong').send(new ListKeysCommand({})), (err) => {
      assert.equal(err.name, 'InvalidSignatureException');
      assert.equal(err.$metadata.httpStatusCode, 400);
      return true;
    });
  });
});
