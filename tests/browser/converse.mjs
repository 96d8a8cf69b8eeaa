// Converse.js in headless Chromium against `rhein serve --ephemeral`.
//
// Usage: node converse.mjs PATH/TO/rhein [ARTIFACT_DIR]
//
// The server's HTTPS listener takes port 443 of localhost, so Converse, knowing only the
// domain, discovers the WebSocket endpoint through https://localhost/.well-known/host-meta
// (it follows wss:// links only); Chromium accepts the ephemeral self-signed certificate.
// The page itself is served by Playwright from the npm package (https://localhost/webchat/). Two
// browser pages, alice and bob, log in over WebSocket, exchange messages, and chat in a
// room; a chat message retracted by its sender (XEP-0424) and a room message moderated by
// the room's owner (XEP-0425) show as removed. Screenshots go to ARTIFACT_DIR (default
// target/browser-artifacts).

import { check, startServer } from './common.mjs';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.argv[2];
const artifacts = process.argv[3] ?? join(here, '..', '..', 'target', 'browser-artifacts');
const dist = join(here, 'node_modules', 'converse.js', 'dist');
const TIMEOUT = 30_000;
mkdirSync(artifacts, { recursive: true });


const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg' };

function page(jid) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Rhein webchat test</title>
<link rel="stylesheet" href="/webchat/dist/converse.min.css"><script type="module" src="/webchat/dist/converse.min.js"></script></head>
<body class="converse-fullscreen"><script type="module">
converse.plugins.add('rhein-test', { initialize() { window.rheinTest = this._converse; } });
converse.initialize({
  assets_path: '/webchat/dist/',
  whitelisted_plugins: ['rhein-test'],
  view_mode: 'fullscreen',
  discover_connection_methods: true,
  auto_login: true,
  jid: '${jid}',
  password: 'secret',
  allow_non_roster_messaging: true,
  muc_instant_rooms: true,
  loglevel: '${process.env.CONVERSE_DEBUG ? 'debug' : 'warn'}',
  theme: 'concord',
});
</script></body></html>`;
}

async function open(browser, jid) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  // The page and Converse's files are served by Playwright under https://localhost/webchat/,
  // a loopback origin like the server's own endpoints (which Chromium then lets it reach).
  await context.route('https://localhost/webchat/**', async (route) => {
    const path = new URL(route.request().url()).pathname.slice('/webchat'.length);
    if (path === '/' || path === '/index.html') {
      return route.fulfill({ status: 200, contentType: 'text/html', body: page(jid) });
    }
    if (path.startsWith('/dist/')) {
      try {
        const body = readFileSync(join(dist, decodeURIComponent(path.slice('/dist/'.length))));
        return route.fulfill({ status: 200, contentType: TYPES[extname(path)] ?? 'application/octet-stream', body });
      } catch {
        return route.fulfill({ status: 404, body: '' });
      }
    }
    return route.fulfill({ status: 404, body: '' });
  });
  const p = await context.newPage();
  p.on('pageerror', (e) => console.log(`[${jid}] page error: ${e.message}`));
  if (process.env.CONVERSE_DEBUG) p.on('console', (m) => console.log(`[${jid}] ${m.type()}: ${m.text()}`));
  // Converse's own website's logos are not needed offline.
  await context.route('https://conversejs.org/**', (route) => route.fulfill({ status: 404, body: '' }));
  await p.goto('https://localhost/webchat/');
  await p.waitForFunction(() => window.rheinTest?.api?.connection?.connected?.(), null, { timeout: TIMEOUT });
  return p;
}

/** Evaluates `fn(arg)` in the page until it returns something truthy (Converse's API is
 *  asynchronous, which waitForFunction does not wait for). */
async function poll(p, fn, arg) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const value = await p.evaluate(fn, arg);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting in the page for ${fn}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Waits until `jid`'s chat (or room) in page `p` has a message with `body`. */
async function waitForMessage(p, kind, jid, body) {
  await poll(p, async ([kind, jid, body]) => {
    const api = window.rheinTest.api;
    const box = kind === 'room' ? await api.rooms.get(jid) : await api.chats.get(jid);
    return !!box && (box.messages?.models ?? []).some((m) => m.get('body') === body);
  }, [kind, jid, body]);
}

async function main() {
  check(binary, 'usage: node converse.mjs PATH/TO/rhein');
  const { child, ready } = await startServer(binary, ['--user', 'alice:secret', '--user', 'bob:secret', '--https', '127.0.0.1:443']);
  check(ready.https === '127.0.0.1:443', `the server listens for HTTPS on localhost:443 (${ready.https})`);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    // The page is fulfilled by Playwright, so Chromium cannot tell it comes from loopback
    // and would block its WebSocket to loopback as a local-network request.
    args: ['--ignore-certificate-errors', '--no-sandbox', '--disable-dev-shm-usage',
      '--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets'],
  });
  try {
    const alice = await open(browser, 'alice@localhost');
    check(true, 'alice logs in: Converse found wss://localhost/xmpp-websocket through host-meta');
    const bob = await open(browser, 'bob@localhost');
    check(true, 'bob logs in');

    await alice.evaluate(async () => {
      const chat = await window.rheinTest.api.chats.open('bob@localhost', {}, true);
      await chat.sendMessage({ body: 'Hello Bob, this is Alice in Converse.js' });
    });
    await waitForMessage(bob, 'chat', 'alice@localhost', 'Hello Bob, this is Alice in Converse.js');
    check(true, "bob's Converse shows alice's message");
    await bob.evaluate(async () => {
      const chat = await window.rheinTest.api.chats.open('alice@localhost', {}, true);
      await chat.sendMessage({ body: 'Hi Alice! Bob here, over WebSocket too.' });
    });
    await waitForMessage(alice, 'chat', 'bob@localhost', 'Hi Alice! Bob here, over WebSocket too.');
    check(true, "alice's Converse shows bob's answer");
    // A file: Converse finds upload.localhost in disco, gets a slot, PUTs, sends the link.
    await alice.evaluate(async () => {
      const chat = await window.rheinTest.api.chats.get('bob@localhost');
      const file = new File(['Notes from the sprint, uploaded through Rhein.'], 'sprint-notes.txt', { type: 'text/plain' });
      await chat.sendFiles([file]);
    });
    const url = await poll(bob, async () => {
      const chat = await window.rheinTest.api.chats.get('alice@localhost');
      const m = (chat?.messages?.models ?? []).find((m) => (m.get('oob_url') || m.get('body') || '').includes('/upload/'));
      return m ? (m.get('oob_url') || m.get('body')) : null;
    });
    check(url.includes('sprint-notes.txt'), `bob receives the uploaded file's link (${url})`);
    const fetched = await bob.evaluate(async (url) => (await fetch(url)).text(), url);
    check(fetched === 'Notes from the sprint, uploaded through Rhein.', 'the link serves the file');
    await alice.getByText('Hi Alice! Bob here').first().waitFor({ timeout: TIMEOUT });
    await alice.screenshot({ path: join(artifacts, 'converse-alice-chat.png') });
    await bob.getByText('Hello Bob, this is Alice').first().waitFor({ timeout: TIMEOUT });
    await bob.screenshot({ path: join(artifacts, 'converse-bob-chat.png') });
    check(true, 'the conversation is on screen (screenshots saved)');

    // XEP-0424: alice retracts a message of hers; bob's Converse shows it removed.
    const doomed = 'This message was sent to the wrong person';
    await alice.evaluate(async (body) => {
      const chat = await window.rheinTest.api.chats.get('bob@localhost');
      await chat.sendMessage({ body });
    }, doomed);
    await waitForMessage(bob, 'chat', 'alice@localhost', doomed);
    await alice.evaluate(async (body) => {
      const chat = await window.rheinTest.api.chats.get('bob@localhost');
      chat.retractOwnMessage(chat.messages.models.find((m) => m.get('body') === body));
    }, doomed);
    await poll(bob, async (body) => {
      const chat = await window.rheinTest.api.chats.get('alice@localhost');
      return chat.messages.models.some((m) => m.get('body') === body && m.isRetracted());
    }, doomed);
    await bob.locator('.chat-msg--retracted').filter({ hasText: 'has removed a message' }).first().waitFor({ timeout: TIMEOUT });
    check(await bob.getByText(doomed).count() === 0, "alice retracts a message: bob's Converse shows it removed, without its text");
    await bob.screenshot({ path: join(artifacts, 'converse-bob-retracted.png') });

    const room = 'sprint@conference.localhost';
    await alice.evaluate(async (room) => { await window.rheinTest.api.rooms.open(room, { nick: 'alice' }, true); }, room);
    await poll(alice, async (room) => (await window.rheinTest.api.rooms.get(room))?.isEntered?.(), room);
    check(true, 'alice creates and enters a room');
    await bob.evaluate(async (room) => { await window.rheinTest.api.rooms.open(room, { nick: 'bob' }, true); }, room);
    await poll(bob, async (room) => (await window.rheinTest.api.rooms.get(room))?.isEntered?.(), room);
    check(true, 'bob joins the room');
    await alice.evaluate(async (room) => {
      const muc = await window.rheinTest.api.rooms.get(room);
      await muc.sendMessage({ body: 'Welcome to the sprint room!' });
    }, room);
    await waitForMessage(bob, 'room', room, 'Welcome to the sprint room!');
    check(true, "bob sees alice's group message");
    await bob.getByText('Welcome to the sprint room!').first().waitFor({ timeout: TIMEOUT });
    await bob.screenshot({ path: join(artifacts, 'converse-bob-room.png') });

    // XEP-0425: alice, the room's owner, moderates bob's message with a reason.
    const spam = 'Cheap magic potions, DM me!';
    await bob.evaluate(async ([room, body]) => {
      const muc = await window.rheinTest.api.rooms.get(room);
      await muc.sendMessage({ body });
    }, [room, spam]);
    const moderated = await poll(alice, async ([room, body]) => {
      const muc = await window.rheinTest.api.rooms.get(room);
      const m = muc.messages.models.find((m) => m.get('body') === body && m.get(`stanza_id ${room}`));
      if (!m) return null;
      const answer = await muc.retractOtherMessage(m, 'Spam');
      return answer?.getAttribute?.('type') ?? 'no answer';
    }, [room, spam]);
    check(moderated === 'result', `alice moderates bob's room message (the room answers ${moderated})`);
    await poll(bob, async ([room, body]) => {
      const muc = await window.rheinTest.api.rooms.get(room);
      return muc.messages.models.some((m) => m.get('body') === body && m.get('moderated') === 'retracted');
    }, [room, spam]);
    const removed = bob.locator('.chat-msg--retracted').filter({ hasText: 'has removed a message' }).first();
    await removed.waitFor({ timeout: TIMEOUT });
    const reason = await removed.locator('.chat-msg--retracted__reason').textContent();
    check(reason === 'Spam' && await bob.getByText(spam).count() === 0,
      "bob's Converse shows the moderated message removed, with the reason and without its text");
    await bob.screenshot({ path: join(artifacts, 'converse-bob-moderated.png') });
  } finally {
    await browser.close();
    child.kill('SIGTERM');
  }
  console.log('converse: all checks passed');
}

main().then(() => process.exit(0), (e) => { console.log(e.message ?? e); process.exit(1); });
