// The web console (GET /_kmsd/ui) in a real headless Chromium (Debian's `chromium`, driven by
// puppeteer-core): seeded keys, a policy and audit records are shown; markup in a description
// stays text; the clock buttons move KMS time and a pending deletion happens; screenshots are
// saved (KMSD_CONSOLE_SHOTS, default: a temporary folder).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import {
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import puppeteer from 'puppeteer-core';

import { KmsdServer } from './harness.mjs';

const CHROMIUM = process.env.KMSD_CHROMIUM ?? '/usr/bin/chromium';
const HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>';

describe('the web console in Chromium', () => {
  /** @type {KmsdServer} */
  let server;
  let client;
  let browser;
  let page;
  let shots;
  const dialogs = [];
  let kept;
  let doomed;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium)`);
    shots = process.env.KMSD_CONSOLE_SHOTS ?? (await mkdtemp(path.join(os.tmpdir(), 'kmsd-console-')));
    server = await KmsdServer.start({ extraArgs: ['--admin-token', 'console-token'] });
    client = server.client();
    kept = (await client.send(new CreateKeyCommand({
      Description: HOSTILE,
      Tags: [{ TagKey: 'team', TagValue: 'payments' }],
    }))).KeyMetadata;
    await client.send(new CreateAliasCommand({ AliasName: 'alias/console-demo', TargetKeyId: kept.KeyId }));
    await client.send(new CreateGrantCommand({
      KeyId: kept.KeyId, GranteePrincipal: 'arn:aws:iam::111122223333:root', Operations: ['Decrypt'],
    }));
    await client.send(new EncryptCommand({ KeyId: kept.KeyId, Plaintext: Buffer.from('hello') }));
    doomed = (await client.send(new CreateKeyCommand({ Description: 'to be deleted' }))).KeyMetadata;
    await client.send(new ScheduleKeyDeletionCommand({ KeyId: doomed.KeyId, PendingWindowInDays: 7 }));

    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1400, height: 900 });
    page.on('dialog', async (d) => {
      dialogs.push(`${d.type()}: ${d.message()}`);
      if (d.type() === 'confirm') await d.accept();
      else await d.dismiss();
    });
  });

  after(async () => {
    await browser?.close();
    client?.destroy();
    if (server) await server.stop();
  });

  const rowTexts = () => page.$$eval('#keys tr', (rows) => rows.map((r) => r.textContent));

  test('asks for the admin token, then lists the keys with markup shown as text', async () => {
    await page.goto(`${server.endpoint}/_kmsd/ui`);
    await page.waitForSelector('#token', { visible: true });
    await page.type('#token-value', 'console-token');
    await page.click('#token button');
    await page.waitForFunction(() => document.querySelectorAll('#keys tr').length === 2);
    const rows = await rowTexts();
    const row = rows.find((r) => r.includes(kept.KeyId));
    assert.ok(row, rows.join('\n'));
    assert.match(row, /alias\/console-demo/);
    assert.match(row, /Enabled/);
    assert.match(row, /team=payments/);
    assert.ok(row.includes(HOSTILE), 'the description is shown as text');
    assert.equal(await page.evaluate(() => window.pwned), undefined);
    assert.equal(await page.$('#keys img'), null);
    assert.ok(rows.find((r) => r.includes(doomed.KeyId)).includes('PendingDeletion'));
    await page.screenshot({ path: path.join(shots, 'console-keys.png'), fullPage: true });
  });

  test("shows a key's policy, grants, materials and audit records", async () => {
    await page.click(`#keys tr[data-arn="${kept.Arn}"]`);
    await page.waitForSelector('#detail pre.policy');
    const policy = await page.$eval('#detail pre.policy', (e) => e.textContent);
    assert.match(policy, /"Sid": "Enable IAM User Permissions"/);  // pretty-printed
    const detail = await page.$eval('#detail', (e) => e.textContent);
    assert.match(detail, /Grants \(1\)/);
    assert.match(detail, /Key materials \(1\)/);
    for (const event of ['CreateKey', 'CreateAlias', 'CreateGrant', 'Encrypt']) assert.match(detail, new RegExp(event));
    await page.screenshot({ path: path.join(shots, 'console-key.png'), fullPage: true });
  });

  test('the audit view filters CloudTrail records', async () => {
    await page.click('#tab-audit');
    await page.waitForFunction(() => document.querySelectorAll('#audit tr').length > 0);
    await page.type('#audit-filters input[name=eventName]', 'Encrypt');
    await page.click('#audit-filters button');
    await page.waitForFunction(() => document.querySelectorAll('#audit tr').length === 1);
    const text = await page.$eval('#audit', (e) => e.textContent);
    assert.match(text, /Encrypt/);
    assert.match(text, new RegExp(kept.KeyId));
    await page.screenshot({ path: path.join(shots, 'console-audit.png'), fullPage: true });
  });

  test('advancing the clock asks first, and a pending deletion happens', async () => {
    await page.click('#tab-keys');
    await page.waitForFunction(() => document.querySelectorAll('#keys tr').length === 2);
    await page.click('[data-advance="604800"]');
    await page.waitForFunction(() => document.querySelector('#clock-now').textContent.includes('+7 d'));
    await page.click('[data-advance="86400"]');
    await page.waitForFunction(() => document.querySelectorAll('#keys tr').length === 1);
    assert.deepEqual(dialogs.filter((d) => d.startsWith('confirm')).length, 2, dialogs.join('\n'));
    await assert.rejects(client.send(new DescribeKeyCommand({ KeyId: doomed.KeyId })),
      (e) => e.name === 'NotFoundException');
    await page.click('#tab-audit');
    await page.$eval('#audit-filters input[name=eventName]', (e) => { e.value = 'DeleteKey'; });
    await page.click('#audit-filters button');
    // The filtered list replaces the last one (Encrypt's single row): wait for its own row.
    await page.waitForFunction(() => document.querySelector('#audit').textContent.includes('DeleteKey'));
    assert.equal(await page.$$eval('#audit tr', (rows) => rows.length), 1);
    assert.match(await page.$eval('#audit', (e) => e.textContent), /AwsServiceEvent/);
  });
});
