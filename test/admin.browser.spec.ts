import { existsSync } from 'node:fs';
import { Browser, chromium } from 'playwright-core';
import { eventually, Receiver } from '@dispatch/testing';
import { startSystem, TestSystem } from './system';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('admin app in headless Chromium', () => {
  let system: TestSystem;
  let browser: Browser;
  let receiver: Receiver;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's "chromium" package (.ci/run does)`);
    system = await startSystem();
    receiver = await Receiver.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await receiver?.close();
    await system?.close();
  });

  it('signs in with an API key, creates a webhook destination, sees it listed and its deliveries', async () => {
    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${system.url}/`);

    await page.getByLabel('API key').fill('dsp_wrong-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Unknown API key' }).waitFor();

    await page.getByLabel('API key').fill(system.organization.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Destinations' }).waitFor();

    await page.getByLabel('Name').fill('browser-orders');
    await page.getByLabel('URL').fill('not a url');
    await page.getByRole('button', { name: 'Create destination' }).click();
    await page.getByRole('alert').filter({ hasText: 'config.url' }).waitFor();

    await page.getByLabel('URL').fill(`${receiver.url}/hook`);
    await page.getByLabel('Event types').fill('order.*');
    await page.getByRole('button', { name: 'Create destination' }).click();
    await page.getByText(/Signing secret — shown once/).waitFor();
    expect(await page.getByRole('status').filter({ hasText: 'whsec_' }).count()).toBe(1);

    const row = page.getByRole('table', { name: 'Destinations' }).getByRole('row').filter({ hasText: 'browser-orders' });
    await row.waitFor();
    expect(await row.textContent()).toContain(`${receiver.url}/hook`);
    expect(await row.textContent()).toContain('active');

    const listed = await system.client.get('/v1/destinations');
    const destination = listed.body.data.find((d: { name: string }) => d.name === 'browser-orders');
    expect(destination).toMatchObject({ eventTypes: ['order.*'], config: { url: `${receiver.url}/hook` } });

    await system.client.post('/v1/events', { id: 'evt_browser_1', type: 'order.created', data: {} });
    await receiver.waitFor(1);
    await page.getByRole('button', { name: 'Deliveries' }).click();
    const delivery = page.getByRole('table', { name: 'Deliveries' }).getByRole('row').filter({ hasText: 'evt_browser_1' });
    await delivery.filter({ hasText: 'delivered' }).waitFor({ timeout: 10_000 }).catch(async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      await delivery.filter({ hasText: 'delivered' }).waitFor();
    });
    await delivery.click();
    await page.getByRole('heading', { name: /^Delivery dlv_/ }).waitFor();
    expect(await page.getByText('200').count()).toBeGreaterThan(0);
    await page.close();
  });

  it('replays dead letters and shows the operator actions in the audit log', async () => {
    receiver.answer(() => ({ status: 500 }));
    const created = await system.client.post('/v1/destinations', {
      name: 'browser-flaky',
      kind: 'webhook',
      config: { url: `${receiver.url}/flaky` },
      eventTypes: ['flaky.*'],
      retryPolicy: { maxAttempts: 1 },
    });
    const sent = await system.client.post('/v1/events', { id: 'evt_browser_dead', type: 'flaky.created', data: {} });
    const deliveryId = sent.body.deliveries[0].id;
    await eventually(async () => ((await system.client.get(`/v1/deliveries/${deliveryId}`)).body.status === 'failed' ? true : undefined));
    receiver.answer(() => ({ status: 200 }));

    const page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${system.url}/`);
    await page.getByLabel('API key').fill(system.organization.adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Deliveries' }).click();
    await page.getByLabel('Status').selectOption('failed');
    await page.getByLabel('Destination').selectOption(created.body.id);
    await page.getByRole('button', { name: 'Replay dead letters' }).click();
    await page.getByText('Replay 1 dead letter?').waitFor();
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page.getByRole('status').filter({ hasText: /^Replay rpl_\w+: all 1 done$/ }).waitFor();
    expect((await system.client.get(`/v1/deliveries/${deliveryId}`)).body).toMatchObject({ status: 'delivered', attemptCount: 2 });

    await page.getByRole('button', { name: 'Audit log' }).click();
    const replayRow = page.getByRole('table', { name: 'Audit log' }).getByRole('row').filter({ hasText: 'deliveries.replay' });
    await replayRow.waitFor();
    expect(await replayRow.textContent()).toContain('"count":1');
    await page.close();
  });
});
