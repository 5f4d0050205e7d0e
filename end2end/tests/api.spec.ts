import { expect, test } from '@playwright/test';
import { ADMIN, LAB_USER, openFromMore, signIn } from './helpers';

// An integrator's first minutes: a personal token from More → API → My API tokens, a subscription
// created with it through the API (the reference's create example), seen on the page; the
// token revoked, and refused from then on. More → API reads the served OpenAPI document.
test('a lab user creates an API token, automates with it, and revokes it', async ({ page, request }) => {
  await signIn(page, LAB_USER);
  await openFromMore(page, 'API');
  await page.getByRole('link', { name: 'My API tokens' }).click();
  await expect(page.getByRole('heading', { name: 'My API tokens', level: 1 })).toBeVisible();

  const label = `LIMS deploy ${Date.now()}`;
  const create = page.getByRole('button', { name: 'Create token' });
  await expect(create).toBeEnabled();
  await create.click();
  const dialog = page.getByRole('dialog', { name: 'Create API token' });
  // Nothing is made without a label; the server says so under the field.
  await dialog.getByRole('button', { name: 'CREATE TOKEN' }).click();
  await expect(dialog.getByText('Please enter a name.')).toBeVisible();
  await dialog.getByLabel('Label').fill(label);
  await dialog.getByRole('checkbox', { name: /^write/ }).check();
  await dialog.getByLabel('Expires').selectOption('30');
  await dialog.getByRole('button', { name: 'CREATE TOKEN' }).click();

  const shown = page.getByRole('dialog', { name: 'Your new API token' });
  const token = (await shown.getByLabel('API token', { exact: true }).textContent())!.trim();
  expect(token).toMatch(/^lhp_[A-Za-z0-9_-]{43}$/);
  await expect(shown.getByLabel('Example request', { exact: true })).toContainText(`Authorization: Bearer ${token}`);
  await shown.getByRole('button', { name: 'Done' }).click();
  const mine = page.getByRole('table', { name: 'Your API tokens' });
  const row = mine.getByRole('row').filter({ hasText: label });
  await expect(row).toContainText('read, write');
  await expect(row).toContainText(token.slice(0, 10));
  await expect(page.getByText(token)).toHaveCount(0); // shown once only

  // The integrator's script: the reference's create example with our URL and channel.
  const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/vnd.api+json' };
  const channels = await request.get('/api/v2/channels?filter[name]=barcode', { headers });
  expect(channels.status()).toBe(200);
  const channel = (await channels.json()).data[0].id;
  const name = `Scripted ${Date.now()}`;
  const created = await request.post('/api/v2/webhook_subscriptions', {
    headers,
    data: { data: { type: 'webhook_subscription', attributes: {
      display_name: name, url: 'http://127.0.0.1:9999/scripted', triggers: [channel], headers: { a: 'b' },
    } } },
  });
  expect(created.status()).toBe(200);
  const body = await created.json();
  expect(body.data.attributes.triggers).toEqual([`${channel}:data_point.created`]);
  expect(body.data.meta.signing_secret).toMatch(/^whsec_/);

  await page.goto('/subscriptions');
  await expect(page.getByRole('row').filter({ hasText: name })).toBeVisible();

  // The table shows when it was last used; revoking asks first.
  await page.goto('/api-tokens');
  await expect(row.getByRole('cell').nth(3)).not.toHaveText('never');
  await row.getByRole('button', { name: `Revoke ${label}` }).click();
  await row.getByRole('button', { name: 'Revoke token' }).click();
  await expect(row.getByText('Revoked')).toBeVisible();
  const refused = await request.get('/api/v2/webhook_subscriptions', { headers });
  expect(refused.status()).toBe(401);
  await page.reload();
  await expect(page.getByRole('table', { name: 'Your API tokens' }).getByRole('row').filter({ hasText: label }).getByText('Revoked')).toBeVisible();
});

test('an org admin sees the organisation’s tokens; More → API is the reference', async ({ page }) => {
  await signIn(page, ADMIN, '/api-tokens');
  await expect(page.getByRole('heading', { name: 'All tokens of your organisation' })).toBeVisible();

  await openFromMore(page, 'API');
  await expect(page.getByRole('heading', { name: 'API', level: 1 })).toBeVisible();
  const subscriptions = page.getByRole('region', { name: 'webhook_subscriptions' });
  await expect(subscriptions).toBeVisible();
  const create = subscriptions.locator('details').filter({ hasText: 'POST /api/v2/webhook_subscriptions' }).first();
  await create.locator('summary').click();
  await expect(create.getByText('422', { exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: '/api/v2/openapi.json' })).toHaveAttribute('href', '/api/v2/openapi.json');
});
