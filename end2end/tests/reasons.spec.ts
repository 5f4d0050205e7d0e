import { ChildProcess, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { ADMIN, BINARY, freshFolder, signIn, startServer } from './helpers';

// Requiring reasons changes how every change behaves, so this walk has a server of its own.
const port = Number(process.env.E2E_REASONS_PORT ?? 3944);
const base = `http://127.0.0.1:${port}`;
const database = '.tmp/reasons/lab.db';

let server: ChildProcess | undefined;

test.use({ baseURL: base });

test.beforeAll(async () => {
  freshFolder('.tmp/reasons');
  server = await startServer(database, port, ['--demo', '--demo-lims']);
});

test.afterAll(() => {
  server?.kill();
});

test('an admin requires reasons, every change then asks for one, and the audit trail shows it', async ({ page }) => {
  await signIn(page, ADMIN, '/admin');
  const required = page.getByRole('switch', { name: 'Require a reason for every change' });
  await expect(required).toBeEnabled();
  await expect(required).toHaveAttribute('aria-checked', 'false');
  // Requiring reasons is itself a change made under the rule as it was: no reason asked.
  await required.click();
  await expect(required).toHaveAttribute('aria-checked', 'true');
  await expect(page.getByText('Every change — in these pages, through the API')).toBeVisible();

  // A switch asks in the reason dialog; cancelling leaves everything as it was.
  const feature = page.getByRole('switch', { name: 'Webhook Subscriptions enabled' });
  await feature.click();
  const ask = page.getByRole('dialog', { name: 'Reason for this change' });
  await expect(ask).toBeVisible();
  await expect(ask.getByRole('button', { name: 'CONFIRM' })).toBeDisabled();
  await ask.getByRole('button', { name: 'Cancel' }).click();
  await expect(ask).toBeHidden();
  await expect(feature).toHaveAttribute('aria-checked', 'true');

  // Given a reason, the change is made — with the keyboard as well.
  await feature.click();
  await ask.getByLabel('Reason').fill('Receivers are being moved (CHG-2041)');
  await ask.getByLabel('Reason').press('Tab');
  await ask.getByRole('button', { name: 'CONFIRM' }).click();
  await expect(ask).toBeHidden();
  await expect(feature).toHaveAttribute('aria-checked', 'false');

  // A form asks on submit.
  const url = 'https://eln.example.org/hooks/';
  await page.getByLabel('URL', { exact: true }).fill(url);
  await page.getByLabel('Note').fill('ELN');
  await page.getByRole('button', { name: 'Register URL' }).click();
  await ask.getByLabel('Reason').fill('ELN validated (VAL-88)');
  await ask.getByRole('button', { name: 'CONFIRM' }).click();
  const row = page.getByRole('row', { name: /eln\.example\.org/ });
  await expect(row).toBeVisible();

  // A change with a confirmation of its own asks there; left blank, the server says why.
  await row.getByRole('button', { name: `Remove ${url}` }).click();
  const confirm = page.getByRole('dialog', { name: 'Remove registered URL' });
  await confirm.getByRole('button', { name: 'Remove' }).click();
  await expect(confirm.getByText('Your organisation requires a reason for every change: please give one.')).toBeVisible();
  await expect(row).toBeVisible();
  await confirm.getByLabel('Reason for this change').fill('ELN retired (CHG-2042)');
  await confirm.getByRole('button', { name: 'Remove' }).click();
  await expect(confirm).toBeHidden();
  await expect(row).toHaveCount(0);

  // Webhooks on again (a reason for that too).
  await feature.click();
  await ask.getByLabel('Reason').fill('Receivers moved');
  await ask.getByRole('button', { name: 'CONFIRM' }).click();
  await expect(feature).toHaveAttribute('aria-checked', 'true');

  // The time zone of the readable copies.
  await expect(page.getByText('Exports show times in UTC.')).toBeVisible();
  await page.getByLabel('Time zone').fill('Europe/Vienna');
  await page.getByRole('button', { name: 'Save time zone' }).click();
  await ask.getByLabel('Reason').fill('Site moved to Vienna');
  await ask.getByRole('button', { name: 'CONFIRM' }).click();
  await expect(page.getByText('Exports show times in Europe/Vienna beside UTC.')).toBeVisible();

  // A subscription edited: SUBMIT asks for the reason.
  await page.goto('/subscriptions');
  const name = 'Sample information (demo LIMS)';
  const subscription = page.getByRole('row').filter({ hasText: name });
  await subscription.getByRole('link', { name: `Edit ${name}` }).click();
  await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
  await page.getByLabel('Display name').fill('Sample information (QC LIMS)');
  await page.getByRole('button', { name: 'SUBMIT' }).click();
  await ask.getByLabel('Reason').fill('Renamed after the LIMS migration (CHG-2043)');
  await ask.getByRole('button', { name: 'CONFIRM' }).click();
  await expect(page).toHaveURL(/\/subscriptions$/);
  await expect(page.getByRole('row').filter({ hasText: 'Sample information (QC LIMS)' })).toBeVisible();
  await page.goto('/admin');

  // No longer requiring reasons needs one.
  await required.click();
  await ask.getByLabel('Reason').fill('Validation finished');
  await ask.getByRole('button', { name: 'CONFIRM' }).click();
  await expect(required).toHaveAttribute('aria-checked', 'false');

  // The audit trail keeps each reason beside its change, and survives a reload.
  await page.getByRole('link', { name: 'Audit trail' }).click();
  // (The page's code is a chunk of its own: the address changes once it has arrived.)
  await expect(page).toHaveURL(/\/admin\/audit$/);
  await page.reload();
  const trail = page.getByRole('table', { name: 'Audit trail' });
  for (const reason of ['Receivers are being moved (CHG-2041)', 'ELN validated (VAL-88)', 'ELN retired (CHG-2042)',
    'Site moved to Vienna', 'Validation finished']) {
    await expect(trail.getByText(reason)).toBeVisible();
  }
  const removal = trail.getByRole('row').filter({ hasText: url }).filter({ has: page.getByText('removed', { exact: true }) });
  await expect(removal).toContainText('Reason: ELN retired (CHG-2042)');
  // The edit: what changed, before and after, and why.
  const edit = trail.getByRole('row').filter({ hasText: 'Renamed after the LIMS migration (CHG-2043)' }).first();
  await edit.getByText(/fields? changed/).click();
  await expect(edit.getByRole('row', { name: /^display_name/ })).toContainText('Sample information (QC LIMS)');

  // Both exports carry the reasons; the JSON Lines verify offline, and not after one byte changed.
  const form = page.getByRole('region', { name: 'Export records' });
  await form.getByLabel('From').fill('2000-01-01');
  const pdf = page.waitForEvent('download');
  await form.getByRole('button', { name: 'Export' }).click();
  const pdfPath = (await (await pdf).path()) as string;
  const pdfText = spawnSync('pdftotext', [pdfPath, '-'], { encoding: 'utf8' }).stdout.replace(/\s+/g, ' ');
  expect(pdfText).toContain('reason: Renamed after the LIMS migration (CHG-2043)');
  expect(pdfText).toContain("Times in the organisation's time zone (Europe/Vienna) and in UTC");

  await form.getByLabel('Format').selectOption('jsonl');
  const jsonl = page.waitForEvent('download');
  await form.getByRole('button', { name: 'Export' }).click();
  const path = (await (await jsonl).path()) as string;
  const text = readFileSync(path, 'utf8');
  expect(text).toContain('"reason":"ELN retired (CHG-2042)"');
  const labhook = (...args: string[]) => spawnSync(BINARY, args, { encoding: 'utf8' });
  const key = labhook('--database', database, 'records-key').stdout.trim();
  expect(key).toMatch(/^lhrk_/);
  const sound = labhook('verify-export', path, '--public-key', key);
  expect(sound.status, sound.stderr).toBe(0);
  const at = text.indexOf('"reason":"ELN retired') + '"reason":"'.length;
  const edited = `${path}.edited`;
  writeFileSync(edited, text.slice(0, at) + 'e' + text.slice(at + 1));
  const caught = labhook('verify-export', edited, '--public-key', key);
  expect(caught.status).toBe(1);
  expect(caught.stderr).toContain('(altered)');
});
