// The listener against hostile clients (issue #16, items 1 and 2): silent and slow TLS handshakes
// are cut at an absolute deadline, a global connection cap (TLS + QUIC, handshakes included)
// keeps descriptors for the node, accept() failing with EMFILE is survived and logged, and every
// refusal is one log line, rate-limited per kind, with no secret in it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import type { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { connect as tlsConnect } from 'node:tls';
import { AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Certificate, Name, RelativeDistinguishedName,
  SubjectPublicKeyInfo, TBSCertificate, Validity, Version } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { QUICClient } from '@matrixai/quic';
import { dial } from '../../actors/listener/dial.ts';
import { defaultMaxConnections, openFileLimit, REASON_TOO_MANY_FROM_IP, REFUSAL, startListener,
  FALLBACK_MAX_CONNECTIONS, MAX_DERIVED_CONNECTIONS } from '../../actors/listener/listener.ts';
import type { Listener, ListenerLimits } from '../../actors/listener/listener.ts';
import type { Connection } from '../../actors/listener/connection.ts';
import { RefusalLog } from '../../actors/listener/logger.ts';
import type { TransportLogger } from '../../actors/listener/logger.ts';
import { makeCertificate } from '../../actors/listener/tlsIdentity.ts';
import { quicClientCrypto } from '../../actors/listener/quicCrypto.ts';
import { quicLogger } from '../../actors/listener/logger.ts';
import { echo, newKeys, TEST_ALPN, waitFor, within } from './fixtures.ts';

interface LogLine { level: string; msg: string; fields: Record<string, unknown> }

function captureLogger(): { logger: TransportLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (fields: object, msg = ''): void => {
    lines.push({ level, msg, fields: { ...fields } as Record<string, unknown> });
  };
  return { lines, logger: { debug: () => {}, info: at('info'), warn: at('warn'), error: at('error') } };
}

/** Refusal lines of one kind: how many were written, and how many they say were suppressed. */
function refusalTally(lines: readonly LogLine[], kind: string): { logged: number; suppressed: number } {
  let logged = 0;
  let suppressed = 0;
  for (const line of lines) {
    if (line.fields.refusal !== kind) continue;
    if (typeof line.fields.suppressed === 'number') suppressed += line.fields.suppressed;
    else logged++;
  }
  return { logged, suppressed };
}

async function loggedListener(limits: ListenerLimits): Promise<{ listener: Listener; lines: LogLine[]; keys: ReturnType<typeof newKeys> }> {
  const { logger, lines } = captureLogger();
  const keys = newKeys();
  const listener = await startListener({
    host: '127.0.0.1', port: 0, alpns: [TEST_ALPN], identity: keys, limits, logger,
    onConnection: (conn) => conn.onStream((s) => s.pipe(s)),
  });
  return { listener, lines, keys };
}

const openDescriptors = (): number => readdirSync('/proc/self/fd').length;

/** A TCP socket that connects and then says nothing; `closed` resolves when the other side ends it. */
function silentSocket(port: number, localAddress: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port, localAddress });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

/** Opens `count` silent sockets spread over 127.0.0.2 … 127.0.0.11 (each IP under the per-IP cap). */
async function silentFlood(port: number, count: number): Promise<{ socket: Socket; closed: Promise<void> }[]> {
  const out: { socket: Socket; closed: Promise<void> }[] = [];
  for (let i = 0; i < count; i += 25) {
    const batch = Array.from({ length: Math.min(25, count - i) }, (_, j) => silentSocket(port, `127.0.0.${2 + ((i + j) % 10)}`));
    out.push(...await within(Promise.all(batch), 10_000, 'silent sockets connect'));
  }
  return out;
}

