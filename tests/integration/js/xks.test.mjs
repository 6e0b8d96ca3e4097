// External key stores with the JavaScript SDK and the AWS Encryption SDK: kmsd's built-in XKS
// proxy (`kmsd xks-proxy`, a second process with its own keys and TLS certificate) behind a key
// store made with @aws-sdk/client-kms, and an Encryption SDK message whose data key kmsd
// encrypts twice (its own layer, then the proxy's), decrypted again through both.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  ConnectCustomKeyStoreCommand,
  CreateCustomKeyStoreCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeCustomKeyStoresCommand,
  DescribeKeyCommand,
} from '@aws-sdk/client-kms';
import { CommitmentPolicy, KMS, KmsKeyringNode, buildClient, getClient } from '@aws-crypto/client-node';

import { KmsdServer, kmsdBinary } from './harness.mjs';

const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);

const ACCESS_KEY_ID = 'ABCDEFGHIJKLMNOPQRSTUVWX';
const SECRET = randomBytes(33).toString('base64'); // 44 characters, as AWS suggests

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function waitForPort(port, child, deadlineMs = 10_000) {
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`xks-proxy exited (${child.exitCode ?? child.signalCode})`);
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`xks-proxy not listening on ${port}`);
}

describe('an external key store behind kmsd xks-proxy, used by the Encryption SDK', () => {
  let proxy;
  let proxyDir;
  let server;
  let kms;
  let keyArn;

  before(async () => {
    proxyDir = await mkdtemp(path.join(os.tmpdir(), 'kmsd-xks-js-'));
    const port = await freePort();
    proxy = spawn(
      kmsdBinary(),
      ['xks-proxy', '--data-dir', proxyDir, '--port', String(port), '--tls-name', 'xks.example.com',
        '--access-key-id', ACCESS_KEY_ID, '--key', 'esdk-key'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KMSD_XKS_PROXY_SECRET_ACCESS_KEY: SECRET } },
    );
    await waitForPort(port, proxy);
    server = await KmsdServer.start({
      extraArgs: ['--xks-endpoint-map', `xks.example.com=127.0.0.1:${port}`,
        '--xks-ca-file', path.join(proxyDir, 'tls-cert.pem')],
    });
    kms = server.client();

    const { CustomKeyStoreId } = await kms.send(new CreateCustomKeyStoreCommand({
      CustomKeyStoreName: 'esdk-xks',
      CustomKeyStoreType: 'EXTERNAL_KEY_STORE',
      XksProxyConnectivity: 'PUBLIC_ENDPOINT',
      XksProxyUriEndpoint: 'https://xks.example.com',
      XksProxyUriPath: '/kms/xks/v1',
      XksProxyAuthenticationCredential: { AccessKeyId: ACCESS_KEY_ID, RawSecretAccessKey: SECRET },
    }));
    await kms.send(new ConnectCustomKeyStoreCommand({ CustomKeyStoreId }));
    // CONNECTING for 2 s of KMS time; the scheduler finishes it (it asks the proxy's health).
    let state;
    for (let i = 0; i < 100 && state !== 'CONNECTED'; i++) {
      const { CustomKeyStores } = await kms.send(new DescribeCustomKeyStoresCommand({ CustomKeyStoreId }));
      state = CustomKeyStores[0].ConnectionState;
      assert.notEqual(state, 'FAILED', JSON.stringify(CustomKeyStores[0]));
      if (state !== 'CONNECTED') await sleep(100);
    }
    assert.equal(state, 'CONNECTED');
    const { KeyMetadata } = await kms.send(new CreateKeyCommand({
      Origin: 'EXTERNAL_KEY_STORE', CustomKeyStoreId, XksKeyId: 'esdk-key',
    }));
    assert.equal(KeyMetadata.Origin, 'EXTERNAL_KEY_STORE');
    assert.deepEqual(KeyMetadata.XksKeyConfiguration, { Id: 'esdk-key' });
    assert.equal(KeyMetadata.CustomKeyStoreId, CustomKeyStoreId);
    keyArn = KeyMetadata.Arn;
  });

  after(async () => {
    kms?.destroy();
    if (server) await server.stop();
    if (proxy && proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGTERM');
      await new Promise((resolve) => proxy.once('exit', resolve));
    }
    if (proxyDir) await rm(proxyDir, { recursive: true, force: true });
  });

  test('a message encrypted under the external key decrypts, with its context', async () => {
    const keyring = new KmsKeyringNode({
      clientProvider: getClient(KMS, server.clientConfig()),
      generatorKeyId: keyArn,
    });
    const plaintext = randomBytes(3000);
    const context = { tenant: 'xks', purpose: 'esdk' };
    const { result } = await encrypt(keyring, plaintext, { encryptionContext: context });
    assert.ok(!result.includes(plaintext.subarray(0, 64)));
    const { plaintext: back, messageHeader } = await decrypt(keyring, result);
    assert.deepEqual(back, plaintext);
    for (const [k, v] of Object.entries(context)) assert.equal(messageHeader.encryptionContext[k], v);
    // The encrypted data key is kmsd's external key store blob (its third byte is 05) naming
    // the key's ARN as provider info.
    const edk = messageHeader.encryptedDataKeys[0];
    assert.equal(edk.providerInfo, keyArn);
    assert.equal(edk.encryptedDataKey[2], 0x05);
  });

  test('DescribeKey shows the external key', async () => {
    const { KeyMetadata } = await kms.send(new DescribeKeyCommand({ KeyId: keyArn }));
    assert.equal(KeyMetadata.KeyState, 'Enabled');
    assert.equal(KeyMetadata.KeySpec, 'SYMMETRIC_DEFAULT');
    assert.deepEqual(KeyMetadata.XksKeyConfiguration, { Id: 'esdk-key' });
  });

  test('with the proxy stopped, KMS answers AWS\'s KMSInvalidStateException', async () => {
    const keyring = new KmsKeyringNode({
      clientProvider: getClient(KMS, server.clientConfig()),
      generatorKeyId: keyArn,
    });
    const { result, messageHeader } = await encrypt(keyring, Buffer.from('before the stop'));
    const edk = messageHeader.encryptedDataKeys[0].encryptedDataKey;
    const context = messageHeader.encryptionContext;
    proxy.kill('SIGKILL');
    await new Promise((resolve) => proxy.once('exit', resolve));
    await assert.rejects(
      kms.send(new DecryptCommand({ CiphertextBlob: edk, EncryptionContext: context })),
      (err) => {
        assert.equal(err.name, 'KMSInvalidStateException');
        assert.match(err.message, /^AWS KMS cannot communicate with the external key store proxy\./);
        return true;
      },
    );
    // The Encryption SDK cannot decrypt the message either (it reports the KMS failure).
    await assert.rejects(decrypt(keyring, result));
  });
});
