import { expect, test } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { ADMIN, LAB_USER, openFromMore, signIn } from './helpers';

test('an admin switches webhooks off and on and the More menu follows', async ({ page }) => {
  await signIn(page, ADMIN);
  await openFromMore(page, 'Server Administration');
  await expect(page.getByRole('heading', { name: 'Server Administration' })).toBeVisible();
  const feature = page.getByRole('switch', { name: 'Webhook Subscriptions enabled' });
  await expect(feature).toBeEnabled();
  await expect(feature).toHaveAttribute('aria-checked', 'true');

  await feature.click();
  await expect(feature).toHaveAttribute('aria-checked', 'false');
  await page.getByRole('button', { name: 'More' }).click();
  await expect(page.getByRole('menuitem', { name: 'Server Administration' })).toBeVisible();
  await expect(page.getByRole('menuitem', { name: 'Webhook Subscriptions' })).toHaveCount(0);
  await page.keyboard.press('Escape');

  // The page itself, opened directly, explains why.
  await page.goto('/subscriptions');
  await expect(page.getByText('Webhooks are not enabled for your organisation — ask an organisation administrator.')).toBeVisible();

  // Still off after a reload; then on again.
  await page.goto('/admin');
  await expect(feature).toHaveAttribute('aria-checked', 'false');
  await expect(feature).toBeEnabled();
  await feature.click();
  await expect(feature).toHaveAttribute('aria-checked', 'true');
  await page.getByRole('button', { name: 'More' }).click();
  await expect(page.getByRole('menuitem', { name: 'Webhook Subscriptions' })).toBeVisible();
});

test('an admin registers and removes a target URL and finds both in the audit trail', async ({ page }) => {
  await signIn(page, ADMIN, '/admin');
  const url = `https://eln-${Date.now()}.example.org/hooks/`;
  await expect(page.getByRole('button', { name: 'Register URL' })).toBeEnabled();

  // A bad one first: a clear message beside the field, nothing lost.
  await page.getByLabel('URL', { exact: true }).fill('ftp://eln.example.org/');
  await page.getByRole('button', { name: 'Register URL' }).click();
  await expect(page.getByText('Only http:// and https:// URLs are possible.')).toBeVisible();
  await expect(page.getByLabel('URL', { exact: true })).toHaveValue('ftp://eln.example.org/');

  // Typed with an upper-case host and the default port: stored normalised.
  await page.getByLabel('URL', { exact: true }).fill(url.replace('eln-', 'ELN-').replace('.example.org', '.Example.ORG:443'));
  await page.getByLabel('Note').fill('Playwright ELN');
  await page.getByRole('button', { name: 'Register URL' }).click();
  const row = page.getByRole('row', { name: new RegExp(url.replace(/[.]/g, '\\.')) });
  await expect(row).toBeVisible();
  await expect(row.getByText('Playwright ELN')).toBeVisible();

  await row.getByRole('button', { name: `Remove ${url}` }).click();
  const confirm = page.getByRole('dialog', { name: 'Remove registered URL' });
  await expect(confirm).toContainText(url);
  await confirm.getByRole('button', { name: 'Remove' }).click();
  await expect(confirm).toBeHidden();
  await expect(row).toHaveCount(0);

  await page.getByRole('link', { name: 'Audit trail' }).click();
  await expect(page).toHaveURL(/\/admin\/audit$/);
  const trail = page.getByRole('table', { name: 'Audit trail' });
  const change = (action: string) =>
    trail.getByRole('row').filter({ hasText: url }).filter({ has: page.getByText(action, { exact: true }) });
  await expect(change('removed')).toBeVisible();
  await expect(change('registered')).toBeVisible();

  // What the registration changed, field by field: nothing before, the URL and note after.
  await change('registered').getByText('2 fields changed').click();
  const fields = change('registered').getByRole('table');
  await expect(fields.getByRole('row', { name: /^note/ })).toContainText('Playwright ELN');
  await expect(fields.getByRole('row', { name: /^url/ })).toContainText(url);

  // Filter by kind; the filter survives a reload.
  await page.getByLabel('Show').selectOption('registered_url');
  await expect(page).toHaveURL(/kind=registered_url/);
  await page.reload();
  await expect(page.getByLabel('Show')).toHaveValue('registered_url');
  await expect(trail.getByRole('row').filter({ hasText: 'Webhook Subscriptions' })).toHaveCount(0);
});

