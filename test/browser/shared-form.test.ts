// The example page in real Chromium against a real broker process: one window logs in and edits, the
// other follows live; the broker restarts on the same port and database while both keep editing, and
// both windows end with every event of the tenant exactly once.
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveExample } from '../../examples/static-server.mjs';
import { ADMIN, freePort, spawnBroker, tempDir, type ChildBroker } from '../helpers/broker.js';
import { makeUser } from '../helpers/http.js';
import { IN_CI } from '../tls/system-binary.js';

// Debian's chromium (CI installs it). The override exists to prove the CI rule below with a missing path.
const CHROMIUM = process.env.BROKER_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const PASSWORD = 'correct horse battery staple';
if (!HAVE_CHROMIUM && !IN_CI)
  console.warn(
    `browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium); under CI (CI=true, CI=1, ` +
      `...) it fails instead`,
  );

interface PageState {
  acked: number[];
  received: number[];
  failedInserts: number;
}

const stateOf = (page: Page) =>
  page.evaluate(() => {
    const s = (window as unknown as { brokerExample: PageState }).brokerExample;
    return { acked: [...s.acked], received: [...s.received], failedInserts: s.failedInserts };
  });

const fieldsOf = (page: Page) =>
  page.evaluate(() => {
    const form = document.querySelector('#shared-form') as HTMLFormElement;
    const value = (n: string) => (form.elements.namedItem(n) as HTMLInputElement).value;
    return { title: value('title'), status: value('status'), notes: value('notes') };
  });

async function signIn(page: Page, url: string, username: string): Promise<void> {
  await page.goto(url);
  await page.fill('#login input[name=username]', username);
  await page.fill('#login input[name=password]', PASSWORD);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#status.live', { timeout: 15_000 });
  // Signed in: the login form gives way to the shared form.
  expect(await page.isVisible('#login')).toBe(false);
  expect(await page.isVisible('#shared-form')).toBe(true);
}

/** An element's screenshot as decoded pixels (no caret or focus ring: nothing is focused). */
async function pixels(page: Page, selector: string): Promise<PNG> {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  return PNG.sync.read(await page.locator(selector).screenshot({ animations: 'disabled' }));
}

/**
 * Pixels that differ visibly between two screenshots of the form. Anti-aliased rounded corners come
 * out a shade or two apart between windows (compositing), so a channel must differ by more than
 * `tolerance` out of 255; text, dark on white, differs by far more.
 */
function differingPixels(a: PNG, b: PNG, tolerance = 24): number {
  if (a.width !== b.width || a.height !== b.height) return Infinity;
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (
      Math.abs(a.data[i] - b.data[i]) > tolerance ||
      Math.abs(a.data[i + 1] - b.data[i + 1]) > tolerance ||
      Math.abs(a.data[i + 2] - b.data[i + 2]) > tolerance
    )
      n++;
  }
  return n;
}

