import { expect, test } from '@playwright/test';
import { ADMIN, openFromMore, signIn } from './helpers';

test('an admin adds a user, resets their password and deactivates them; they cannot lock themself out', async ({ page }) => {
  await signIn(page, ADMIN);
  await openFromMore(page, 'Users');
  await expect(page).toHaveURL(/\/users$/);

  // Themself: no role change, no deactivation.
  const me = page.getByRole('row', { name: /Ada Admin/ });
  await expect(me.getByText('You', { exact: true })).toBeVisible();
  await expect(me.getByRole('combobox', { name: 'Role of Ada Admin' })).toBeDisabled();
  await expect(me.getByRole('button', { name: /Deactivate/ })).toHaveCount(0);

  const email = `pia.${Date.now()}@demo.lab`;
  await page.getByRole('button', { name: 'Add user' }).click();
  const add = page.getByRole('dialog', { name: 'Add user' });
  await add.getByLabel('Name').fill('Pia Pipette');
  await add.getByLabel('Email').fill('lab@demo.lab');
  await add.getByRole('button', { name: 'ADD USER' }).click();
  await expect(add.getByText('Someone with the email lab@demo.lab has an account already.')).toBeVisible();
  await add.getByLabel('Email').fill(email);
  await add.getByRole('button', { name: 'ADD USER' }).click();
  const shown = page.getByRole('dialog', { name: 'Password link for Pia Pipette' });
  await expect(shown.getByTestId('password-link')).toHaveText(/\/set-password\?token=/);
  await expect(shown.getByRole('button', { name: 'Copy the password link' })).toBeVisible();
  await shown.getByRole('button', { name: 'Done' }).click();

  const pia = page.getByRole('row', { name: new RegExp(email.replace('.', '\\.')) });
  await expect(pia).toContainText('never');
  await pia.getByRole('combobox', { name: 'Role of Pia Pipette' }).selectOption('org_admin');
  await expect(pia.getByText('All (administrator)')).toBeVisible();
  await page.reload();
  await expect(pia.getByRole('combobox', { name: 'Role of Pia Pipette' })).toHaveValue('org_admin');

  await pia.getByRole('button', { name: 'Reset password of Pia Pipette' }).click();
  await pia.getByRole('button', { name: 'Reset password', exact: true }).click();
  await expect(page.getByRole('dialog', { name: 'Password link for Pia Pipette' })).toBeVisible();
  await page.getByRole('dialog', { name: 'Password link for Pia Pipette' }).getByRole('button', { name: 'Done' }).click();

  await pia.getByRole('button', { name: 'Deactivate Pia Pipette' }).click();
  await expect(pia.getByText(/their API tokens stop working for good/)).toBeVisible();
  await pia.getByRole('button', { name: 'Deactivate user' }).click();
  await expect(pia.getByText('Deactivated', { exact: true })).toBeVisible();
  await pia.getByRole('button', { name: 'Reactivate Pia Pipette' }).click();
  await pia.getByRole('button', { name: 'Reactivate user' }).click();
  await expect(pia.getByText('Deactivated', { exact: true })).toHaveCount(0);

  // Every change is in the audit trail.
  await page.goto('/admin/audit');
  await expect(page.getByRole('row', { name: /Pia Pipette/ }).first()).toBeVisible();
});