test('a lab user has no Server Administration: no menu entry, and the page refuses', async ({ page }) => {
  await signIn(page, LAB_USER);
  await page.getByRole('button', { name: 'More' }).click();
  await expect(page.getByRole('menuitem', { name: 'Server Administration' })).toHaveCount(0);
  await page.keyboard.press('Escape');
  await page.goto('/admin');
  await expect(page.getByRole('alert')).toContainText('Only an organisation administrator can do this.');
  await expect(page.getByRole('switch')).toHaveCount(0);
});

test('the audit trail pages through older changes and marks where you are', async ({ page }) => {
  await signIn(page, ADMIN, '/admin/audit');
  await expect(page.getByRole('link', { name: 'Audit trail' })).toHaveAttribute('aria-current', 'page');
  await expect(page.getByRole('link', { name: 'Webhooks', exact: true })).not.toHaveAttribute('aria-current', 'page');

  // 26 more changes, through the same server function the switch uses.
  for (let i = 0; i < 13; i++) {
    for (const enabled of ['false', 'true']) {
      const res = await page.request.post('/api/admin/set_webhooks_enabled', { form: { enabled } });
      expect(res.ok()).toBeTruthy();
    }
  }
  await page.reload();
  const pager = page.getByRole('navigation', { name: 'Pages' });
  await expect(pager).toContainText(/Page 1 of [2-9]/);
  await expect(pager.getByRole('button', { name: 'Newer' })).toBeDisabled();
  await pager.getByRole('button', { name: 'Older' }).click();
  await expect(page).toHaveURL(/page=2/);
  await expect(pager).toContainText(/Page 2 of/);
  await expect(pager.getByRole('button', { name: 'Newer' })).toBeEnabled();
  await pager.getByRole('button', { name: 'Newer' }).click();
  await expect(pager).toContainText(/Page 1 of/);
});

test('an admin exports the delivery log as a PDF and the audit trail as JSON Lines, which verify-export checks', async ({ page }) => {
  await signIn(page, ADMIN, '/admin/audit');
  const form = page.getByRole('region', { name: 'Export records' });
  await expect(form).toBeVisible();
  await form.getByLabel('From').fill('2000-01-01');

  await form.getByLabel('Records').selectOption('deliveries');
  const pdf = page.waitForEvent('download');
  await form.getByRole('button', { name: 'Export' }).click();
  const pdfFile = await pdf;
  expect(pdfFile.suggestedFilename()).toMatch(/^labhook-deliveries-\d+-20000101\.pdf$/);
  expect(readFileSync(await pdfFile.path()).subarray(0, 5).toString()).toBe('%PDF-');

  await form.getByLabel('Records').selectOption('audit');
  await form.getByLabel('Format').selectOption('jsonl');
  const jsonl = page.waitForEvent('download');
  await form.getByRole('button', { name: 'Export' }).click();
  const jsonlFile = await jsonl;
  expect(jsonlFile.suggestedFilename()).toMatch(/^labhook-audit-\d+-20000101\.jsonl$/);
  const path = (await jsonlFile.path()) as string;
  const text = readFileSync(path, 'utf8');
  const lines = text.trim().split('\n').map((l: string) => JSON.parse(l));
  expect(lines[0]).toMatchObject({ type: 'export', format: 'labhook.export.v1', chain: 'audit', organisation: 'Demo Lab' });
  expect(lines.filter((l: { type: string }) => l.type === 'record').length).toBeGreaterThan(0);
  expect(lines[lines.length - 1].type).toBe('seal');

  // Offline, with the installation's public key alone: accepted, and refused after one byte
  // is changed (when the suite started the server itself, its binary and database are here).
  if (!process.env.BASE_URL) {
    const labhook = (...args: string[]) =>
      spawnSync('../target/release/labhook', args, { encoding: 'utf8' });
    const key = labhook('--database', '.tmp/e2e.db', 'records-key').stdout.trim();
    expect(key).toMatch(/^lhrk_/);
    const sound = labhook('verify-export', path, '--public-key', key);
    expect(sound.status, sound.stderr).toBe(0);
    expect(sound.stdout).toContain('sound');
    const at = text.indexOf('"action":"') + '"action":"'.length;
    const edited = `${path}.edited`;
    writeFileSync(edited, text.slice(0, at) + (text[at] === 'x' ? 'y' : 'x') + text.slice(at + 1));
    const caught = labhook('verify-export', edited, '--public-key', key);
    expect(caught.status).toBe(1);
    expect(caught.stderr).toContain('(altered)');
  }
});
