import { ChildProcess, execFileSync, execSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { expect, Page, test } from '@playwright/test';
import { BINARY, freshFolder, startServer } from './helpers';

// A lab's first hour, from an empty database: no demo data, only an organisation and its
// administrator made with the command line. Everything else happens in the browser.
const port = Number(process.env.E2E_INSTALL_PORT ?? 3941);
const base = `http://127.0.0.1:${port}`;
const binary = BINARY;
// `make test` walks it a second time on PostgreSQL (scripts/scratch-postgres.sh gives the URL).
const database = process.env.LABHOOK_SCRATCH_DATABASE ?? '.tmp/install/lab.db';
const onPostgres = database.startsWith('postgres');
const BOSS = { email: 'bea@walk.lab', password: 'walk-admin-pass', name: 'Bea Boss' };

let server: ChildProcess | undefined;

test.use({ baseURL: base });

test.beforeAll(async () => {
  freshFolder('.tmp/install');
  const cli = (...args: string[]) => execFileSync(binary, ['--database', database, ...args], { encoding: 'utf8' });
  cli('create-organisation', 'Walk Lab');
  cli('create-user', '--organisation', 'Walk Lab', '--email', BOSS.email, '--name', BOSS.name,
    '--role', 'org_admin', '--password', BOSS.password);
  server = await startServer(database, port, ['--no-demo',
    ...(onPostgres ? ['--secrets-key-file', '.tmp/install/secrets.key'] : [])]);
});

test.afterAll(() => {
  server?.kill();
});

async function signInAs(page: Page, email: string, password: string) {
  await page.goto('/sign-in');
  const submit = page.getByRole('button', { name: 'Sign in' });
  await expect(submit).toBeEnabled();
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await submit.click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeEnabled();
}

async function more(page: Page, item: string) {
  const button = page.getByRole('button', { name: 'More' });
  await expect(button).toBeEnabled();
  await button.click();
  await page.getByRole('menuitem', { name: item }).click();
}

test('a new lab goes from an empty server to a received webhook, all in the browser', async ({ page }) => {
  test.setTimeout(120_000);
  // The lab's LIMS: a receiver that keeps what it gets.
  const received: { headers: http.IncomingHttpHeaders; body: string }[] = [];
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const lims = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  try {
    // The administrator signs in: nothing exists yet.
    await signInAs(page, BOSS.email, BOSS.password);
    await more(page, 'Devices');
    await expect(page.getByText('Your organisation has no devices yet.')).toBeVisible();

    // Adds a lab user, who gets a one-time link to set their password.
    await more(page, 'Users');
    await expect(page.getByRole('heading', { name: 'Users' })).toBeVisible();
    await page.getByRole('button', { name: 'Add user' }).click();
    const add = page.getByRole('dialog', { name: 'Add user' });
    await add.getByLabel('Name').fill('Leo Lab');
    await add.getByLabel('Email').fill('leo@walk.lab');
    await add.getByLabel('Role').selectOption('lab_user');
    await add.getByRole('button', { name: 'ADD USER' }).click();
    const shown = page.getByRole('dialog', { name: 'Password link for Leo Lab' });
    const link = (await shown.getByTestId('password-link').textContent())!.trim();
    expect(link).toMatch(new RegExp(`^${base}/set-password\\?token=`));
    await shown.getByRole('button', { name: 'Done' }).click();
    await expect(page.getByRole('row', { name: /Leo Lab/ })).toContainText('never');

    // Switches the feature on and registers the LIMS as a target.
    await more(page, 'Server Administration');
    const feature = page.getByRole('switch', { name: 'Webhook Subscriptions enabled' });
    await expect(feature).toBeEnabled();
    if ((await feature.getAttribute('aria-checked')) !== 'true') {
      await feature.click();
      await expect(feature).toHaveAttribute('aria-checked', 'true');
    }
    await page.getByLabel('URL', { exact: true }).fill(`${lims}/`);
    await page.getByLabel('Note').fill('Our LIMS');
    await page.getByRole('button', { name: 'Register URL' }).click();
    await expect(page.getByRole('row').filter({ hasText: lims })).toBeVisible();

    // Adds a device with two channels, and its token in the same flow.
    await more(page, 'Devices');
    await page.getByRole('button', { name: 'Add device' }).click();
    const dialog = page.getByRole('dialog', { name: 'Add device' });
    await dialog.getByLabel('Name', { exact: true }).fill('HPLC 1');
    await dialog.getByLabel('Device class').selectOption('Analyzer');
    await dialog.getByLabel('Channel 1 name').fill('sample');
    await dialog.getByLabel('Channel 1 kind of value').selectOption('text');
    await dialog.getByRole('button', { name: 'ADD CHANNEL' }).click();
    await dialog.getByLabel('Channel 2 name').fill('pressure');
    await dialog.getByLabel('Channel 2 unit').fill('bar');
    await dialog.getByLabel('Channel 2 lowest acceptable value').fill('0');
    await dialog.getByLabel('Channel 2 highest acceptable value').fill('400');
    await dialog.getByRole('button', { name: 'CREATE DEVICE' }).click();
    await expect(dialog.getByText('HPLC 1 was created.')).toBeVisible();
    await dialog.getByRole('button', { name: 'Create its token' }).click();
    const tokens = page.getByRole('dialog', { name: 'Tokens of HPLC 1' });
    await tokens.getByLabel('Label').fill('HPLC connector');
    await tokens.getByRole('button', { name: 'Create token' }).click();
    const curl = (await tokens.getByTestId('curl-example').textContent())!;
    await page.keyboard.press('Escape');

    // The first data point, sent with the command shown; it appears live.
    const answer = execSync(curl.replace(/\\\n/g, ' '), { encoding: 'utf8' });
    expect(JSON.parse(answer).accepted).toBe(2);
    const hplc = page.getByRole('region', { name: 'HPLC 1' });
    await expect(hplc.getByRole('row', { name: /sample/ }).getByText('S-0001', { exact: true })).toBeVisible();

    // Grants the lab user access to it.
    await hplc.getByRole('button', { name: 'Access to HPLC 1' }).click();
    const access = page.getByRole('dialog', { name: 'Access to HPLC 1' });
    await access.getByRole('checkbox', { name: /Leo Lab/ }).check();
    await expect(access.getByRole('checkbox', { name: /Leo Lab/ })).toBeEnabled();
    await access.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/sign-in/);

    // The lab user sets their password with the link and signs in.
    await page.goto(link);
    await expect(page.getByText('Welcome, Leo Lab.')).toBeVisible();
    await expect(page.getByRole('button', { name: 'Set password' })).toBeEnabled();
    await page.getByLabel('New password').fill('leo-chooses-a-password');
    await page.getByLabel('Repeat the password').fill('leo-chooses-a-password');
    await page.getByRole('button', { name: 'Set password' }).click();
    await expect(page.getByText('Your password is set.')).toBeVisible();
    await signInAs(page, 'leo@walk.lab', 'leo-chooses-a-password');

    // Subscribes to the new channel through the article's steps.
    await more(page, 'Webhook Subscriptions');
    const dots = page.getByRole('button', { name: 'Options' });
    await expect(dots).toBeEnabled();
    await dots.click();
    await page.getByRole('menuitem', { name: 'Add new Webhook Subscription' }).click();
    await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
    await page.getByLabel('Target URL').fill(`${lims}/samples`);
    await page.getByLabel('Display name').fill('Samples to LIMS');
    await page.getByRole('button', { name: 'Selected Channels' }).click();
    const picker = page.getByRole('dialog', { name: 'Selected Channels' });
    await picker.getByLabel('Device name').fill('hplc');
    // The only device that matches opens by itself.
    await expect(picker.getByRole('heading', { name: 'HPLC 1' })).toBeVisible();
    await picker.getByRole('checkbox', { name: 'Value changed on sample' }).check();
    await picker.getByRole('button', { name: 'CONFIRM' }).click();
    await page.getByRole('button', { name: 'SUBMIT' }).click();
    await expect(page).toHaveURL(/\/subscriptions$/);
    const secret = (await page.getByLabel('Signing secret').textContent())!.trim();
    expect(secret).toMatch(/^whsec_/);

    // The instrument reads the next sample; the LIMS receives it, signed.
    const next = curl.replace('S-0001', 'S-0002').replace(/\\\n/g, ' ');
    expect(JSON.parse(execSync(next, { encoding: 'utf8' })).accepted).toBe(2);
    await expect.poll(() => received.length, { timeout: 20_000 }).toBe(1);
    const got = received[0];
    const body = JSON.parse(got.body);
    expect(body.type).toBe('channel.value_changed');
    expect(body.data.channel.name).toBe('sample');
    expect(body.data.data_point.value).toBe('S-0002');
    // Standard Webhooks: HMAC-SHA256 over "id.timestamp.body" with the secret's bytes.
    const signed = `${got.headers['webhook-id']}.${got.headers['webhook-timestamp']}.${got.body}`;
    const expected = createHmac('sha256', Buffer.from(secret.replace('whsec_', ''), 'base64'))
      .update(signed)
      .digest('base64');
    expect(String(got.headers['webhook-signature']).split(' ')).toContain(`v1,${expected}`);
  } finally {
    receiver.close();
  }
});
