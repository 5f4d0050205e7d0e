// Time to interactive, measured from outside (issue 25): from navigation start to the first
// enabled control of a page, in this machine's Chromium with the CPU slowed 4× through the
// Chrome DevTools protocol. Each page is opened cold (the browser's cache emptied first, as on a
// first visit) and warm (cached, as on the next one). Reported, never asserted.
//
//   node measure/interactive.mjs http://127.0.0.1:3000 [runs]
import { chromium } from '@playwright/test';

const base = process.argv[2] ?? 'http://127.0.0.1:3000';
const runs = Number(process.argv[3] ?? 5);
const pages = ['/', '/subscriptions', '/devices'];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const context = await browser.newContext();
const page = await context.newPage();
await page.goto(`${base}/sign-in`);
const submit = page.getByRole('button', { name: 'Sign in' });
await submit.waitFor();
await page.waitForFunction(() => !document.querySelector('button[type=submit]')?.disabled);
await page.getByLabel('Email').fill('admin@demo.lab');
await page.getByLabel('Password').fill('demo-admin-pass');
await submit.click();
await page.getByRole('button', { name: 'Sign out' }).waitFor();

const cdp = await context.newCDPSession(page);
await cdp.send('Network.enable');
await cdp.send('Emulation.setCPUThrottlingRate', { rate: 4 });

/** ms from navigation start until a button of the page's main part is enabled. */
async function interactive(path) {
  await page.goto(`${base}${path}`, { waitUntil: 'commit' });
  await page.waitForFunction(
    () => [...document.querySelectorAll('main button, header button')].some((b) => !b.disabled),
    null,
    { polling: 'raf', timeout: 60_000 },
  );
  return page.evaluate(() => performance.now());
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const path of pages) {
  const cold = [];
  const warm = [];
  for (let i = 0; i < runs; i++) {
    await cdp.send('Network.clearBrowserCache');
    cold.push(await interactive(path));
    warm.push(await interactive(path));
  }
  console.log(`${path.padEnd(15)} cold ${Math.round(median(cold))} ms (${cold.map(Math.round).join(', ')})  ` +
    `warm ${Math.round(median(warm))} ms (${warm.map(Math.round).join(', ')})`);
}
await browser.close();
