import { expect, test } from '@playwright/test';
import { ADMIN, LAB_USER, openFromMore, signIn } from './helpers';

test('a value sent through the ingest API appears on the Devices page without a reload', async ({ page, request }) => {
  await signIn(page, ADMIN);
  await openFromMore(page, 'Devices');
  await expect(page).toHaveURL(/\/devices$/);
  const scanner = page.getByRole('region', { name: 'Barcode Scanner Bench 2' });
  await expect(scanner).toBeVisible();

  // An org admin creates a device token; it is shown once.
  await scanner.getByRole('button', { name: 'Tokens of Barcode Scanner Bench 2' }).click();
  const dialog = page.getByRole('dialog', { name: 'Tokens of Barcode Scanner Bench 2' });
  await expect(dialog).toBeVisible();
  await dialog.getByLabel('Label').fill('Playwright connector');
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const token = (await dialog.getByText(/^lhd_[A-Za-z0-9_-]{43}$/).textContent())!.trim();
  const endpoint = (await dialog.getByText(/^POST \/api\/v1\/devices\/\d+\/data_points$/).textContent())!.replace('POST ', '');
  await expect(dialog.getByRole('cell', { name: 'Playwright connector', exact: true })).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();

  // The device sends a scan.
  const barcode = `LAB-E2E-${Date.now()}`;
  const res = await request.post(endpoint, {
    headers: { Authorization: `Bearer ${token}` },
    data: [{ channel: 'barcode', value: barcode }],
  });
  expect(res.status()).toBe(202);
  expect((await res.json()).accepted).toBe(1);

  // The page shows it live.
  const row = scanner.getByRole('row', { name: /barcode/ });
  await expect(row.getByText(barcode)).toBeVisible();
  await expect(scanner.getByLabel('Status: online')).toBeVisible();
});

test('a lab user sees only the devices granted to them, and an admin can grant more', async ({ browser }) => {
  const labPage = await (await browser.newContext()).newPage();
  await signIn(labPage, LAB_USER, '/devices');
  await expect(labPage.getByRole('region', { name: 'Analytical Balance XPR204' })).toBeVisible();
  await expect(labPage.getByRole('region', { name: 'Centrifuge 5425' })).toHaveCount(0);
  await expect(labPage.getByRole('button', { name: /^Tokens of/ })).toHaveCount(0);

  const adminPage = await (await browser.newContext()).newPage();
  await signIn(adminPage, ADMIN, '/devices');
  const centrifuge = adminPage.getByRole('region', { name: 'Centrifuge 5425' });
  await centrifuge.getByRole('button', { name: 'Access to Centrifuge 5425' }).click();
  const dialog = adminPage.getByRole('dialog', { name: 'Access to Centrifuge 5425' });
  const grant = dialog.getByRole('checkbox', { name: /Lars Labuser/ });
  await expect(grant).not.toBeChecked();
  await grant.check();
  await expect(grant).toBeEnabled();
  await dialog.getByRole('button', { name: 'Done' }).click();

  await labPage.reload();
  await expect(labPage.getByRole('region', { name: 'Centrifuge 5425' })).toBeVisible();

  // Put things back for the other tests.
  await centrifuge.getByRole('button', { name: 'Access to Centrifuge 5425' }).click();
  await dialog.getByRole('checkbox', { name: /Lars Labuser/ }).uncheck();
  await expect(dialog.getByRole('checkbox', { name: /Lars Labuser/ })).toBeEnabled();
  await labPage.reload();
  await expect(labPage.getByRole('region', { name: 'Centrifuge 5425' })).toHaveCount(0);
});
