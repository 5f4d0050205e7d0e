import { expect, test } from '@playwright/test';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ADMIN, barcodeScannerToken, registerTarget, signIn, subscribeToBarcodes } from './helpers';

test('the delivery log shows a real delivery with the receiver’s answer', async ({ page, request }) => {
  // A receiver on a loopback port that says thank you.
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-receiver': 'e2e' });
      res.end('thanks from the e2e receiver');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;

  try {
    // Register it, subscribe to the barcode scanner, get a device token.
    await signIn(page, ADMIN, '/admin');
    await registerTarget(page, `http://127.0.0.1:${port}/`, 'Playwright receiver');
    const name = `Delivery log ${Date.now()}`;
    await subscribeToBarcodes(page, `http://127.0.0.1:${port}/e2e`, name);
    const { token, endpoint } = await barcodeScannerToken(page, 'delivery log test');

    // The device scans a sample; the webhook goes out.
    const barcode = `LAB-LOG-${Date.now()}`;
    const res = await request.post(endpoint, {
      headers: { Authorization: `Bearer ${token}` },
      data: [{ channel: 'barcode', value: barcode }],
    });
    expect(res.status()).toBe(202);
    await expect.poll(() => received.filter((r) => r.body.includes(barcode)).length).toBe(1);
    const got = received.find((r) => r.body.includes(barcode))!;
    expect(got.headers['webhook-signature']).toMatch(/^v1,/);
    expect(JSON.parse(got.body).type).toBe('data_point.created');

    // The overview shows the last delivery; the subscription's page shows the log.
    await page.goto('/subscriptions');
    const row = page.getByRole('row').filter({ hasText: name });
    await expect(row.getByText('Delivered')).toBeVisible();
    await row.getByRole('link', { name, exact: true }).click();
    const log = page.getByRole('region', { name: 'Deliveries' });
    await expect(log.getByRole('row').filter({ hasText: 'Delivered' })).toBeVisible();
    await expect(log.getByRole('row').filter({ hasText: 'HTTP 200' })).toBeVisible();
    await log.getByRole('button', { name: /^Details of delivery/ }).first().click();
    const detail = page.getByRole('dialog', { name: /^Delivery \d+$/ });
    await expect(detail.getByLabel('Response body of attempt 1')).toHaveText('thanks from the e2e receiver');
    await expect(detail.getByLabel('Request body')).toContainText(barcode);
    await detail.getByText('Response headers').click();
    await expect(detail.getByRole('row', { name: /x-receiver/ })).toContainText('e2e');

    // Send it again: a second request with the same webhook-id.
    await detail.getByRole('button', { name: 'Send again' }).click();
    await expect(detail.getByText(/Queued again/)).toBeVisible();
    await expect.poll(() => received.filter((r) => r.body.includes(barcode)).length).toBe(2);
    const again = received.filter((r) => r.body.includes(barcode));
    expect(again[1].headers['webhook-id']).toBe(again[0].headers['webhook-id']);
    await page.keyboard.press('Escape');
    await expect(detail).toBeHidden();

    // A test event from the channel's latest value, through the same path; its log entry opens.
    await page.getByRole('button', { name: 'Send test event' }).click();
    const test = page.getByRole('dialog', { name: /^Delivery \d+$/ });
    await expect(test.getByLabel('Request body')).toContainText('"test": true');
    await expect(test.getByLabel('Response body of attempt 1')).toHaveText('thanks from the e2e receiver');
    await expect.poll(() => received.filter((r) => r.body.includes('"test":true')).length).toBe(1);
    expect(JSON.parse(received.find((r) => r.body.includes('"test":true'))!.body).type).toBe('data_point.created.test');
    await page.keyboard.press('Escape');
    await expect(log.getByText('Test', { exact: true })).toBeVisible();

    // Filters narrow the log; back to any status, the deliveries are there again.
    await log.getByLabel('Status').selectOption('failed');
    await expect(log.getByText('No deliveries match these filters.')).toBeVisible();
    await log.getByLabel('Status').selectOption('');
    await expect(log.getByRole('row').filter({ hasText: 'HTTP 200' }).first()).toBeVisible();
    await expect(log.getByRole('img', { name: /^Deliveries per hour, last 24 hours: \d+ in all, 0 failed\.$/ })).toBeVisible();

    // Replay the last hour: counted first, then sent again behind live traffic.
    const minute = (ms: number) => new Date(ms).toISOString().slice(0, 16);
    const replay = page.getByRole('region', { name: 'Replay' });
    await replay.getByLabel('From (UTC)').fill(minute(Date.now() - 3_600_000));
    await replay.getByLabel('To (UTC)').fill(minute(Date.now() + 300_000));
    await replay.getByRole('button', { name: 'Count events' }).click();
    await expect(replay.getByRole('status')).toHaveText(/^\d+ events? would be sent again/);
    await replay.getByRole('button', { name: /^Replay \d+ events?$/ }).click();
    await expect(replay.getByRole('list', { name: 'Replays' })).toContainText('all queued');
    // The live one, sent again, the test event (built from the latest value), and the replay.
    await expect.poll(() => received.filter((r) => r.body.includes(barcode)).length).toBe(4);
  } finally {
    receiver.close();
  }
});
