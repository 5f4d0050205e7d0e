import { expect, Page, test } from '@playwright/test';
import { ADMIN, LAB_USER, openFromMore, signIn } from './helpers';

/** More → Webhook Subscriptions → the three dots → "Add new Webhook Subscription". */
async function openAddForm(page: Page) {
  await openFromMore(page, 'Webhook Subscriptions');
  await expect(page).toHaveURL(/\/subscriptions$/);
  const dots = page.getByRole('button', { name: 'Options' });
  await expect(dots).toBeEnabled();
  await dots.click();
  await page.getByRole('menuitem', { name: 'Add new Webhook Subscription' }).click();
  await expect(page.getByRole('heading', { name: 'Add new Webhook Subscription' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
}

/** Selected Channels: type the device name, tick trigger events, CONFIRM. */
async function chooseChannels(page: Page, picks: { device: string; search: string; checks: string[] }[]) {
  await page.getByRole('button', { name: 'Selected Channels' }).click();
  const dialog = page.getByRole('dialog', { name: 'Selected Channels' });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('Device name')).toBeFocused();
  for (const pick of picks) {
    await dialog.getByLabel('Device name').fill(pick.search);
    await expect(dialog.getByRole('heading', { name: pick.device })).toBeVisible();
    for (const check of pick.checks) {
      await dialog.getByRole('checkbox', { name: check }).check();
    }
  }
  await dialog.getByRole('button', { name: 'CONFIRM' }).click();
  await expect(dialog).toBeHidden();
}

test('a lab user adds a subscription exactly as the help article says, then toggles, edits and deletes it', async ({ page }) => {
  const name = `QC LIMS ${Date.now()}`;
  await signIn(page, LAB_USER);
  await openAddForm(page);

  // Target URL, a key and a value for a header, ADD HEADER twice, delete one row.
  await page.getByLabel('Target URL').fill('http://127.0.0.1:9999/lims/hooks');
  await page.getByLabel('Display name').fill(name);
  await page.getByRole('textbox', { name: 'Key of header 1' }).fill('X-Lab');
  await page.getByRole('textbox', { name: 'Value of header 1' }).fill('QC');
  await page.getByRole('button', { name: 'ADD HEADER' }).click();
  await page.getByRole('textbox', { name: 'Key of header 2' }).fill('X-Unwanted');
  await page.getByRole('textbox', { name: 'Value of header 2' }).fill('oops');
  await page.getByRole('button', { name: 'ADD HEADER' }).click();
  await page.getByRole('textbox', { name: 'Key of header 3' }).fill('Authorization');
  await page.getByRole('textbox', { name: 'Value of header 3' }).fill('Bearer lims-token');
  await page.getByRole('checkbox', { name: 'Secret header 3' }).check();
  await page.getByRole('button', { name: 'Delete header 2' }).click();
  await expect(page.getByRole('textbox', { name: 'Key of header 3' })).toHaveCount(0);
  await expect(page.getByRole('textbox', { name: 'Key of header 2' })).toHaveValue('Authorization');

  // Channels from two devices.
  await chooseChannels(page, [
    { device: 'Hotplate Stirrer RCT digital', search: 'hotplate', checks: ['Out of range on temperature', 'Back in range on temperature'] },
    { device: 'Barcode Scanner Bench 2', search: 'SCANNER', checks: ['Value changed on barcode'] },
  ]);
  const chosen = page.getByRole('list', { name: 'Selected channels and trigger events' });
  await expect(chosen).toContainText('Hotplate Stirrer RCT digital');
  await expect(chosen).toContainText('Barcode Scanner Bench 2');
  await expect(chosen.getByRole('button', { name: /^Remove / })).toHaveCount(3);

  await page.getByRole('button', { name: 'SUBMIT' }).click();
  await expect(page).toHaveURL(/\/subscriptions$/);
  await expect(page.getByText(`Webhook Subscription “${name}” was created.`)).toBeVisible();
  await expect(page.getByLabel('Signing secret')).toHaveText(/^whsec_/);
  const row = page.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('2 devices · 2 channels · 3 trigger events');

  // Toggle off; it stays off after a reload; the secret is not shown again.
  const toggle = row.getByRole('switch', { name: `Active: ${name}` });
  await expect(toggle).toHaveAttribute('aria-checked', 'true');
  await expect(toggle).toBeEnabled();
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await expect(toggle).toBeEnabled();
  await page.reload();
  await expect(page.getByLabel('Signing secret')).toHaveCount(0);
  await expect(row.getByRole('switch', { name: `Active: ${name}` })).toHaveAttribute('aria-checked', 'false');
  await row.getByRole('switch', { name: `Active: ${name}` }).click();
  await expect(row.getByRole('switch', { name: `Active: ${name}` })).toHaveAttribute('aria-checked', 'true');

  // The pencil opens the same form, filled in; the secret header's value is not shown.
  await row.getByRole('link', { name: `Edit ${name}` }).click();
  await expect(page.getByRole('heading', { name: 'Edit Webhook Subscription' })).toBeVisible();
  await expect(page.getByLabel('Target URL')).toHaveValue('http://127.0.0.1:9999/lims/hooks');
  await expect(page.getByRole('textbox', { name: 'Key of header 1' })).toHaveValue('X-Lab');
  await expect(page.getByRole('textbox', { name: 'Value of header 1' })).toHaveValue('QC');
  await expect(page.getByRole('textbox', { name: 'Key of header 2' })).toHaveValue('Authorization');
  await expect(page.getByRole('textbox', { name: 'Value of header 2' })).toHaveValue('');
  await expect(page.getByRole('checkbox', { name: 'Secret header 2' })).toBeChecked();
  await expect(chosen.getByRole('button', { name: /^Remove / })).toHaveCount(3);
  await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
  await page.getByLabel('Target URL').fill('http://127.0.0.1:9999/eln/hooks');
  await chosen.getByRole('button', { name: 'Remove Back in range on temperature of Hotplate Stirrer RCT digital' }).click();
  await page.getByRole('button', { name: 'SUBMIT' }).click();
  await expect(page).toHaveURL(/\/subscriptions$/);
  await expect(row).toContainText('http://127.0.0.1:9999/eln/hooks');
  await expect(row).toContainText('2 devices · 2 channels · 2 trigger events');

  // The trash bin asks first, naming the subscription.
  await row.getByRole('button', { name: `Delete ${name}` }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete Webhook Subscription' });
  await expect(confirm).toContainText(name);
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(row).toHaveCount(1);
  await row.getByRole('button', { name: `Delete ${name}` }).click();
  await confirm.getByRole('button', { name: 'Delete' }).click();
  await expect(row).toHaveCount(0);
});

test('SUBMIT shows each problem beside its field and keeps what was typed', async ({ page }) => {
  await signIn(page, LAB_USER, '/subscriptions/new');
  await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
  await page.getByLabel('Target URL').fill('https://not-registered.example.com/hook');
  await page.getByRole('textbox', { name: 'Key of header 1' }).fill('Content-Type');
  await page.getByRole('textbox', { name: 'Value of header 1' }).fill('text/plain');
  await page.getByRole('button', { name: 'SUBMIT' }).click();

  await expect(page.getByText('not-registered.example.com is not a registered target URL. Ask an organisation administrator to register it.')).toBeVisible();
  await expect(page.getByText('The header Content-Type cannot be set: it is always application/json.')).toBeVisible();
  await expect(page.getByText('Choose at least one trigger event under Selected Channels.')).toBeVisible();
  await expect(page).toHaveURL(/\/subscriptions\/new$/);
  await expect(page.getByLabel('Target URL')).toHaveValue('https://not-registered.example.com/hook');
  await expect(page.getByLabel('Target URL')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByRole('textbox', { name: 'Value of header 1' })).toHaveValue('text/plain');

  // Fix everything: it goes through.
  await page.getByLabel('Target URL').fill('http://127.0.0.1:9999/fixed');
  await page.getByRole('button', { name: 'Delete header 1' }).click();
  await chooseChannels(page, [{ device: 'CO2 Incubator Heracell', search: 'incub', checks: ['All events of door_open'] }]);
  await page.getByRole('button', { name: 'SUBMIT' }).click();
  await expect(page).toHaveURL(/\/subscriptions$/);
  await expect(page.getByRole('row').filter({ hasText: 'http://127.0.0.1:9999/fixed' })).toBeVisible();
});

test('the Selected Channels pop-up: Escape and Cancel change nothing; only granted devices are offered', async ({ page }) => {
  await signIn(page, LAB_USER, '/subscriptions/new');
  await expect(page.getByRole('button', { name: 'Selected Channels' })).toBeEnabled();
  await chooseChannels(page, [{ device: 'Analytical Balance XPR204', search: 'balance', checks: ['New data point on weight'] }]);
  const chosen = page.getByRole('list', { name: 'Selected channels and trigger events' });
  await expect(chosen.getByRole('button', { name: /^Remove / })).toHaveCount(1);

  await page.getByRole('button', { name: 'Selected Channels' }).click();
  const dialog = page.getByRole('dialog', { name: 'Selected Channels' });
  await dialog.getByLabel('Device name').fill('balance');
  // Choosing the device again shows its current choice.
  await expect(dialog.getByRole('checkbox', { name: 'New data point on weight' })).toBeChecked();
  await dialog.getByRole('checkbox', { name: 'All events of status' }).check();
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(chosen.getByRole('button', { name: /^Remove / })).toHaveCount(1);

  await page.getByRole('button', { name: 'Selected Channels' }).click();
  await dialog.getByLabel('Device name').fill('centrifuge');
  await expect(dialog.getByText('No device you have access to matches “centrifuge”.')).toBeVisible();
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
});

test('an org admin sees every subscription with its owner, may switch it off or delete it, but not edit it', async ({ browser }) => {
  const lab = await (await browser.newContext()).newPage();
  const name = `Bench script ${Date.now()}`;
  await signIn(lab, LAB_USER, '/subscriptions/new');
  await expect(lab.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
  await lab.getByLabel('Target URL').fill('http://127.0.0.1:9999/bench');
  await lab.getByLabel('Display name').fill(name);
  await chooseChannels(lab, [
    { device: 'Density Meter DMA 4500 M', search: 'density', checks: ['Value changed on sample_id'] },
  ]);
  await lab.getByRole('button', { name: 'SUBMIT' }).click();
  await expect(lab).toHaveURL(/\/subscriptions$/);

  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, ADMIN, '/subscriptions');
  const row = admin.getByRole('row').filter({ hasText: name });
  await expect(row).toContainText('Lars Labuser');
  await expect(row.getByRole('link', { name: `Edit ${name}` })).toHaveCount(0);
  await row.getByRole('switch', { name: `Active: ${name}` }).click();
  await expect(row.getByRole('switch', { name: `Active: ${name}` })).toHaveAttribute('aria-checked', 'false');

  await lab.reload();
  const labRow = lab.getByRole('row').filter({ hasText: name });
  await expect(labRow.getByRole('switch', { name: `Active: ${name}` })).toHaveAttribute('aria-checked', 'false');
  // The lab user sees no owner column and nothing of the admin's own subscriptions.
  await expect(lab.getByRole('columnheader', { name: 'Owner' })).toHaveCount(0);

  await row.getByRole('button', { name: `Delete ${name}` }).click();
  await admin.getByRole('dialog', { name: 'Delete Webhook Subscription' }).getByRole('button', { name: 'Delete' }).click();
  await expect(row).toHaveCount(0);
  await lab.reload();
  await expect(labRow).toHaveCount(0);
});

test('a toggle that cannot be saved flips back and says why', async ({ browser }) => {
  const admin = await (await browser.newContext()).newPage();
  await signIn(admin, ADMIN, '/admin');
  const host = `lims-${Date.now()}.example.org`;
  await expect(admin.getByRole('button', { name: 'Register URL' })).toBeEnabled();
  await admin.getByLabel('URL', { exact: true }).fill(`https://${host}/`);
  await admin.getByRole('button', { name: 'Register URL' }).click();
  await expect(admin.getByRole('row').filter({ hasText: host })).toBeVisible();

  const lab = await (await browser.newContext()).newPage();
  const name = `Short-lived ${Date.now()}`;
  await signIn(lab, LAB_USER, '/subscriptions/new');
  await expect(lab.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
  await lab.getByLabel('Target URL').fill(`https://${host}/hooks`);
  await lab.getByLabel('Display name').fill(name);
  await chooseChannels(lab, [{ device: 'Barcode Scanner Bench 2', search: 'barcode', checks: ['New data point on barcode'] }]);
  await lab.getByRole('button', { name: 'SUBMIT' }).click();
  const toggle = lab.getByRole('row').filter({ hasText: name }).getByRole('switch', { name: `Active: ${name}` });
  await expect(toggle).toBeEnabled();
  await toggle.click();
  await expect(toggle).toHaveAttribute('aria-checked', 'false');

  // Meanwhile the admin removes the registered URL.
  await admin.getByRole('button', { name: `Remove https://${host}/` }).click();
  await admin.getByRole('dialog', { name: 'Remove registered URL' }).getByRole('button', { name: 'Remove' }).click();
  await expect(admin.getByRole('row').filter({ hasText: host })).toHaveCount(0);

  // The page still offers the switch; switching on fails and the switch flips back.
  await toggle.click();
  await expect(lab.getByRole('row').filter({ hasText: name }).getByRole('alert')).toContainText('is not a registered target URL any more');
  await expect(toggle).toHaveAttribute('aria-checked', 'false');
  await lab.reload();
  await expect(lab.getByRole('row').filter({ hasText: name })).toContainText('target not registered');
});

test('everything works with the keyboard alone', async ({ page }) => {
  await signIn(page, LAB_USER, '/subscriptions');
  const dots = page.getByRole('button', { name: 'Options' });
  await expect(dots).toBeEnabled();
  await dots.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('menuitem', { name: 'Add new Webhook Subscription' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Add new Webhook Subscription' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();

  await page.getByLabel('Target URL').focus();
  await page.keyboard.type('http://127.0.0.1:9999/keyboard');
  await page.getByRole('button', { name: 'Selected Channels' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Selected Channels' });
  await expect(dialog.getByLabel('Device name')).toBeFocused();
  await page.keyboard.type('ph meter');
  // pH Meter is not granted to the lab user: nothing to choose. Try a granted one.
  await expect(dialog.getByText(/No device you have access to matches/)).toBeVisible();
  await dialog.getByLabel('Device name').fill('');
  await page.keyboard.type('balance');
  const weight = dialog.getByRole('checkbox', { name: 'Value changed on weight' });
  await weight.focus();
  await page.keyboard.press('Space');
  await expect(weight).toBeChecked();
  await dialog.getByRole('button', { name: 'CONFIRM' }).focus();
  await page.keyboard.press('Enter');
  await expect(dialog).toBeHidden();
  await page.getByRole('button', { name: 'SUBMIT' }).focus();
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(/\/subscriptions$/);
  await expect(page.getByRole('row').filter({ hasText: 'http://127.0.0.1:9999/keyboard' })).toBeVisible();
});
