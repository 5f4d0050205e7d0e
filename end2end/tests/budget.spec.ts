import { APIRequestContext, Browser, expect, test } from '@playwright/test';
import { ADMIN, signIn } from './helpers';

// What a browser with an empty cache downloads of the bundle to open each page directly: the
// WASM files it fetched, counted at their gzip size (the budget is in gzipped bytes;
// browsers that take brotli get less). A size check, not a timing.
//
// Issue 25 asks for ≤ 250 KB on the first pages a person opens and ≤ 350 KB on any page. The
// bundle is split by route (app/src/routes.rs): about 410 KB for the first pages (the main
// module alone), up to about 640 KB for the others (main and their chunks) — see
// docs/webhooks.md, "The browser bundle". Until the budgets are met, the test holds the line
// where it is — the first pages may not download more than FIRST_PAGE_CEILING, no page more than
// PAGE_CEILING, and the first pages no more than one file — and reports each page against the
// issue's budgets.
const FIRST_PAGE_CEILING = 440 * 1024;
const PAGE_CEILING = 680 * 1024;
const FIRST_PAGE_BUDGET = 250 * 1024;
const PAGE_BUDGET = 350 * 1024;

// The first pages: the sign-in page (a new visitor's), the home page and the overview of
// webhook subscriptions (a signed-in person's).
const FIRST_PAGES = ['/sign-in', '/', '/subscriptions'];
const OTHER_PAGES = ['/devices', '/subscriptions/new', '/admin', '/admin/audit', '/users', '/api-tokens', '/api'];

async function gzipBytes(request: APIRequestContext, url: string): Promise<number> {
  const res = await request.head(url, { headers: { 'Accept-Encoding': 'gzip' } });
  expect(res.status(), url).toBe(200);
  const length = Number(res.headers()['content-length']);
  expect(length, `${url} has a length`).toBeGreaterThan(0);
  return length;
}

/** Opens `path` in a fresh browser context (nothing cached) and returns the WASM it fetched. */
async function wasmFor(browser: Browser, path: string, cookies: Awaited<ReturnType<typeof signedInCookies>>) {
  const context = await browser.newContext();
  if (path !== '/sign-in') await context.addCookies(cookies);
  const page = await context.newPage();
  const wasm = new Set<string>();
  page.on('response', (res) => {
    if (new URL(res.url()).pathname.endsWith('.wasm')) wasm.add(res.url());
  });
  await page.goto(path);
  // Hydrated: the page's controls are enabled only once all of its code has run.
  const control = path === '/sign-in' ? page.getByRole('button', { name: 'Sign in' }) : page.getByRole('button', { name: 'Sign out' });
  await expect(control).toBeEnabled();
  await page.waitForLoadState('networkidle');
  await context.close();
  return [...wasm];
}

async function signedInCookies(browser: Browser) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, ADMIN);
  const cookies = await context.cookies();
  await context.close();
  return cookies;
}

test('no page downloads more of the bundle than its ceiling; each is reported against its budget', async ({ browser, request }) => {
  test.setTimeout(120_000);
  const cookies = await signedInCookies(browser);
  const report: string[] = [];
  const over: string[] = [];
  for (const path of [...FIRST_PAGES, ...OTHER_PAGES]) {
    const files = await wasmFor(browser, path, cookies);
    expect(files.length, `${path} loads WASM`).toBeGreaterThan(0);
    let total = 0;
    for (const file of files) total += await gzipBytes(request, file);
    const first = FIRST_PAGES.includes(path);
    const budget = first ? FIRST_PAGE_BUDGET : PAGE_BUDGET;
    const ceiling = first ? FIRST_PAGE_CEILING : PAGE_CEILING;
    const verdict = total > budget ? 'over' : 'within';
    report.push(
      `${path}: ${(total / 1024).toFixed(1)} KB gzip in ${files.length} files (ceiling ${ceiling / 1024} KB; ${verdict} the issue's ${budget / 1024} KB)`,
    );
    if (total > ceiling || (first && files.length > 1)) over.push(path);
  }
  console.log(report.join('\n'));
  expect(over, report.join('\n')).toEqual([]);
});
