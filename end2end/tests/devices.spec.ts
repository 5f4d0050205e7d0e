import { execSync } from 'node:child_process';
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

test('an admin adds a device with two channels, creates its token, and its first value arrives', async ({ page }) => {
  await signIn(page, ADMIN);
  await openFromMore(page, 'Devices');
  await page.getByRole('button', { name: 'Add device' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add device' });
  await expect(dialog).toBeVisible();
  const name = `Plate Reader ${Date.now()}`;
  await dialog.getByLabel('Name', { exact: true }).fill(name);
  await dialog.getByLabel('Vendor').fill('Tecan');
  await dialog.getByLabel('Device class').selectOption('Analyzer');
  await dialog.getByLabel('Channel 1 name').fill('absorbance');
  await dialog.getByLabel('Channel 1 unit').fill('AU');
  await dialog.getByLabel('Channel 1 lowest acceptable value').fill('0');
  await dialog.getByLabel('Channel 1 highest acceptable value').fill('-4');
  await dialog.getByRole('button', { name: 'ADD CHANNEL' }).click();
  await dialog.getByLabel('Channel 2 name').fill('lid');
  await dialog.getByLabel('Channel 2 kind of value').selectOption('choice');
  await dialog.getByLabel('Channel 2 choices, separated by commas').fill('closed');

  // The server's rules answer beside the field, and nothing is lost.
  await dialog.getByRole('button', { name: 'CREATE DEVICE' }).click();
  await expect(dialog.getByText('A choice channel needs between 2 and 20 labels.')).toBeVisible();
  // What was typed in the first row reached the server: its own message is beside it.
  await expect(dialog.getByText('The highest acceptable value (-4) is below the lowest (0).')).toBeVisible();
  await dialog.getByLabel('Channel 1 highest acceptable value').fill('4');
  await expect(dialog.getByLabel('Channel 1 name')).toHaveValue('absorbance');
  await dialog.getByLabel('Channel 2 choices, separated by commas').fill('closed, open');
  await dialog.getByRole('button', { name: 'CREATE DEVICE' }).click();
  await expect(dialog.getByText(`${name} was created.`)).toBeVisible();
  const id = (await dialog.getByTestId('new-device-id').textContent())!.trim();

  // Its token, in the same flow.
  await dialog.getByRole('button', { name: 'Create its token' }).click();
  const tokens = page.getByRole('dialog', { name: `Tokens of ${name}` });
  await expect(tokens).toBeVisible();
  await tokens.getByLabel('Label').fill('Reader connector');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  await expect(tokens.getByText(/^lhd_[A-Za-z0-9_-]{43}$/)).toBeVisible();
  // The example request is ready to run as shown: this server, this device, its channels.
  const curl = (await tokens.getByTestId('curl-example').textContent())!;
  expect(curl).toContain(`/api/v1/devices/${id}/data_points`);
  expect(curl).toContain('"channel": "absorbance", "value": 2.0');
  expect(curl).toContain('"channel": "lid", "value": "closed"');
  await expect(tokens.getByRole('button', { name: 'Copy the example request' })).toBeVisible();
  await page.keyboard.press('Escape');

  const answer = execSync(curl.replace(/\\\n/g, ' '), { encoding: 'utf8' });
  expect(JSON.parse(answer).accepted).toBe(2);
  const device = page.getByRole('region', { name });
  await expect(device.getByRole('row', { name: /absorbance/ }).getByText('2.0', { exact: true })).toBeVisible();
  await expect(device.getByRole('row', { name: /lid/ }).getByText('closed', { exact: true })).toBeVisible();

  // Archived, it is hidden and sends nothing; with data it cannot be deleted; restored.
  await device.getByRole('button', { name: `Archive ${name}` }).click();
  await device.getByRole('button', { name: 'Archive device' }).click();
  await expect(device.getByText(/Hidden from the channel picker/)).toBeVisible();
  await device.getByRole('button', { name: `Delete ${name}` }).click();
  await device.getByRole('button', { name: 'Delete device' }).click();
  await expect(device.getByText(/cannot be deleted: it has/)).toBeVisible();
  await device.getByRole('button', { name: `Restore ${name}` }).click();
  await device.getByRole('button', { name: 'Restore device' }).click();
  await expect(device.getByText(/Hidden from the channel picker/)).toBeHidden();

  // Renamed: the card follows.
  await device.getByRole('button', { name: `Edit ${name}` }).click();
  const editing = page.getByRole('dialog', { name: `Edit ${name}` });
  await editing.getByLabel('Model').fill('Spark 20M');
  await editing.getByRole('button', { name: 'SAVE' }).click();
  await expect(editing).toBeHidden();
  await expect(device.getByText(/Spark 20M/)).toBeVisible();

  // A second device of the same name is refused, beside the name.
  await page.getByRole('button', { name: 'Add device' }).click();
  await dialog.getByLabel('Name', { exact: true }).fill(name.toLowerCase());
  await dialog.getByLabel('Channel 1 name').fill('x');
  await dialog.getByRole('button', { name: 'CREATE DEVICE' }).click();
  await expect(dialog.getByText(`A device named "${name.toLowerCase()}" exists already in your organisation.`)).toBeVisible();
});

test('an admin adds, changes and removes channels of a device, and is told why a type change is refused', async ({ page, request }) => {
  await signIn(page, ADMIN, '/devices');
  await page.getByRole('button', { name: 'Add device' }).click();
  const create = page.getByRole('dialog', { name: 'Add device' });
  const name = `Water Bath ${Date.now()}`;
  await create.getByLabel('Name', { exact: true }).fill(name);
  await create.getByLabel('Channel 1 name').fill('temperature');
  await create.getByLabel('Channel 1 unit').fill('°C');
  await create.getByRole('button', { name: 'CREATE DEVICE' }).click();
  await create.getByRole('button', { name: 'Create its token' }).click();
  const tokens = page.getByRole('dialog', { name: `Tokens of ${name}` });
  await tokens.getByLabel('Label').fill('bath');
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const token = (await tokens.getByText(/^lhd_[A-Za-z0-9_-]{43}$/).textContent())!.trim();
  const endpoint = (await tokens.getByText(/^POST \/api\/v1\/devices\/\d+\/data_points$/).textContent())!.replace('POST ', '');
  await page.keyboard.press('Escape');
  const bath = page.getByRole('region', { name });

  // Add a channel.
  await bath.getByRole('button', { name: `Add channel to ${name}` }).click();
  const add = page.getByRole('dialog', { name: `Add channel to ${name}` });
  await add.getByLabel('Channel name').fill('Temperature');
  await add.getByRole('button', { name: 'ADD CHANNEL' }).click();
  await expect(add.getByText('This device has a channel named "Temperature" already.')).toBeVisible();
  await add.getByLabel('Channel name').fill('level');
  await add.getByLabel('Channel kind of value').selectOption('yes_no');
  await add.getByRole('button', { name: 'ADD CHANNEL' }).click();
  await expect(add).toBeHidden();
  await expect(bath.getByRole('row', { name: /level/ })).toBeVisible();

  // A range for the next point; the stored numbers keep the channel a number channel.
  expect((await request.post(endpoint, {
    headers: { Authorization: `Bearer ${token}` },
    data: [{ channel: 'temperature', value: 25 }],
  })).status()).toBe(202);
  await bath.getByRole('button', { name: 'Edit channel temperature' }).click();
  const edit = page.getByRole('dialog', { name: `Edit channel temperature of ${name}` });
  await expect(edit.getByLabel('Channel name')).toHaveValue('temperature');
  await edit.getByLabel('Channel lowest acceptable value').fill('10');
  await edit.getByLabel('Channel highest acceptable value').fill('20');
  await edit.getByRole('button', { name: 'SAVE CHANNEL' }).click();
  await expect(edit).toBeHidden();
  await expect(bath.getByRole('row', { name: /temperature/ })).toContainText('10 – 20 °C');
  await bath.getByRole('button', { name: 'Edit channel temperature' }).click();
  await edit.getByLabel('Channel kind of value').selectOption('text');
  await edit.getByRole('button', { name: 'SAVE CHANNEL' }).click();
  await expect(edit.getByText(/cannot become a text channel: its 1 stored data points are numbers/)).toBeVisible();
  await edit.getByRole('button', { name: 'CANCEL' }).click();

  // Removing asks first and says what goes with it.
  await bath.getByRole('button', { name: 'Remove channel level' }).click();
  const remove = page.getByRole('dialog', { name: 'Remove channel level?' });
  await expect(remove.getByText('No subscription uses this channel.')).toBeVisible();
  await expect(remove.getByText(/Its 0 stored data points will be deleted/)).toBeVisible();
  await remove.getByRole('button', { name: 'Keep channel' }).click();
  await expect(bath.getByRole('row', { name: /level/ })).toBeVisible();
  await bath.getByRole('button', { name: 'Remove channel level' }).click();
  await remove.getByRole('button', { name: 'Remove channel' }).click();
  await expect(bath.getByRole('row', { name: /level/ })).toHaveCount(0);
});
