import { ChildProcess, execFileSync } from 'node:child_process';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { expect, test } from '@playwright/test';
import {
  ADMIN, barcodeScannerToken, BINARY, freshFolder, registerTarget, signIn, startServer, subscribeToBarcodes,
} from './helpers';

// A receiver that keeps failing, on a server of its own: one attempt per delivery (so a
// delivery fails at once instead of after three days of retries), and the operator's
// `switch-off-failing` command standing in for five days of waiting with the hourly sweep.
const port = Number(process.env.E2E_AUTO_DISABLE_PORT ?? 3942);
const base = `http://127.0.0.1:${port}`;
const binary = BINARY;
const database = '.tmp/auto-disable/lab.db';

let server: ChildProcess | undefined;

test.use({ baseURL: base });

test.beforeAll(async () => {
  freshFolder('.tmp/auto-disable');
  server = await startServer(database, port, ['--demo', '--retry-schedule', '0']);
});

test.afterAll(() => {
  server?.kill();
});

test('a subscription whose deliveries all fail is switched off with a notice, and can replay the gap', async ({ page, request }) => {
  test.setTimeout(120_000);
  let healthy = false;
  const received: string[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (!healthy) {
        res.writeHead(503).end('LIMS down for maintenance');
        return;
      }
      received.push(body);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const lims = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;

  try {
    await signIn(page, ADMIN, '/admin');
    await registerTarget(page, lims);
    const name = 'LIMS that is down';
    await subscribeToBarcodes(page, `${lims}hooks`, name);
    const { token, endpoint } = await barcodeScannerToken(page, 'auto-disable test');

    // Three scans while the LIMS is down: three deliveries, each failed after its one attempt.
    const barcodes = ['DOWN-1', 'DOWN-2', 'DOWN-3'];
    for (const value of barcodes) {
      const res = await request.post(endpoint, {
        headers: { Authorization: `Bearer ${token}` },
        data: [{ channel: 'barcode', value }],
      });
      expect(res.status()).toBe(202);
    }

    // The operator runs the sweep now, with thresholds these three failures meet.
    const sweep = () => execFileSync(binary, ['--database', database, 'switch-off-failing',
      '--after-days', '0', '--min-failures', '3'], { encoding: 'utf8' });
    await expect.poll(sweep, { timeout: 30_000 }).toContain(`Switched off "${name}"`);
    expect(sweep()).toContain('nothing was switched off');

    // The overview says why; the switch is off; the bell has the notice.
    await page.goto('/subscriptions');
    const banner = page.getByRole('status').filter({ hasText: 'Switched off because every delivery kept failing' });
    await expect(banner).toContainText(`${name} — failing since`);
    const row = page.getByRole('row').filter({ hasText: name });
    await expect(row.getByText(/^failing since/)).toBeVisible();
    await expect(page.getByRole('switch', { name: `Active: ${name}` })).toHaveAttribute('aria-checked', 'false');

    const bell = page.getByRole('button', { name: 'Notifications, 1 unread' });
    await expect(bell).toBeEnabled();
    await bell.click();
    const notices = page.getByRole('region', { name: 'Notifications' });
    await expect(notices).toContainText(`${name} was switched off: its 3 deliveries since`);
    await notices.getByRole('button', { name: 'Mark all as read' }).click();
    await expect(page.getByRole('button', { name: 'Notifications', exact: true })).toBeVisible();
    await page.reload();
    await expect(page.getByRole('button', { name: 'Notifications', exact: true })).toBeEnabled();

    // The LIMS is back. Switched on, the subscription offers to replay what it missed.
    healthy = true;
    const toggle = page.getByRole('switch', { name: `Active: ${name}` });
    await expect(toggle).toBeEnabled();
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-checked', 'true');
    await row.getByRole('link', { name: 'Replay what it missed' }).click();
    await expect(page).toHaveURL(/replay_since=\d+&replay_until=\d+/);
    const replay = page.getByRole('region', { name: 'Replay' });
    await expect(replay.getByLabel('From (UTC)')).not.toHaveValue('');
    await expect(replay.getByRole('button', { name: 'Count events' })).toBeEnabled();
    await replay.getByRole('button', { name: 'Count events' }).click();
    await expect(replay.getByRole('status')).toHaveText(/^3 events would be sent again/);
    await replay.getByRole('button', { name: 'Replay 3 events' }).click();
    await expect.poll(() => barcodes.filter((b) => received.some((body) => body.includes(`"${b}"`))), { timeout: 30_000 })
      .toEqual(barcodes);
    expect(received).toHaveLength(3);
  } finally {
    receiver.close();
  }
});