/** The bytes of a real ClientHello (what a slow-loris client dribbles). */
async function captureClientHello(): Promise<Buffer> {
  const server = createNetServer();
  const hello = new Promise<Buffer>((resolve) => server.once('connection', (s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const client = tlsConnect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, rejectUnauthorized: false, ALPNProtocols: [TEST_ALPN] });
  client.on('error', () => {});
  try {
    return await within(hello, 5000, 'ClientHello');
  } finally {
    client.destroy();
    server.close();
  }
}

/** A self-signed RSA certificate (what a stock TLS client might show): not an alknet identity. */
function rsaCertificate(): { keyPem: string; certPem: string; certDer: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sha256WithRsa = new AlgorithmIdentifier({ algorithm: '1.2.840.113549.1.1.11', parameters: new Uint8Array([5, 0]).buffer });
  const name = new Name([new RelativeDistinguishedName([new AttributeTypeAndValue({ type: '2.5.4.3', value: new AttributeValue({ utf8String: 'rsa client' }) })])]);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array([1, 2, 3, 4]).buffer,
    signature: sha256WithRsa,
    issuer: name,
    subject: name,
    validity: new Validity({ notBefore: new Date(Date.now() - 86_400_000), notAfter: new Date('2099-01-01T00:00:00Z') }),
    subjectPublicKeyInfo: AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
  });
  const signature = sign('sha256', Buffer.from(AsnConvert.serialize(tbs)), privateKey);
  const der = new Uint8Array(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: sha256WithRsa,
    signatureValue: new Uint8Array(signature).buffer })));
  const certPem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), certPem, certDer: der };
}

test('silent TCP sockets and a dribbled ClientHello are closed at the handshake deadline; descriptors come back; others are served meanwhile', async () => {
  const SILENT = 300;
  const { listener, lines } = await loggedListener({ handshakeTimeoutMs: 2_000 });
  const address = `${listener.nodeId}@127.0.0.1:${listener.tcpPort}`;
  try {
    // Warm up both paths, so descriptors opened once per process are in the baseline.
    for (const transport of ['tls', 'quic'] as const) {
      const conn = await dial(address, { alpn: TEST_ALPN, transport });
      await echo(await conn.openStream(), Buffer.from('warm'));
      await conn.close();
    }
    await waitFor(() => listener.liveConnections() === 0, 10_000, 'warm-up connections gone');
    const before = openDescriptors();

    const hello = await captureClientHello();
    const loris = netConnect({ host: '127.0.0.1', port: listener.tcpPort });
    loris.on('error', () => {});
    let lorisSent = 0;
    const lorisClosed = new Promise<void>((r) => loris.once('close', () => r()));
    await new Promise<void>((r) => loris.once('connect', () => r()));
    // One byte every 100 ms: an inactivity timer would never fire; the whole hello would take ~30 s.
    const dribble = setInterval(() => {
      if (loris.destroyed || lorisSent >= hello.length) return;
      loris.write(hello.subarray(lorisSent, lorisSent + 1));
      lorisSent++;
    }, 100);
    const silent = await silentFlood(listener.tcpPort, SILENT);
    try {
      await waitFor(() => listener.liveConnections() >= SILENT + 1, 10_000, 'the server holds the flood');
      assert.ok(openDescriptors() >= before + SILENT, 'each silent socket holds a descriptor in the node');

      // Another client is served while the flood is there.
      for (const transport of ['tls', 'quic'] as const) {
        const conn = await dial(address, { alpn: TEST_ALPN, transport });
        assert.equal((await echo(await conn.openStream(), Buffer.from('served'))).toString(), 'served');
        await conn.close();
      }

      // The server closes every silent socket, and the dribbling one before its hello is complete.
      await within(Promise.all(silent.map((s) => s.closed)), 30_000, 'the server closes the silent sockets');
      await within(lorisClosed, 30_000, 'the server closes the dribbling socket');
      assert.ok(lorisSent < hello.length, `closed after ${lorisSent} of ${hello.length} ClientHello bytes`);
      await waitFor(() => listener.liveConnections() === 0, 10_000, 'nothing held by the listener');
      await waitFor(() => openDescriptors() <= before + 2, 10_000, `descriptors back to ${before} (now ${openDescriptors()})`);
      assert.ok(refusalTally(lines, REFUSAL.handshakeTimeout).logged >= 1, 'the deadline is logged');
    } finally {
      clearInterval(dribble);
      loris.destroy();
      for (const s of silent) s.socket.destroy();
    }
  } finally {
    await listener.close();
  }
});