describe.skipIf(!HAVE_CHROMIUM && !IN_CI)('the example page in Chromium', () => {
  let dir: string;
  let profile: string;
  let port: number;
  let broker: ChildBroker | undefined;
  let site: { url: string; close(): Promise<void> };
  let context: BrowserContext;
  const pageErrors: string[] = [];
  const args = () => [
    '--port',
    String(port),
    '--db',
    join(dir, 'db'),
    '--admin_token',
    ADMIN,
    '--log_level',
    'info',
    '--origin',
    site.url,
  ];

  beforeAll(async () => {
    // Under CI the browser is part of the environment: missing it is a failure, never a skip.
    if (!HAVE_CHROMIUM) throw new Error(`CI=${process.env.CI} but ${CHROMIUM} is missing: install Debian's chromium`);
    dir = tempDir('broker-browser-');
    profile = tempDir('broker-chromium-');
    port = await freePort();
    site = await serveExample({ brokerUrl: `http://127.0.0.1:${port}` });
    broker = await spawnBroker(args());
    for (const username of ['alice', 'bob'])
      await makeUser(broker.url, { username, password: PASSWORD, tenant_name: 'demo' });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--headless',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-quic',
        '--no-first-run',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 900, height: 1000 },
    });
    context.on('page', (page) => page.on('pageerror', (err) => pageErrors.push(err.message)));
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await broker?.kill();
    await site?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('two windows edit one form live, and both keep every event once across a broker restart', async () => {
    const alice = await context.newPage();
    const bob = await context.newPage();
    await signIn(alice, site.url, 'alice');
    await signIn(bob, site.url, 'bob');
    const before = await pixels(bob, '#shared-form');

    // Alice inserts; Bob's window receives it live.
    await alice.fill('#shared-form input[name=title]', 'Quarterly report ✓');
    await expect
      .poll(() => bob.inputValue('#shared-form input[name=title]'), { timeout: 10_000 })
      .toBe('Quarterly report ✓');
    await expect.poll(() => bob.textContent('[data-by=title]')).toBe('last edited by alice');

    // Both keep editing while the broker stops and starts again on the same port and database.
    let restarted: Promise<void> | undefined;
    const statuses = ['review', 'published', 'draft', 'review'];
    let lastStatus = 'draft';
    for (let i = 0; i < 24; i++) {
      await alice.fill('#shared-form textarea[name=notes]', `Line ${i}: numbers go up`);
      if (i % 6 === 5) {
        lastStatus = statuses[(i - 5) / 6];
        await bob.selectOption('#shared-form select[name=status]', lastStatus);
      }
      if (i === 8) {
        restarted = (async () => {
          await broker!.kill('SIGTERM');
          broker = await spawnBroker(args());
        })();
      }
      await new Promise((r) => setTimeout(r, 120));
    }
    await restarted;
    const expected = { title: 'Quarterly report ✓', status: lastStatus, notes: 'Line 23: numbers go up' };

    // Converged: both windows show the final values and are live again.
    for (const page of [alice, bob]) {
      await expect.poll(() => fieldsOf(page), { timeout: 20_000 }).toEqual(expected);
      await page.waitForSelector('#status.live', { timeout: 20_000 });
    }

    // The tenant's whole history, from the broker itself.
    const reader = await makeUser(broker!.url, { tenant_name: 'demo' });
    const history = async () => {
      const res = await fetch(`${broker!.url}/events?after=0&limit=1000`, {
        headers: { authorization: `Bearer ${reader.jwt}` },
      });
      return ((await res.json()) as { events: Array<{ id: number; event: string; data: { value: string } }> }).events;
    };
    const events = await history();
    const allIds = events.map((e) => e.id);
    expect(allIds.length).toBeGreaterThan(5);
    // Both windows: every event of the tenant, in order, none twice (they connected before the first).
    for (const page of [alice, bob]) {
      await expect.poll(async () => (await stateOf(page)).received, { timeout: 20_000 }).toEqual(allIds);
      const shown = await page.$$eval('#activity li[data-id]', (items) =>
        items.map((li) => Number((li as HTMLElement).dataset.id)),
      );
      expect(shown).toEqual(allIds);
    }
    const a = await stateOf(alice);
    const b = await stateOf(bob);
    // The outage was real: some of Alice's inserts failed and were retried until saved.
    expect(a.failedInserts).toBeGreaterThan(0);
    // Every insert a window saw acknowledged is in the history, once.
    const acked = [...a.acked, ...b.acked];
    expect(new Set(acked).size).toBe(acked.length);
    for (const id of acked) expect(allIds).toContain(id);
    // The history's latest value of each field is what both windows show.
    const latest = (name: string) => events.filter((e) => e.event === `form.${name}`).at(-1)!.data.value;
    expect({ title: latest('title'), status: latest('status'), notes: latest('notes') }).toEqual(expected);

    // The screenshot: Bob's form renders exactly what Alice's renders, and not what it showed before.
    const bobShot = await pixels(bob, '#shared-form');
    const aliceShot = await pixels(alice, '#shared-form');
    expect(differingPixels(bobShot, aliceShot)).toBe(0);
    // Three fields of text appeared: thousands of pixels, where one wrong character would be dozens.
    expect(differingPixels(bobShot, before)).toBeGreaterThan(1000);
    const full = join(process.env.BROWSER_SCREENSHOT_DIR ?? dir, 'shared-form-bob.png');
    writeFileSync(full, await bob.screenshot({ fullPage: true }));
    expect(PNG.sync.read(await bob.screenshot()).width).toBe(900);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
