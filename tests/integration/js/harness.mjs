// Starts the real kmsd binary for a test file and hands out SDK clients pointed at it.
//
//   KMSD_BIN        path of the kmsd executable (default: ../../../build/kmsd, relative to
//                   this folder, i.e. <repo>/build/kmsd)
//   KMSD_TEST_LOG   when set, the server's stdout/stderr are echoed to this process's stderr
//
// Each server gets a free loopback port and a fresh temporary data directory, which is removed
// when the server stops.

import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { KMS, KMSClient } from '@aws-sdk/client-kms';

const here = path.dirname(fileURLToPath(import.meta.url));

// The JS SDK warns once per process that its releases after January 2027 need Node >= 22. The
// project runs Node 20 on purpose; keep the warning out of every test file's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export const REGION = 'us-east-1';
export const ACCOUNT = '111122223333';
export const CREDENTIALS = Object.freeze({
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'x',
});

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const HEALTH_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

export function kmsdBinary() {
  return path.resolve(here, process.env.KMSD_BIN ?? '../../../build/kmsd');
}

export function keyArn(keyId, region = REGION, account = ACCOUNT) {
  return `arn:aws:kms:${region}:${account}:key/${keyId}`;
}

export function aliasArn(aliasName, region = REGION, account = ACCOUNT) {
  // aliasName includes the "alias/" prefix; it appears once in the ARN.
  return `arn:aws:kms:${region}:${account}:${aliasName}`;
}

/** A unique, valid alias name (`alias/<prefix>-<random>`). */
export function uniqueAlias(prefix = 'test') {
  return `alias/${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A running kmsd. Create with `await KmsdServer.start()`, end with `await server.stop()`. */
export class KmsdServer {
  constructor({ bin, port, dataDir, child }) {
    this.bin = bin;
    this.port = port;
    this.dataDir = dataDir;
    this.child = child;
    this.endpoint = `http://127.0.0.1:${port}`;
    this.output = [];
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    this.exitInfo = null;
    this.exited.then((info) => {
      this.exitInfo = info;
    });
    const echo = !!process.env.KMSD_TEST_LOG;
    const collect = (stream) => (chunk) => {
      this.output.push(chunk.toString());
      if (this.output.length > 2000) this.output.splice(0, this.output.length - 2000);
      if (echo) stream.write(chunk);
    };
    child.stdout.on('data', collect(process.stderr));
    child.stderr.on('data', collect(process.stderr));
  }

  /** Last lines the server printed (for failure messages). */
  log() {
    return this.output.join('').split('\n').slice(-60).join('\n');
  }

  /**
   * Starts kmsd. `dataDir`: reuse this directory (e.g. to restart over a previous server's data)
   * instead of a fresh temporary one.
   */
  static async start({ extraArgs = [], dataDir: givenDataDir } = {}) {
    const bin = kmsdBinary();
    if (!existsSync(bin)) {
      throw new Error(`kmsd binary not found at ${bin} (build it first, or set KMSD_BIN)`);
    }
    let lastError;
    // The free port is found by binding port 0 and closing it; another process could take it
    // before kmsd binds, so retry a few times with a fresh port if the server dies early.
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const dataDir = givenDataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'kmsd-js-')));
      const child = spawn(bin, ['--port', String(port), '--data-dir', dataDir, ...extraArgs], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const spawnError = new Promise((_, reject) => child.once('error', reject));
      spawnError.catch(() => {});
      const server = new KmsdServer({ bin, port, dataDir, child });
      try {
        await Promise.race([server.#waitHealthy(), spawnError]);
        return server;
      } catch (err) {
        lastError = err;
        await server.stop({ keepDataDir: !!givenDataDir }).catch(() => {});
      }
    }
    throw lastError;
  }

  async #waitHealthy() {
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    const url = `${this.endpoint}/_kmsd/health`;
    let last = 'no answer';
    while (Date.now() < deadline) {
      if (this.exitInfo) {
        throw new Error(
          `kmsd exited before becoming healthy (code ${this.exitInfo.code}, signal ${this.exitInfo.signal})\n${this.log()}`,
        );
      }
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = err.cause?.code ?? err.message;
      }
      await sleep(50);
    }
    throw new Error(`kmsd not healthy at ${url} after ${HEALTH_TIMEOUT_MS} ms (last: ${last})\n${this.log()}`);
  }

  /**
   * SIGTERM, wait for exit (SIGKILL after 5 s), remove the data dir unless `keepDataDir`.
   * Returns the exit info {code, signal, killed}; `killed` is true when SIGKILL was needed.
   */
  async stop({ keepDataDir = false } = {}) {
    let info = this.exitInfo;
    if (!info) {
      let killed = false;
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        killed = true;
        this.child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      info = { ...(await this.exited), killed };
      clearTimeout(timer);
      this.exitInfo = info;
    }
    if (!keepDataDir) await rm(this.dataDir, { recursive: true, force: true });
    return info;
  }

  clientConfig(overrides = {}) {
    return {
      endpoint: this.endpoint,
      region: REGION,
      credentials: { ...CREDENTIALS },
      maxAttempts: 1,
      ...overrides,
    };
  }

  /** A bare `KMSClient` (use with `client.send(new XxxCommand(...))`). */
  client(overrides = {}) {
    return new KMSClient(this.clientConfig(overrides));
  }

  /**
   * The aggregated `KMS` client (methods like `kms.generateDataKey(...)`). The AWS Encryption
   * SDK's KMS keyrings call these methods, so their clientProvider must return this kind.
   */
  kms(overrides = {}) {
    return new KMS(this.clientConfig(overrides));
  }

  /**
   * One raw, SigV4-signed AWS JSON 1.1 call, for checks of the wire format that the SDK hides
   * (exact error bodies, headers). `body` is an object or a string sent as is.
   * Returns {status, headers, text, json}.
   */
  async rawCall(operation, body = {}, { region = REGION, target = `TrentService.${operation}` } = {}) {
    const payload = typeof body === 'string' ? body : JSON.stringify(body);
    const headers = signV4({
      host: `127.0.0.1:${this.port}`,
      region,
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': target,
      },
      payload,
    });
    const res = await fetch(`${this.endpoint}/`, { method: 'POST', headers, body: payload });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }
}

const sha256hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data).digest();

/** Minimal SigV4 for POST / (service kms). Returns the headers to send, Authorization included. */
function signV4({ host, region, headers, payload, credentials = CREDENTIALS, now = new Date() }) {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const all = { ...headers, host, 'x-amz-date': amzDate };
  const names = Object.keys(all).map((h) => h.toLowerCase()).sort();
  const lower = Object.fromEntries(Object.entries(all).map(([k, v]) => [k.toLowerCase(), String(v).trim()]));
  const canonicalHeaders = names.map((h) => `${h}:${lower[h]}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalRequest = ['POST', '/', '', canonicalHeaders, signedHeaders, sha256hex(payload)].join('\n');
  const scope = `${date}/${region}/kms/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonicalRequest)].join('\n');
  let key = hmac(`AWS4${credentials.secretAccessKey}`, date);
  for (const part of [region, 'kms', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  const out = { ...all };
  delete out.host; // fetch sets Host itself (same value)
  out.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return out;
}