test('the connection cap counts TLS and QUIC together; past it both are refused and logged; below it again, served', async () => {
  const { listener, lines } = await loggedListener({ maxConnections: 4, handshakeTimeoutMs: 60_000 });
  const address = `${listener.nodeId}@127.0.0.1:${listener.tcpPort}`;
  const held: Connection[] = [];
  const silent: { socket: Socket; closed: Promise<void> }[] = [];
  try {
    assert.equal(listener.maxConnections, 4);
    held.push(await dial(address, { alpn: TEST_ALPN, transport: 'quic' }), await dial(address, { alpn: TEST_ALPN, transport: 'quic' }));
    silent.push(await silentSocket(listener.tcpPort, '127.0.0.1'), await silentSocket(listener.tcpPort, '127.0.0.1'));
    await waitFor(() => listener.liveConnections() === 4, 10_000, 'two QUIC connections and two TCP handshakes held');

    await assert.rejects(dial(address, { alpn: TEST_ALPN, transport: 'tls', timeoutMs: 5_000 }));
    await assert.rejects(dial(address, { alpn: TEST_ALPN, transport: 'quic', timeoutMs: 1_500 }));
    const refusals = lines.filter((l) => l.fields.refusal === REFUSAL.connectionLimit && l.fields.suppressed === undefined);
    assert.ok(refusals.some((l) => l.fields.transport === 'tls'), 'the TLS refusal is logged');
    assert.ok(refusals.some((l) => l.fields.transport === 'quic'), 'the QUIC refusal is logged');
    assert.ok(refusals.every((l) => l.fields.maxConnections === 4));
    // The held connections still work.
    assert.equal((await echo(await held[0]!.openStream(), Buffer.from('held'))).toString(), 'held');

    // One handshake goes away: there is room for one more, on either transport.
    silent.shift()!.socket.destroy();
    await waitFor(() => listener.liveConnections() === 3, 10_000, 'the closed socket is no longer counted');
    const tls = await dial(address, { alpn: TEST_ALPN, transport: 'tls' });
    assert.equal((await echo(await tls.openStream(), Buffer.from('tls again'))).toString(), 'tls again');
    await tls.close();
    await waitFor(() => listener.liveConnections() === 3, 10_000, 'the TLS connection is gone');
    const quic = await dial(address, { alpn: TEST_ALPN, transport: 'quic' });
    assert.equal((await echo(await quic.openStream(), Buffer.from('quic again'))).toString(), 'quic again');
    held.push(quic);
  } finally {
    for (const s of silent) s.socket.destroy();
    await Promise.all(held.map((c) => c.close()));
    await listener.close();
  }
});

test('a flood of refusals is a few log lines per second and a suppressed count, not a line each', async () => {
  const FLOOD = 200;
  const { listener, lines } = await loggedListener({ perIp: 1, refusalLogsPerSecond: 3 });
  const address = `${listener.nodeId}@127.0.0.1:${listener.tcpPort}`;
  try {
    const first = await dial(address, { alpn: TEST_ALPN, transport: 'tls' });
    await waitFor(() => listener.liveConnections() === 1, 5000, 'first connection held');
    await Promise.all(Array.from({ length: FLOOD }, () => new Promise<void>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: listener.tcpPort });
      s.on('error', () => {});
      s.once('close', () => resolve());
    })));
    // Every refusal is accounted for, either as a line or in a later "suppressed" count.
    await waitFor(() => { const t = refusalTally(lines, REFUSAL.perIp); return t.logged + t.suppressed === FLOOD; },
      15_000, 'all refusals accounted for');
    const { logged, suppressed } = refusalTally(lines, REFUSAL.perIp);
    assert.ok(logged <= FLOOD / 4, `${logged} lines for ${FLOOD} refusals`);
    assert.ok(suppressed > 0);
    const line = lines.find((l) => l.fields.refusal === REFUSAL.perIp && l.fields.suppressed === undefined)!;
    assert.equal(line.fields.reason, REASON_TOO_MANY_FROM_IP);
    assert.equal(line.fields.remote, '127.0.0.1');
    await first.close();
  } finally {
    await listener.close();
  }
});

