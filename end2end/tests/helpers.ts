import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { expect, Page } from '@playwright/test';

/** The release binary the suite tests. */
export const BINARY = '../target/release/labhook';

/** An empty folder for a test's own database. */
export function freshFolder(folder: string) {
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
}

/**
 * Starts a server of a test's own on `port` with `database` and the given `serve` flags
 * (receivers on this machine allowed, sign-ins not limited), and waits until it answers.
 */
export async function startServer(database: string, port: number, flags: string[]): Promise<ChildProcess> {
  const server = spawn(BINARY, ['--database', database, 'serve', ...flags, '--allow-loopback-targets',
    '--listen', `127.0.0.1:${port}`, '--site-root', '../target/site', '--sign-ins-per-minute', '1000'],
  { stdio: 'ignore' });
  await expect.poll(async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
    } catch {
      return 0;
    }
  }, { timeout: 30_000 }).toBe(200);
  return server;
}

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

/** Registers `url` on Server Administration (as an org admin, already signed in). */
export async function registerTarget(page: Page, url: string, note = '') {
  await page.goto('/admin');
  await expect(page.getByRole('button', { name: 'Register URL' })).toBeEnabled();
  await page.getByLabel('URL', { exact: true }).fill(url);
  if (note) await page.getByLabel('Note').fill(note);
  await page.getByRole('button', { name: 'Register URL' }).click();
  await expect(page.getByRole('row').filter({ hasText: url })).toBeVisible();
}

/** Subscribes to new data points of the barcode scanner, through the article's steps. */
export async function subscribeToBarcodes(page: Page, targetUrl: string, name: string, useReplies = false) {
  await page.goto('/subscriptions/new');
  await expect(page.getByRole('button', { name: 'SUBMIT' })).toBeEnabled();
  await page.getByLabel('Target URL').fill(targetUrl);
  await page.getByLabel('Display name').fill(name);
  if (useReplies) await page.getByRole('checkbox', { name: "Use the receiver's reply" }).check();
  await page.getByRole('button', { name: 'Selected Channels' }).click();
  const picker = page.getByRole('dialog', { name: 'Selected Channels' });
  await picker.getByLabel('Device name').fill('barcode');
  await picker.getByRole('checkbox', { name: 'New data point on barcode' }).check();
  await picker.getByRole('button', { name: 'CONFIRM' }).click();
  await page.getByRole('button', { name: 'SUBMIT' }).click();
  await expect(page).toHaveURL(/\/subscriptions$/);
}

/** A new token of the barcode scanner (org admin) and the ingest endpoint it is for. */
export async function barcodeScannerToken(page: Page, label: string) {
  await page.goto('/devices');
  const scanner = page.getByRole('region', { name: 'Barcode Scanner Bench 2' });
  await scanner.getByRole('button', { name: 'Tokens of Barcode Scanner Bench 2' }).click();
  const tokens = page.getByRole('dialog', { name: 'Tokens of Barcode Scanner Bench 2' });
  await tokens.getByLabel('Label').fill(label);
  await tokens.getByRole('button', { name: 'Create token' }).click();
  const token = (await tokens.getByText(/^lhd_[A-Za-z0-9_-]{43}$/).textContent())!.trim();
  const endpoint = (await tokens.getByText(/^POST \/api\/v1\/devices\/\d+\/data_points$/).textContent())!.replace('POST ', '');
  await page.keyboard.press('Escape');
  return { token, endpoint };
}
