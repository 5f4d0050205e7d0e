import { expect, test } from '@playwright/test';
import { ADMIN, LAB_USER, OTHER_ADMIN, signIn } from './helpers';

for (const user of [ADMIN, LAB_USER, OTHER_ADMIN]) {
  test(`${user.email} signs in, sees the More menu for their role, and signs out`, async ({ page }) => {
    await signIn(page, user);
    const header = page.getByRole('banner');
    await expect(header.getByText(user.organisation)).toBeVisible();
    await expect(header.getByText(user.name)).toBeVisible();

    await page.getByRole('button', { name: 'More' }).click();
    const menu = page.getByRole('menu', { name: 'More' });
    await expect(menu.getByRole('menuitem', { name: 'Devices' })).toBeVisible();
    // Webhook Subscriptions only where the organisation switched the feature on.
    await expect(menu.getByRole('menuitem', { name: 'Webhook Subscriptions' })).toHaveCount(user.webhooks ? 1 : 0);
    if (user.admin) {
      await expect(menu.getByRole('menuitem', { name: 'Server Administration' })).toBeVisible();
    } else {
      await expect(menu.getByRole('menuitem', { name: 'Server Administration' })).toHaveCount(0);
    }
    await page.keyboard.press('Escape');
    await expect(menu).toBeHidden();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await expect(page).toHaveURL(/\/sign-in/);
    // The session is gone on the server too: a protected page sends us back to sign in.
    await page.goto('/subscriptions');
    await expect(page).toHaveURL(/\/sign-in\?next=%2Fsubscriptions/);
  });
}

test('a wrong password shows one generic message and keeps the user on the sign-in page', async ({ page }) => {
  await page.goto('/sign-in');
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  await page.getByLabel('Email').fill(LAB_USER.email);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('The email or password is not correct.');
  await expect(page).toHaveURL(/\/sign-in/);
});

test('after signing in, the user lands on the page they asked for', async ({ page }) => {
  await page.goto('/devices');
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fdevices/);
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeEnabled();
  await page.getByLabel('Email').fill(LAB_USER.email);
  await page.getByLabel('Password').fill(LAB_USER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/devices$/);
});

test('the More menu works with the keyboard alone', async ({ page }) => {
  await signIn(page, ADMIN);
  const more = page.getByRole('button', { name: 'More' });
  await more.focus();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByRole('menuitem', { name: 'Devices' })).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByRole('menuitem', { name: 'Webhook Subscriptions' })).toBeFocused();
  await page.keyboard.press('End');
  await expect(page.getByRole('menuitem', { name: 'Server Administration' })).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(more).toBeFocused();
  await expect(more).toHaveAttribute('aria-expanded', 'false');
});