test('refusals are logged with their reason: unknown or missing ALPN, a non-Ed25519 client certificate, per-IP over QUIC; no secrets', async () => {
  const { listener, lines, keys } = await loggedListener({});
  const address = `${listener.nodeId}@127.0.0.1:${listener.tcpPort}`;
  const rsa = rsaCertificate();
  const lineOf = (kind: string, transport: string): LogLine | undefined =>
    lines.find((l) => l.fields.refusal === kind && l.fields.transport === transport);
  try {
    // Unknown ALPN, both transports.
    for (const transport of ['tls', 'quic'] as const) {
      await assert.rejects(dial(address, { alpn: 'alknet/nope', transport }), /refused ALPN/);
      await waitFor(() => lineOf(REFUSAL.unknownAlpn, transport) !== undefined, 5000, `${transport} unknown ALPN logged`);
    }
    assert.deepEqual(lineOf(REFUSAL.unknownAlpn, 'tls')!.fields.offered, ['alknet/nope']);

    // No ALPN at all (TLS): dropped after the handshake.
    const bare = tlsConnect({ host: '127.0.0.1', port: listener.tcpPort, rejectUnauthorized: false });
    bare.on('error', () => {});
    await within(new Promise((r) => bare.once('close', r)), 5000, 'no-ALPN client closed');
    assert.ok(lineOf(REFUSAL.noAlpn, 'tls'), 'no-ALPN refusal logged');

    // An RSA client certificate over TLS: an orderly close (close_notify, FIN), not a reset, even
    // though the client starts writing at once; and a line saying why.
    const rsaClient = tlsConnect({ host: '127.0.0.1', port: listener.tcpPort, rejectUnauthorized: false, ALPNProtocols: [TEST_ALPN],
      key: rsa.keyPem, cert: rsa.certPem });
    const errors: string[] = [];
    rsaClient.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
    rsaClient.once('secureConnect', () => rsaClient.write(Buffer.alloc(64 * 1024, 1)));
    let ended = false;
    rsaClient.once('end', () => { ended = true; });
    await within(new Promise((r) => rsaClient.once('close', r)), 5000, 'RSA client closed');
    assert.ok(ended, 'the server ended the TLS connection in order');
    assert.deepEqual(errors, [], 'no reset');
    assert.match(String(lineOf(REFUSAL.badCertificate, 'tls')?.fields.reason), /rsa, not Ed25519/);

    // The same certificate over QUIC: js-quic refuses it in its verify callback, with a TLS alert.
    const quicClient = await QUICClient.createQUICClient({
      host: '127.0.0.1', port: listener.quicPort, crypto: quicClientCrypto(), logger: quicLogger(undefined, 'rsa-client'),
      config: { key: rsa.keyPem, cert: rsa.certPem, verifyPeer: false, applicationProtos: [TEST_ALPN] },
    }).catch(() => undefined);
    await waitFor(() => lineOf(REFUSAL.badCertificate, 'quic') !== undefined, 5000, 'QUIC certificate refusal logged');
    assert.match(String(lineOf(REFUSAL.badCertificate, 'quic')!.fields.reason), /rsa, not Ed25519/);
    await quicClient?.destroy({ force: true }).catch(() => {});

    // Per-IP over QUIC (a listener of its own): the second connection from 127.0.0.1 is closed
    // with the reason, and logged.
    const strict = await loggedListener({ perIp: 1 });
    try {
      const strictAddress = `${strict.listener.nodeId}@127.0.0.1:${strict.listener.quicPort}`;
      const one = await dial(strictAddress, { alpn: TEST_ALPN, transport: 'quic' });
      const two = await dial(strictAddress, { alpn: TEST_ALPN, transport: 'quic' });
      assert.equal((await within(two.closed, 5000, 'second closed')).reason, REASON_TOO_MANY_FROM_IP);
      assert.ok(strict.lines.some((l) => l.fields.refusal === REFUSAL.perIp && l.fields.transport === 'quic'), 'per-IP refusal logged');
      lines.push(...strict.lines);
      await one.close();
    } finally {
      await strict.listener.close();
    }

    // Nothing secret in any line: not the node's key, not a client's.
    const text = JSON.stringify(lines);
    const serverKeyPem = makeCertificate(keys).keyPem;
    assert.ok(!text.includes('PRIVATE KEY'));
    assert.ok(!text.includes(Buffer.from(keys.privateKey).toString('hex')));
    assert.ok(!text.includes(Buffer.from(keys.privateKey).toString('base64')));
    assert.ok(!text.includes(serverKeyPem.split('\n')[1]!));
    assert.ok(!text.includes(rsa.keyPem.split('\n')[1]!));
  } finally {
    await listener.close();
  }
});

