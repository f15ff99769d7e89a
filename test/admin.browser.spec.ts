import { createWebhook, sendEvent, waitForDelivery } from '@dispatch/testing';
import { signIn, useBrowser } from './browser';
import { useReceiver, useSystem } from './system';

describe('admin app in headless Chromium', () => {
  const system = useSystem();
  const receiver = useReceiver();
  const browser = useBrowser();

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

    const sent = await sendEvent(system.client, { id: 'evt_browser_1', type: 'order.created' });
    await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    await page.getByRole('button', { name: 'Deliveries' }).click();
    const delivery = page.getByRole('table', { name: 'Deliveries' }).getByRole('row').filter({ hasText: 'evt_browser_1' });
    await delivery.filter({ hasText: 'delivered' }).waitFor();
    // A delivered delivery has no last error (its 200 is not one).
    expect(await delivery.textContent()).not.toContain('HTTP 200');
    await delivery.click();
    await page.getByRole('heading', { name: `Delivery ${sent.deliveries[0].id}` }).waitFor();
    const attempt = page.getByRole('listitem').filter({ hasText: 'Attempt 1' });
    await attempt.waitFor();
    expect(await attempt.getByText('HTTP 200', { exact: true }).count()).toBe(1);
    expect(await attempt.getByText('scheduled', { exact: true }).count()).toBe(1);
    await page.close();
  }, 60_000);

  it('replays dead letters and shows the operator actions in the audit log', async () => {
    receiver.answer(() => ({ status: 500 }));
    const created = await createWebhook(system.client, `${receiver.url}/flaky`, { name: 'browser-flaky', eventTypes: ['flaky.*'], retryPolicy: { maxAttempts: 1 } });
    const sent = await sendEvent(system.client, { id: 'evt_browser_dead', type: 'flaky.created' });
    const deliveryId = sent.deliveries[0].id;
    await waitForDelivery(system.client, deliveryId, 'failed');
    receiver.answer(() => ({ status: 200 }));

    const page = await signIn(browser, system.url, system.organization.adminKey);
    await page.getByRole('button', { name: 'Deliveries' }).click();
    await page.getByLabel('Status').selectOption('failed');
    await page.getByLabel('Destination').selectOption(created.id);
    await page.getByRole('button', { name: 'Replay dead letters' }).click();
    await page.getByText('Replay 1 dead letter?').waitFor();
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await page
      .getByRole('status')
      .filter({ hasText: /^Replay rpl_\w+: all 1 done$/ })
      .waitFor();
    expect((await system.client.get(`/v1/deliveries/${deliveryId}`)).body).toMatchObject({ status: 'delivered', attemptCount: 2 });

    await page.getByRole('button', { name: 'Audit log' }).click();
    const replayRow = page.getByRole('table', { name: 'Audit log' }).getByRole('row').filter({ hasText: 'deliveries.replay' });
    await replayRow.waitFor();
    expect(await replayRow.textContent()).toContain('"count":1');
    await page.close();
  }, 60_000);

  it('pauses, resumes and tests a destination, retries a delivery and cancels a held one from the app', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/ops`, { name: 'browser-ops', eventTypes: ['ops.*'] });
    const page = await signIn(browser, system.url, system.organization.adminKey);
    const row = page.getByRole('table', { name: 'Destinations' }).getByRole('row').filter({ hasText: 'browser-ops' });

    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByRole('button', { name: 'Resume' }).waitFor();
    expect(await row.textContent()).toContain('paused');
    expect((await system.client.get(`/v1/destinations/${destination.id}`)).body.paused).toBe(true);

    // Held while paused; cancelled from the delivery's panel, so never sent.
    const held = (await sendEvent(system.client, { id: 'evt_browser_held', type: 'ops.held' })).deliveries[0].id;
    await page.getByRole('button', { name: 'Deliveries' }).click();
    await page.getByRole('table', { name: 'Deliveries' }).getByRole('row').filter({ hasText: 'evt_browser_held' }).click();
    await page.getByRole('heading', { name: `Delivery ${held}` }).waitFor();
    await page.getByRole('button', { name: 'Cancel delivery' }).click();
    await page.getByRole('status').filter({ hasText: 'Delivery cancelled.' }).waitFor();
    expect((await system.client.get(`/v1/deliveries/${held}`)).body.status).toBe('cancelled');

    await page.getByRole('button', { name: 'Destinations' }).click();
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByRole('button', { name: 'Pause' }).waitFor();
    expect((await system.client.get(`/v1/destinations/${destination.id}`)).body.paused).toBe(false);

    await row.getByRole('button', { name: 'Test' }).click();
    await row
      .getByRole('status')
      .filter({ hasText: /^OK — HTTP 200 in \d+ ms$/ })
      .waitFor();
    expect(receiver.requests.map((request) => JSON.parse(request.body).type)).toEqual(['dispatch.test']);

    // A delivered one, sent again from its panel: the new attempt shows as manual.
    const sent = (await sendEvent(system.client, { id: 'evt_browser_again', type: 'ops.again' })).deliveries[0].id;
    await waitForDelivery(system.client, sent, 'delivered');
    await page.getByRole('button', { name: 'Deliveries' }).click();
    await page.getByRole('table', { name: 'Deliveries' }).getByRole('row').filter({ hasText: 'evt_browser_again' }).click();
    await page.getByRole('heading', { name: `Delivery ${sent}` }).waitFor();
    await page.getByRole('button', { name: 'Retry now' }).click();
    const second = page.getByRole('listitem').filter({ hasText: 'Attempt 2' });
    await second.waitFor();
    expect(await second.getByText('manual', { exact: true }).count()).toBe(1);
    expect(receiver.eventIds().filter((id) => id === 'evt_browser_again')).toHaveLength(2);
    expect(receiver.eventIds()).not.toContain('evt_browser_held');
    await page.close();
  }, 60_000);
});
