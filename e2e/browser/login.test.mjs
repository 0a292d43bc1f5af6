// The hosted login page flow in a real browser (issue 8, SPEC 12 and 13): Debian's Chromium,
// driven by playwright-core, runs auth0.js from its own dist/ file on a test login page served
// from a second loopback origin, against a running stack (the wasm host's local stack, or Envoy).
//
// Environment (the driver, go run ./e2e/cmd/browser, sets them all):
//   VERIFY_URL  the filter's base URL as the browser sees it; its host names the tenant
//               (host_suffix), e.g. http://acme.localhost:10000
//   STORE_URL   the user store's development surface (POST /passwordless/start)
//   OUTBOX      the store's code outbox file, where the test reads the code
//   MODE        respond or forward: the stack's on_success.mode
//   PAGE_PORT   port of the test login page on 127.0.0.1 (default 3000); its origin must be a
//               web origin and its /callback a callback of client acme-web
//   SHOTS_DIR   where screenshots go (default ../../build/browser)
//   CHROMIUM    the browser (default /usr/bin/chromium)
//   HOST_RESOLVER_RULES  optional Chromium --host-resolver-rules, to reach a stack whose tenant
//               host does not resolve to loopback (e.g. "MAP acme.auth.example.com 127.0.0.1")
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set (run the test through go run ./e2e/cmd/browser)`);
  return v;
};
const VERIFY_URL = env('VERIFY_URL');
const STORE_URL = env('STORE_URL');
const OUTBOX = env('OUTBOX');
const MODE = env('MODE');
const PAGE_PORT = Number(env('PAGE_PORT', '3000'));
const SHOTS_DIR = path.resolve(here, env('SHOTS_DIR', '../../build/browser'));
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

const TENANT = 'acme', CONNECTION = 'email', CLIENT = 'acme-web', EMAIL = 'demo@example.com';
const PAGE = `http://127.0.0.1:${PAGE_PORT}`; // a web origin of acme-web
const OTHER_PAGE = `http://localhost:${PAGE_PORT}`; // the same page on an origin that is not
const VERIFY_ORIGIN = new URL(VERIFY_URL).origin;

let server, browser;