test('RefusalLog: at most N lines per kind per window, then one line with the suppressed count', () => {
  const { logger, lines } = captureLogger();
  let now = 1_000;
  const log = new RefusalLog(logger, { perWindow: 3, windowMs: 1000, now: () => now });
  try {
    for (let i = 0; i < 20; i++) log.refused('per-IP limit', { remote: `10.0.0.${i}` }, 'refused');
    log.refused('no ALPN', { remote: '10.0.0.1' }, 'refused');
    assert.equal(lines.length, 4, 'three of one kind, one of another: each kind has its own budget');
    assert.deepEqual(lines.slice(0, 3).map((l) => l.fields.remote), ['10.0.0.0', '10.0.0.1', '10.0.0.2']);
    now += 999;
    log.refused('per-IP limit', { remote: '10.0.0.99' }, 'refused');
    assert.equal(lines.length, 4, 'still the same window');
    now += 1;
    log.refused('per-IP limit', { remote: '10.0.0.100' }, 'refused');
    assert.deepEqual(lines.slice(4).map((l) => l.fields), [
      { refusal: 'per-IP limit', suppressed: 18 },
      { refusal: 'per-IP limit', remote: '10.0.0.100' },
    ]);
    for (let i = 0; i < 5; i++) log.refused('per-IP limit', {}, 'refused');
    log.close(); // reports what is still suppressed
    assert.deepEqual(lines.at(-1)!.fields, { refusal: 'per-IP limit', suppressed: 3 });
    assert.equal(lines.filter((l) => l.level === 'warn').length, lines.length);
  } finally {
    log.close();
  }
});

