// Invitations in headless Chromium against `rhein serve --ephemeral --invite alice`, with the
// server's own webchat (Converse.js from this directory's npm packages at /webchat/).
//
// Usage: node invite.mjs PATH/TO/rhein [ARTIFACT_DIR]
//
// A newcomer opens alice's invitation link, reads the page as a person would (screenshot),
// creates an account with its form, follows "Chat in your browser" to the webchat, logs in
// and finds alice in the roster. Then the newcomer opens a room's page, follows "Join in your
// browser" and lands in the room. alice and her room are made with xmpp.js. Screenshots go to
// ARTIFACT_DIR (default target/browser-artifacts).

import { check, startServer } from './common.mjs';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { client, xml } from '@xmpp/client';

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.argv[2];
const artifacts = process.argv[3] ?? join(here, '..', '..', 'target', 'browser-artifacts');
const webchat = join(here, 'node_modules', 'converse.js');
const TIMEOUT = 30_000;
const ROOM = 'tea@conference.localhost';
const PASSWORD = 'a long password';
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
mkdirSync(artifacts, { recursive: true });


/** alice, over TCP with xmpp.js, makes a public room with a name and a description, and stays
 *  in it. */
async function aliceMakesTheRoom(c2s) {
  const xmpp = client({ service: `xmpp://${c2s}`, domain: 'localhost', username: 'alice', password: PASSWORD,
    resource: 'host', timeout: TIMEOUT });
  xmpp.on('error', (e) => console.log(`alice: ${e.message}`));
  await xmpp.start();
  const entered = new Promise((resolve) => xmpp.on('stanza', (s) => {
    if (s.is('presence') && s.attrs.from === `${ROOM}/alice`) resolve();
  }));
  await xmpp.send(xml('presence', { to: `${ROOM}/alice` }, xml('x', { xmlns: 'http://jabber.org/protocol/muc' })));
  await entered;
  const field = (v, value) => xml('field', { var: v }, xml('value', {}, value));
  await xmpp.iqCaller.set(xml('query', { xmlns: 'http://jabber.org/protocol/muc#owner' },
    xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      field('FORM_TYPE', 'http://jabber.org/protocol/muc#roomconfig'),
      field('muc#roomconfig_roomname', 'Tea time'),
      field('muc#roomconfig_roomdesc', 'Tea, biscuits and XMPP'),
      field('muc#roomconfig_persistentroom', '1'),
      field('muc#roomconfig_publicroom', '1'))), ROOM);
  return xmpp;
}

/** Logs in to the webchat page `p` shows (Converse's login form; the domain is locked), unless
 *  Converse resumes the session another page of the browser has open: its login form may show
 *  for a moment before that, so the form is filled only while it stays. */
async function webchatLogin(p, user) {
  const form = p.locator('#converse-login-jid');
  const session = p.locator('converse-roster');
  const deadline = Date.now() + TIMEOUT;
  while (Date.now() < deadline) {
    if (await session.count() > 0) return;
    if (await form.isVisible()) {
      try {
        await form.fill(user, { timeout: 2_000 });
        await p.locator('#converse-login-password').fill(PASSWORD, { timeout: 2_000 });
        await p.getByRole('button', { name: 'Log in' }).click({ timeout: 2_000 });
        return;
      } catch {
        // The form went away: the session was resumed meanwhile.
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('neither the webchat login form nor a session appeared');
}

async function main() {
  check(binary, 'usage: node invite.mjs PATH/TO/rhein');
  // HTTPS on localhost:443, so pages and the webchat share the origin the invitation names.
  const { child, ready } = await startServer(binary, ['--user', `alice:${PASSWORD}`, '--https', '127.0.0.1:443',
    '--invite', 'alice', '--webchat-dir', webchat]);
  const landing = ready.invite?.landing;
  check(landing?.startsWith('https://localhost:443/invite/'), `the ready line has an invitation (${landing})`);
  const alice = await aliceMakesTheRoom(ready.c2s);
  check(true, 'alice (xmpp.js) makes the room Tea time');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--ignore-certificate-errors', '--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 420, height: 900 } });
    await context.route('https://conversejs.org/**', (route) => route.fulfill({ status: 404, body: '' }));
    const p = await context.newPage();
    p.on('pageerror', (e) => console.log(`page error: ${e.message}`));

    await p.goto(landing);
    await p.getByRole('heading', { name: 'alice@localhost invites you to chat' }).waitFor({ timeout: TIMEOUT });
    check(await p.locator('.qr svg').count() === 1, 'the invitation page shows who invites, and a QR code');
    check(await p.getByRole('link', { name: 'Conversations' }).count() === 1, 'it recommends apps');
    await p.screenshot({ path: join(artifacts, 'invite-page.png'), fullPage: true });

    await p.getByLabel('Username').fill('carol');
    await p.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await p.getByLabel('Password again').fill(PASSWORD);
    await p.getByRole('button', { name: 'Create my account' }).click();
    await p.getByText('carol@localhost').waitFor({ timeout: TIMEOUT });
    check(await p.getByText('alice@localhost is in your contacts already.').count() === 1, 'the form creates carol@localhost, alice\'s contact');
    await p.screenshot({ path: join(artifacts, 'invite-welcome.png'), fullPage: true });

    await p.setViewportSize({ width: 1280, height: 800 });
    await p.getByRole('link', { name: 'Chat in your browser' }).click();
    await webchatLogin(p, 'carol');
    await p.locator('converse-roster').getByText('alice', { exact: false }).first().waitFor({ timeout: TIMEOUT });
    check(true, 'in the webchat (Converse.js at /webchat/), carol sees alice in her roster');
    await p.screenshot({ path: join(artifacts, 'invite-webchat-roster.png') });

    const room = await context.newPage();
    await room.goto(`https://localhost/join/${ROOM}`);
    await room.getByRole('heading', { name: 'Join the room Tea time' }).waitFor({ timeout: TIMEOUT });
    check(await room.getByText('Tea, biscuits and XMPP').count() === 1, 'the room page shows the room\'s name and description');
    await room.screenshot({ path: join(artifacts, 'invite-room-page.png'), fullPage: true });
    await room.setViewportSize({ width: 1280, height: 800 });
    await room.getByRole('link', { name: 'Join in your browser' }).click();
    await webchatLogin(room, 'carol');
    // Entered (the nickname comes from the JID): the room's message box is there to type in.
    await room.locator('.chat-textarea').first().waitFor({ timeout: TIMEOUT });
    check(await room.getByText('Tea time').count() > 0, 'the webchat shows the room');
    check(true, 'following "Join in your browser", carol lands in the room');
    await room.screenshot({ path: join(artifacts, 'invite-webchat-room.png') });
  } catch (e) {
    for (const [i, page] of browser.contexts().flatMap((c) => c.pages()).entries()) {
      await page.screenshot({ path: join(artifacts, `invite-failure-${i}.png`) }).catch(() => {});
    }
    throw e;
  } finally {
    await browser.close();
    await alice.stop().catch(() => {});
    child.kill('SIGTERM');
  }
  console.log('invite: all checks passed');
}

main().then(() => process.exit(0), (e) => { console.log(e.message ?? e); process.exit(1); });
