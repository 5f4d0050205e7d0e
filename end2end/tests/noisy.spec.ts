import { expect, test } from '@playwright/test';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ADMIN, registerTarget, signIn } from './helpers';

test('a noisy balance: “Advanced” asks for a dead band, and only changes that large are sent', async ({ page, request }) => {
  const weights: number[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      weights.push(JSON.parse(body).data.data_point.value);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const port = (receiver.address() as AddressInfo).port;

  try {
    await signIn(page, ADMIN, '/admin');
    await registerTarget(page, `http://127.0.0.1:${port}/`, 'Weighing log');
    const name = `Weighing ${Date.now()}`;
    await page.goto('/subscriptions/new');
    await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
    await page.getByLabel('Target URL').fill(`http://127.0.0.1:${port}/weights`);
    await page.getByLabel('Display name').fill(name);
    await page.getByRole('button', { name: 'Selected Channels' }).click();
    const picker = page.getByRole('dialog', { name: 'Selected Channels' });
    await picker.getByLabel('Device name').fill('XPR204');
    await picker.getByRole('checkbox', { name: 'Value changed on weight' }).check();
    await picker.getByRole('button', { name: 'CONFIRM' }).click();

    // The options stay out of the way until asked for.
    const band = page.getByLabel('Dead band for weight');
    await expect(band).toBeHidden();
    await page.getByText('Advanced', { exact: true }).click();
    await band.fill('0.5');
    await page.getByRole('button', { name: 'SUBMIT' }).click();
    await expect(page).toHaveURL(/\/subscriptions$/);

    // The subscription's page says it in words; editing shows the saved value.
    await page.getByRole('row').filter({ hasText: name }).getByRole('link', { name, exact: true }).click();
    await expect(page.getByText('changes of at least 0.5 mg')).toBeVisible();
    await page.getByRole('link', { name: 'Edit' }).click();
    await expect(page.getByLabel('Dead band for weight')).toHaveValue('0.5');

    // The balance reports; only changes of at least 0.5 mg since the last one sent go out.
    await page.goto('/devices');
    const balance = page.getByRole('region', { name: 'Analytical Balance XPR204' });
    await balance.getByRole('button', { name: 'Tokens of Analytical Balance XPR204' }).click();
    const tokens = page.getByRole('dialog', { name: 'Tokens of Analytical Balance XPR204' });
    await tokens.getByLabel('Label').fill('noisy test');
    await tokens.getByRole('button', { name: 'Create token' }).click();
    const token = (await tokens.getByText(/^lhd_[A-Za-z0-9_-]{43}$/).textContent())!.trim();
    const endpoint = (await tokens.getByText(/^POST \/api\/v1\/devices\/\d+\/data_points$/).textContent())!.replace('POST ', '');
    const t0 = Date.now() - 10_000;
    const values = [1000.0, 1000.2, 1000.4, 1000.6, 1000.3, 999.9];
    const res = await request.post(endpoint, {
      headers: { Authorization: `Bearer ${token}` },
      data: values.map((value, i) => ({ channel: 'weight', value, timestamp: t0 + i * 100 })),
    });
    expect(res.status()).toBe(202);
    await expect.poll(() => weights.length).toBe(3);
    expect([...weights].sort()).toEqual([1000.0, 1000.6, 999.9].sort());
  } finally {
    receiver.close();
  }
});
