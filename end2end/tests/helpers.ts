import { expect, Page } from '@playwright/test';

export type DemoUser = {
  email: string;
  password: string;
  name: string;
  organisation: string;
  admin: boolean;
  /** Whether the user's organisation has the webhook feature on (demo data). */
  webhooks: boolean;
};

// The demo users the server creates on an empty database (see the README).
export const ADMIN: DemoUser = {
  email: 'admin@demo.lab',
  password: 'demo-admin-pass',
  name: 'Ada Admin',
  organisation: 'Demo Lab',
  admin: true,
  webhooks: true,
};
export const LAB_USER: DemoUser = {
  email: 'lab@demo.lab',
  password: 'demo-lab-pass',
  name: 'Lars Labuser',
  organisation: 'Demo Lab',
  admin: false,
  webhooks: true,
};
export const OTHER_ADMIN: DemoUser = {
  email: 'admin@northwind.lab',
  password: 'other-admin-pass',
  name: 'Nora Northwind',
  organisation: 'Northwind Analytics',
  admin: true,
  webhooks: false,
};

/** Signs in through the sign-in page, waiting for hydration before typing. */
export async function signIn(page: Page, user: DemoUser, path = '/') {
  await page.goto(path === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(path)}`);
  const submit = page.getByRole('button', { name: 'Sign in' });
  await expect(submit).toBeEnabled();
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await submit.click();
  await expect(page.getByRole('button', { name: 'Sign out' })).toBeEnabled();
}

/** Opens an item of the More menu in the header. */
export async function openFromMore(page: Page, item: string) {
  const more = page.getByRole('button', { name: 'More' });
  await expect(more).toBeEnabled();
  await more.click();
  await page.getByRole('menuitem', { name: item }).click();
}