before(async () => {
  const files = {
    '/login': [path.join(here, 'page/login.html'), 'text/html'],
    '/callback': [path.join(here, 'page/callback.html'), 'text/html'],
    '/auth0.min.js': [path.join(here, 'node_modules/auth0-js/dist/auth0.min.js'), 'text/javascript'],
  };
  server = http.createServer(async (req, res) => {
    const f = files[new URL(req.url, PAGE).pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': f[1], 'cache-control': 'no-store' }).end(await readFile(f[0]));
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(PAGE_PORT, '127.0.0.1', resolve));
  const args = ['--no-sandbox'];
  if (process.env.HOST_RESOLVER_RULES) args.push(`--host-resolver-rules=${process.env.HOST_RESOLVER_RULES}`);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  await mkdir(SHOTS_DIR, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

// newCode asks the store for a code and reads it from the outbox, as a user reads an email.
async function newCode() {
  const before = await readFile(OUTBOX, 'utf8').catch(() => '');
  const res = await fetch(`${STORE_URL}/passwordless/start`, {
    method: 'POST',
    body: JSON.stringify({ tenant: TENANT, connection: CONNECTION, username: EMAIL }),
  });
  assert.equal(res.status, 200, `passwordless/start: ${res.status} ${await res.text()}`);
  for (let i = 0; i < 50; i++) {
    const lines = (await readFile(OUTBOX, 'utf8')).slice(before.length).trim().split('\n').filter(Boolean);
    if (lines.length) return JSON.parse(lines.at(-1)).code;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no code in the outbox');
}

// openLogin opens the test login page on origin with the stack's URL and a state.
async function openLogin(origin, state) {
  const page = await browser.newPage();
  // Every answer from the filter's origin: method, url, status, lower-cased headers. Through
  // the DevTools protocol, since only it shows CORS preflights.
  const seen = [];
  const methods = new Map();
  const cdp = await page.context().newCDPSession(page);
  const record = (method, response) => {
    if (!response.url.startsWith(VERIFY_ORIGIN)) return;
    const headers = Object.fromEntries(Object.entries(response.headers).map(([k, v]) => [k.toLowerCase(), v]));
    seen.push({ method, url: response.url, status: response.status, headers });
  };
  cdp.on('Network.requestWillBeSent', (e) => {
    if (e.redirectResponse) record(methods.get(e.requestId), e.redirectResponse); // a 302 shows up here
    methods.set(e.requestId, e.request.method);
  });
  cdp.on('Network.responseReceived', (e) => record(e.type === 'Preflight' ? 'OPTIONS' : methods.get(e.requestId), e.response));
  await cdp.send('Network.enable');
  const q = new URLSearchParams({ domain: VERIFY_URL, client_id: CLIENT, state });
  await page.goto(`${origin}/login?${q}`);
  return { page, seen };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS_DIR, `${MODE}-${name}.png`), fullPage: true });
}

async function resultText(page) {
  await page.waitForFunction(() => document.getElementById('result').textContent !== '(nothing yet)', null, { timeout: 10000 });
  return page.textContent('#result');
}

test('(a) WebAuth.passwordlessVerify: the code typed in the page ends at the callback', async () => {
  const code = await newCode();
  const state = 'state-' + Math.random().toString(36).slice(2);
  const { page, seen } = await openLogin(PAGE, state);
  await page.fill('#code', code);
  await Promise.all([page.waitForURL(`${PAGE}/callback?**`, { timeout: 15000 }), page.click('#hosted')]);
  const params = new URL(page.url()).searchParams;
  await shot(page, 'hosted-login');
  assert.equal(params.get('state'), state, page.url());
  assert.equal(params.get('error'), null, page.url());
  if (MODE === 'respond') {
    assert.match(params.get('code') ?? '', /^[A-Z2-7]{16,}$/, 'redirect_params.code minted by the store');
  } else {
    assert.equal(params.get('upstream_user_id'), 'auth0|demo', 'the upstream saw the identity header');
    const upstreamPath = params.get('upstream_path');
    assert.match(upstreamPath, /^\/passwordless\/verify_redirect\?/);
    assert.ok(!upstreamPath.includes(code) && !/verification_code|[?&](otp|password)=/.test(upstreamPath), upstreamPath);
  }
  // The POST went cross-origin with its preflight; the redirect step was a navigation whose
  // URL (with the code) the filter answered or forwarded without the code.
  const preflight = seen.find((r) => r.method === 'OPTIONS');
  assert.equal(preflight?.status, 204);
  assert.equal(preflight.headers['access-control-allow-origin'], PAGE);
  const post = seen.find((r) => r.method === 'POST');
  assert.equal(post?.status, 200);
  assert.equal(post.headers['access-control-allow-origin'], PAGE);
  const redirect = seen.find((r) => r.method === 'GET' && r.url.includes('/passwordless/verify_redirect'));
  assert.equal(redirect?.status, 302);
  assert.equal(redirect.headers['access-control-allow-origin'], undefined, 'no CORS on the redirect step');
  await page.close();
});

test('(b) Authentication.passwordless.verify from another origin', async (t) => {
  await t.test('preflight and POST succeed with the CORS headers', async () => {
    const code = await newCode();
    const { page, seen } = await openLogin(PAGE, 's');
    await page.fill('#code', code);
    await page.click('#api');
    const text = await resultText(page);
    await shot(page, 'api-verified');
    assert.match(text, /^verified/, text);
    if (MODE === 'respond') {
      assert.match(text, /"userId": "auth0\|demo"/); // auth0.js camel-cases the answer
    } else {
      assert.match(text, /passwordless-?user-?id"?:\s*\[\s*"auth0\|demo"/i, 'the upstream echo shows the identity header');
      assert.ok(!text.includes(code), 'the upstream got the body without the code');
    }
    const preflight = seen.find((r) => r.method === 'OPTIONS');
    assert.equal(preflight?.status, 204);
    for (const [k, v] of Object.entries({
      'access-control-allow-origin': PAGE, 'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'content-type, auth0-client', 'access-control-max-age': '600',
    })) assert.equal(preflight.headers[k], v, k);
    const post = seen.find((r) => r.method === 'POST');
    assert.equal(post?.status, 200);
    assert.equal(post.headers['access-control-allow-origin'], PAGE);
    assert.match(post.headers.vary ?? '', /origin/i);
    await page.close();
  });

  await t.test('a wrong code shows the 401 in the page', async () => {
    await newCode();
    const { page } = await openLogin(PAGE, 's');
    await page.fill('#code', '000000x');
    await page.click('#api');
    const text = await resultText(page);
    await shot(page, 'api-wrong-code');
    assert.match(text, /^error/, text);
    assert.match(text, /"statusCode": 401/, text);
    assert.match(text, /"code": "invalid_user_password"/, text);
    assert.match(text, /Wrong email or password\./, text);
    await page.close();
  });

  await t.test('an origin not in web_origins is refused by the browser', async () => {
    const { page, seen } = await openLogin(OTHER_PAGE, 's');
    await page.fill('#code', '123456');
    await page.click('#api');
    const text = await resultText(page);
    await shot(page, 'api-origin-refused');
    assert.match(text, /^error/, text);
    assert.doesNotMatch(text, /"statusCode": (200|401)/, 'the page must not read any answer');
    const preflight = seen.find((r) => r.method === 'OPTIONS');
    assert.equal(preflight?.status, 403);
    assert.equal(preflight.headers['access-control-allow-origin'], undefined);
    assert.equal(seen.filter((r) => r.method === 'POST').length, 0, 'the browser sent no POST');
    await page.close();
  });
});
