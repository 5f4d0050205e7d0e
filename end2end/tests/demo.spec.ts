import { ChildProcess, spawn } from 'node:child_process';
import { expect, test } from '@playwright/test';
import { ADMIN, barcodeScannerToken, BINARY, freshFolder, signIn, startServer } from './helpers';

// The help article's example as `make run` sets it up: a server with the demo data and the
// demo LIMS subscription (`--demo-lims`), and the LIMS stand-in (`labhook demo-lims`) on the
// demo's registered local URL, verifying signatures with the published demo secret.
const port = Number(process.env.E2E_DEMO_PORT ?? 3943);
const base = `http://127.0.0.1:${port}`;
const database = '.tmp/demo/lab.db';

let server: ChildProcess | undefined;
let lims: ChildProcess | undefined;
const limsLog: string[] = [];

test.use({ baseURL: base });

test.beforeAll(async () => {
  freshFolder('.tmp/demo');
  lims = spawn(BINARY, ['demo-lims'], { stdio: ['ignore', 'pipe', 'pipe'] });
  lims.stdout!.on('data', (d) => limsLog.push(String(d)));
  lims.stderr!.on('data', (d) => limsLog.push(String(d)));
  server = await startServer(database, port, ['--demo', '--demo-lims']);
  await expect.poll(() => limsLog.join('').includes('answers webhooks at http://127.0.0.1:9999/'), { timeout: 10_000 }).toBe(true);
});

test.afterAll(() => {
  server?.kill();
  lims?.kill();
});

test('the demo walk: a scan goes out, the LIMS verifies it, the sample information comes back to the Devices page', async ({ page, request }) => {
  await signIn(page, ADMIN, '/subscriptions');
  // The demo's subscription is there, and uses the receiver's reply.
  await page.getByRole('link', { name: 'Sample information (demo LIMS)', exact: true }).click();
  await expect(page.getByText('Used: data points in a 2xx answer are stored on the device whose event was sent')).toBeVisible();

  // A scan through the ingest API, as the scanner sends it.
  const { token, endpoint } = await barcodeScannerToken(page, 'demo walk');
  const sample = `S-2026-${Date.now() % 100000}`;
  const res = await request.post(endpoint, {
    headers: { Authorization: `Bearer ${token}` },
    data: [{ channel: 'barcode', value: sample }],
  });
  expect(res.status()).toBe(202);

  // The stand-in verified the signature (it answers 401 otherwise) and answered; the
  // sample information and the method show on the Devices page, live.
  const scanner = page.getByRole('region', { name: 'Barcode Scanner Bench 2' });
  await expect(scanner.getByRole('row', { name: /sample_info/ })).toContainText(`${sample}: `);
  await expect(scanner.getByRole('row', { name: /method/ })).not.toContainText('no data yet');
  await expect.poll(() => limsLog.join('')).toContain('verified a scan');

  // The delivery log shows the answer and what was stored from it.
  await page.goto('/subscriptions');
  await page.getByRole('link', { name: 'Sample information (demo LIMS)', exact: true }).click();
  const log = page.getByRole('region', { name: 'Deliveries' });
  await log.getByRole('button', { name: /^Details of delivery/ }).first().click();
  const detail = page.getByRole('dialog', { name: /^Delivery \d+$/ });
  await expect(detail.getByLabel('Response body of attempt 1')).toContainText(sample);
  await expect(detail.getByRole('note', { name: 'Reply of attempt 1' })).toHaveText(
    'Reply used: Stored 2 data points on sample_info and method of the device.',
  );
});