test('the default cap is derived from the open-file limit, with headroom', () => {
  const proc = (soft: string): string =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 1048576              files\n`;
  assert.equal(openFileLimit(proc('1024')), 1024);
  assert.equal(openFileLimit(proc('unlimited')), Infinity);
  assert.equal(openFileLimit('garbage'), null);
  assert.equal(defaultMaxConnections(1024), 768, '256 descriptors kept for the node');
  assert.equal(defaultMaxConnections(256), 128, 'a small limit: half of it');
  assert.equal(defaultMaxConnections(1_048_576), MAX_DERIVED_CONNECTIONS);
  assert.equal(defaultMaxConnections(Infinity), MAX_DERIVED_CONNECTIONS);
  assert.equal(defaultMaxConnections(null), FALLBACK_MAX_CONNECTIONS);
  const real = openFileLimit();
  assert.ok(real !== null && real > 0, 'this Linux process has a readable limit');
  assert.equal(defaultMaxConnections(), defaultMaxConnections(real));
});

/** Runs fdLimitFixture.ts under `ulimit -n 256`; resolves with its JSON lines as they come. */
function fixtureUnderFdLimit(env: Record<string, string>): { lines: Record<string, unknown>[]; ready: Promise<Record<string, unknown>>;
  stop(): Promise<number | null> } {
  const child = spawn('bash', ['-c', 'ulimit -n 256 && exec "$0" --import tsx test/listener/fdLimitFixture.ts', process.execPath], {
    env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      lines.push(line);
      if (line.ready === true) resolve(line);
    });
    void exited.then((code) => reject(new Error(`fixture exited (${code}) before it was ready`)));
  });
  return {
    lines,
    ready: within(ready, 30_000, 'fixture ready'),
    async stop() {
      child.stdin!.end();
      const code = await Promise.race([exited, new Promise<null>((r) => setTimeout(r, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      return code;
    },
  };
}

async function echoOnceOver(address: string): Promise<string> {
  // The node frees descriptors as it sees the closes: a few tries, bounded.
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const conn = await dial(address, { alpn: TEST_ALPN, transport: 'tls', timeoutMs: 3000 });
      const back = (await echo(await conn.openStream(), Buffer.from('alive'))).toString();
      await conn.close();
      return back;
    } catch (err) {
      lastError = err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw lastError;
}

test('out of descriptors: accept() failing with EMFILE is logged, and the node serves again once descriptors are free', async () => {
  // A cap above the descriptor limit, so the flood reaches accept()'s EMFILE.
  const fixture = fixtureUnderFdLimit({ MAX_CONNECTIONS: '100000' });
  const silent: { socket: Socket; closed: Promise<void> }[] = [];
  try {
    const ready = await fixture.ready;
    silent.push(...await silentFlood(Number(ready.port), 300));
    await waitFor(() => fixture.lines.some((l) => l.refusal === REFUSAL.acceptFailed), 15_000, 'EMFILE logged');
    const line = fixture.lines.find((l) => l.refusal === REFUSAL.acceptFailed)!;
    assert.equal(line.level, 'error');
    assert.match(String(line.code), /^E[MN]FILE$/);
    for (const s of silent) s.socket.destroy();
    assert.equal(await echoOnceOver(`${ready.nodeId}@127.0.0.1:${ready.port}`), 'alive');
  } finally {
    for (const s of silent) s.socket.destroy();
    assert.equal(await fixture.stop(), 0, 'the node was still running and closed cleanly');
  }
});

test('under a small descriptor limit the derived cap refuses before accept() runs out of descriptors', async () => {
  const fixture = fixtureUnderFdLimit({});
  const silent: { socket: Socket; closed: Promise<void> }[] = [];
  try {
    const ready = await fixture.ready;
    assert.equal(ready.maxConnections, 128, 'ulimit -n 256 leaves half for connections');
    silent.push(...await silentFlood(Number(ready.port), 300));
    const tally = (): number => fixture.lines.filter((l) => l.refusal === REFUSAL.connectionLimit)
      .reduce((n, l) => n + (typeof l.suppressed === 'number' ? l.suppressed : 1), 0);
    await waitFor(() => tally() === 300 - 128, 15_000, `all ${300 - 128} over the cap refused (now ${tally()})`);
    assert.ok(!fixture.lines.some((l) => l.refusal === REFUSAL.acceptFailed), 'accept() never ran out of descriptors');
    for (const s of silent) s.socket.destroy();
    assert.equal(await echoOnceOver(`${ready.nodeId}@127.0.0.1:${ready.port}`), 'alive');
  } finally {
    for (const s of silent) s.socket.destroy();
    assert.equal(await fixture.stop(), 0);
  }
});
