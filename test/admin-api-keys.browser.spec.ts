import { useBrowser } from './browser';
import { useSystem } from './system';

describe('admin app: API keys, in headless Chromium', () => {
  const system = useSystem({ worker: false });
  const browser = useBrowser();

  it('lists the keys, creates one shown once with a copy button, revokes it after confirming, and shows the 409 of the last admin key', async () => {
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: system.url });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    try {
      await page.goto(`${system.url}/`);
      await page.getByLabel('API key').fill(system.organization.adminKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'API keys' }).click();

      const table = page.getByRole('table', { name: 'API keys' });
      const row = (name: string) => table.getByRole('row').filter({ hasText: name });
      await row('producer').waitFor();
      expect(await table.getByRole('row').count()).toBe(4);
      expect(await row('viewer').textContent()).toContain('never');

      // A bad name: the API's 400 beside the form, naming the field.
      await page.getByLabel('Name').fill('   ');
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.getByRole('alert').filter({ hasText: 'name' }).waitFor();

      await page.getByLabel('Name').fill('browser-ci');
      await page.getByLabel('Role').selectOption('producer');
      await page.getByRole('button', { name: 'Create key' }).click();
      const shown = page.getByRole('status').filter({ hasText: 'it will not be shown again' });
      await shown.waitFor();
      const key = (await shown.getByLabel('New API key').textContent()) ?? '';
      expect(key).toMatch(/^dsp_/);
      await shown.getByRole('button', { name: 'Copy' }).click();
      await shown.getByText('Copied to the clipboard.').waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
      await row('browser-ci').waitFor();
      expect(await row('browser-ci').textContent()).toContain('producer');
      expect((await system.client.as(key).post('/v1/events', { type: 'from.browser.key', data: {} })).status).toBe(202);

      // Revoking asks first; Cancel keeps the key.
      await page.getByRole('button', { name: 'Revoke browser-ci' }).click();
      const question = page.getByRole('group').filter({ hasText: 'Revoke browser-ci (producer)?' });
      await question.waitFor();
      await question.getByRole('button', { name: 'Cancel' }).click();
      expect(await question.count()).toBe(0);
      expect((await system.client.as(key).get('/v1/events')).status).toBe(200);

      await page.getByRole('button', { name: 'Revoke browser-ci' }).click();
      await question.getByRole('button', { name: 'Revoke key' }).click();
      await page.getByRole('status').filter({ hasText: 'Revoked browser-ci' }).waitFor();
      // Its Revoked cell shows when.
      await row('browser-ci').getByRole('cell').nth(4).getByText(/UTC$/).waitFor();
      expect(await row('browser-ci').getByRole('button', { name: 'Revoke browser-ci' }).count()).toBe(0);
      expect((await system.client.as(key).get('/v1/events')).status).toBe(401);

      // The organization's only admin key (the one signed in with) cannot be revoked.
      await page.getByRole('button', { name: 'Revoke admin' }).click();
      await page.getByRole('button', { name: 'Revoke key' }).click();
      await page.getByRole('alert').filter({ hasText: 'last admin key' }).waitFor();
      expect((await system.client.get('/v1/api-keys')).status).toBe(200);

      // Once left, the key is nowhere to be seen again.
      await page.reload();
      await page.getByRole('button', { name: 'API keys' }).click();
      await row('browser-ci').waitFor();
      expect(await page.content()).not.toContain(key);
    } finally {
      await context.close();
    }
  }, 60_000);

  it('shows a producer key the API refusing it the list (403)', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    try {
      await page.goto(`${system.url}/#/api-keys`);
      await page.getByLabel('API key').fill(system.organization.producerKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'needs admin' }).waitFor();
    } finally {
      await page.close();
    }
  });
});
