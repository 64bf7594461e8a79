// Test harness: a fresh `rsvault serve --demo` on a free port, the system's
// Chromium through playwright-core with a fresh profile, screenshots, and
// waiting helpers (conditions, never fixed sleeps).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const artifacts = path.join(here, 'artifacts');

export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export function rsvaultBin() {
  if (process.env.RSVAULT_BIN) return process.env.RSVAULT_BIN;
  const target = process.env.CARGO_TARGET_DIR || path.join(repoRoot, 'target');
  return path.join(target, 'debug', 'rsvault');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function until(what, f, timeoutMs = 30000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Starts `rsvault serve --demo` with a fresh data directory; `args` are
 * more arguments of `serve`, `config` the text of its config file.
 */
export async function startServer({ args = [], config = null } = {}) {
  const bin = rsvaultBin();
  if (!fs.existsSync(bin)) throw new Error(`no rsvault binary at ${bin}: build it (cargo build -p rsvault) or set RSVAULT_BIN`);
  if (!process.env.RSVAULT_TLS_CERT || !process.env.NODE_EXTRA_CA_CERTS) {
    throw new Error('the test servers speak HTTPS: run through scripts/test.sh, or make a test CA with scripts/test-tls.sh DIR '
      + 'and set RSVAULT_TLS_CERT=DIR/server.crt RSVAULT_TLS_KEY=DIR/server.key NODE_EXTRA_CA_CERTS=DIR/ca.crt');
  }
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rsvault-portal-'));
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  // The portal under test is the one embedded in the binary (what ships);
  // RSVAULT_PORTAL_DIR in the environment reads it from disk instead.
  const env = { ...process.env };
  const extra = [...args];
  if (config) {
    const file = path.join(dataDir, 'rsvault.toml');
    fs.writeFileSync(file, config, { mode: 0o600 });
    extra.push('--config', file);
  }
  const proc = spawn(bin, ['serve', '--demo', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout.on('data', (d) => { log += d; });
  proc.stderr.on('data', (d) => { log += d; });
  let exited = null;
  proc.on('exit', (code) => { exited = code; });
  await until('rsvault serve to answer /healthz', async () => {
    if (exited !== null) throw new Error(`rsvault serve exited (${exited}):\n${log}`);
    try {
      return (await fetch(`${url}/healthz`)).ok;
    } catch {
      return false;
    }
  }, 60000);
  // The host Owner's credential, and an access token for it from the
  // server's token endpoint (as a client logs in).
  const owner = JSON.parse(fs.readFileSync(path.join(dataDir, 'identity', 'owner.json'), 'utf8'));
  const login = await fetch(`${url}/${owner.tenant}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: owner.appId, client_secret: owner.password, scope: 'https://management.azure.com/.default' }),
  });
  if (!login.ok) throw new Error(`log in as the host Owner: ${login.status} ${await login.text()}`);
  const token = (await login.json()).access_token;
  return {
    url,
    token,
    owner,
    dataDir,
    log: () => log,
    async stop() {
      if (exited === null) {
        proc.kill('SIGTERM');
        await until('rsvault serve to exit', () => exited !== null, 20000);
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
      return exited;
    },
  };
}

/** A browser context with its own fresh profile, in a locale. */
export async function openBrowser(locale) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rsvault-portal-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    // The server's certificate is a test CA's (scripts/test-tls.sh), which
    // node trusts through NODE_EXTRA_CA_CERTS; Chromium is told to accept it.
    ignoreHTTPSErrors: true,
    locale,
    timezoneId: locale.startsWith('ja') ? 'Asia/Tokyo' : 'UTC',
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(20000);
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  let closed = false;
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    // Chromium logs every 4xx answer; those the tests provoke on purpose (the
    // sign-in probe's 401, refused requests shown inline: 400, 409) are fine.
    if (m.type() === 'error' && !/status of (400|401|409) /.test(m.text())) errors.push(m.text());
  });
  return {
    context,
    page,
    errors,
    async close() {
      if (closed) return;
      closed = true;
      let timer;
      await Promise.race([context.close(), new Promise((r) => { timer = setTimeout(r, 15000); })]);
      clearTimeout(timer);
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Screenshots numbered per language: artifacts/<lang>/<NN>-<step>.png */
export function screenshots(lang) {
  const dir = path.join(artifacts, lang);
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  return async (page, step) => {
    n += 1;
    const file = path.join(dir, `${String(n).padStart(2, '0')}-${step}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  };
}

/** Fills a message's {placeholders}. */
export function fill(s, vars) {
  return s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] !== undefined ? String(vars[k]) : m));
}

/**
 * Terms a Japanese page keeps in English, as Azure's Japanese portal does:
 * product and service names, commands a user types.
 */
const KEPT_IN_ENGLISH = [
  'Recovery Services', 'Azure Backup', 'Azure VM', 'SQL Server', 'QEMU VM', 'libvirt XML', 'ARM ID',
  // role names
  'Backup MUA Operator', 'Backup Contributor', 'Backup Operator', 'Backup Reader',
  // commands
  'systemctl status rsvault-agent', 'rsvault ad user create', 'rsvault ad sp create-for-rbac', 'rsvault ad sp create',
  'rsvault serve', 'rsvault agent',
];

/**
 * English phrases (two or more English words in a row) a page shows:
 * its text, labels and placeholders, outside code, monospaced values
 * (names, identifiers, paths), elements marked lang="en" (the language
 * switch) and the server's own words, which the page marks as English.
 * Single words pass: names and identifiers (web-01, DefaultPolicy, LRS).
 */
export async function englishPhrases(page) {
  const texts = await page.evaluate(() => {
    const out = [];
    const skip = (el) => !el || el.closest('script, style, code, textarea, .mono, [lang="en"], [hidden]');
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (skip(el) || !el.getClientRects().length) continue;
      out.push(n.textContent);
    }
    for (const el of document.querySelectorAll('[aria-label], [placeholder], [title]')) {
      if (skip(el)) continue;
      for (const a of ['aria-label', 'placeholder', 'title']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
    }
    return out;
  });
  const found = new Set();
  for (const raw of texts) {
    for (const x of englishIn(raw)) found.add(`${x}  ⟵  ${raw.trim().slice(0, 120)}`);
  }
  return [...found];
}

/**
 * The English phrases of one Japanese text (two or more English words in a
 * row, outside the terms kept in English and {placeholders}); none in the
 * server's own words, which the portal marks as English.
 */
export function englishIn(raw) {
  if (raw.includes('(英語)')) return [];
  let s = raw.replace(/\{\w+\}/g, ' ');
  for (const k of KEPT_IN_ENGLISH) s = s.split(k).join(' ');
  return s.match(/[A-Za-z][A-Za-z'’]+(?:[ ,]+[A-Za-z][A-Za-z'’]+)+/g) || [];
}
