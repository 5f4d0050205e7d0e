import { expect, test } from '@playwright/test';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ADMIN, barcodeScannerToken, registerTarget, signIn, subscribeToBarcodes } from './helpers';

test('a channel marked “May be written by replies” takes the receiver’s reply, shown on the Devices page and in the log', async ({ page, request }) => {
  // A receiver that answers each scanned sample number with where the sample is stored.
  const received: string[] = [];
  const lims = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push(body);
      const sample = JSON.parse(body).data.data_point.value;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data_points: [{ channel: 'storage', value: `${sample}: fridge 3, shelf B` }] }));
    });
  });
  await new Promise<void>((resolve) => lims.listen(0, '127.0.0.1', resolve));
  const port = (lims.address() as AddressInfo).port;

  try {
    await signIn(page, ADMIN, '/devices');
    // The org admin adds a channel replies may write.
    const scanner = page.getByRole('region', { name: 'Barcode Scanner Bench 2' });
    await scanner.getByRole('button', { name: 'Add channel to Barcode Scanner Bench 2' }).click();
    const add = page.getByRole('dialog', { name: 'Add channel to Barcode Scanner Bench 2' });
    await add.getByLabel('Channel name').fill('storage');
    await add.getByLabel('Channel kind of value').selectOption('text');
    await add.getByRole('checkbox', { name: /may be written by replies/i }).check();
    await add.getByRole('button', { name: 'ADD CHANNEL' }).click();
    await expect(add).toBeHidden();
    await expect(scanner.getByRole('row', { name: /storage/ })).toContainText('written by replies');

    // A subscription to the scanner that uses the receiver's reply.
    await registerTarget(page, `http://127.0.0.1:${port}/`, 'Storage service');
    const name = `Sample storage ${Date.now()}`;
    await subscribeToBarcodes(page, `http://127.0.0.1:${port}/samples`, name, true);
    const { token, endpoint } = await barcodeScannerToken(page, 'reply test');

    // A scan goes out; the reply is stored on the scanner and shows on the Devices page.
    const sample = `S-${Date.now()}`;
    const res = await request.post(endpoint, {
      headers: { Authorization: `Bearer ${token}` },
      data: [{ channel: 'barcode', value: sample }],
    });
    expect(res.status()).toBe(202);
    await expect.poll(() => received.filter((b) => b.includes(sample)).length).toBe(1);
    await expect(scanner.getByRole('row', { name: /storage/ })).toContainText(`${sample}: fridge 3, shelf B`);

    // The delivery log shows the reply beside the answer it came from.
    await page.goto('/subscriptions');
    await page.getByRole('row').filter({ hasText: name }).getByRole('link', { name, exact: true }).click();
    await expect(page.getByText("Used: data points in a 2xx answer are stored on the device whose event was sent")).toBeVisible();
    const log = page.getByRole('region', { name: 'Deliveries' });
    await log.getByRole('button', { name: /^Details of delivery/ }).first().click();
    const detail = page.getByRole('dialog', { name: /^Delivery \d+$/ });
    await expect(detail.getByLabel('Response body of attempt 1')).toContainText('fridge 3');
    await expect(detail.getByRole('note', { name: 'Reply of attempt 1' })).toHaveText(
      'Reply used: Stored 1 data point on storage of the device.',
    );
  } finally {
    lims.close();
  }
});
