import type { Locator, Page } from 'playwright-core';
import { createWebhook, eventually, sendEvent, waitForDelivery } from '@dispatch/testing';
import { signIn, useBrowser } from './browser';
import { useReceiver, useSystem } from './system';

/** The chart's colours (DeliveryChart.tsx): a bar of each series is a path filled with its colour. */
const DELIVERED_FILL = '#1f7a3d';
const FAILED_FILL = '#b42318';
const RETRIED_FILL = '#c98a12';

/**
 * The operator's view of destination health, delivery metrics and alerts (docs/admin.md), in
 * headless Chromium against the real API and worker.
 */
describe('admin app: destination health, its own page and alerts in headless Chromium', () => {
  // Alerts are evaluated twice a second, so an alert opens within the test's patience.
  const system = useSystem({ env: { DISPATCH_ALERTS_EVALUATE_MS: '500' } });
  const receiver = useReceiver();
  const browser = useBrowser();

  function row(page: Page, table: string, text: string): Locator {
    return page.getByRole('table', { name: table }).getByRole('row').filter({ hasText: text });
  }

  /** A figure of the health section, by its label. */
  function fact(page: Page, label: string): Locator {
    return page
      .getByRole('region', { name: 'Health' })
      .locator('.stats > div')
      .filter({ has: page.getByText(label, { exact: true }) })
      .locator('dd');
  }

  /** Sends one event of `type` to `destinationId` and waits until its delivery has `status`. */
  async function deliver(destinationId: string, type: string, status: 'delivered' | 'failed', id?: string): Promise<string> {
    const sent = await sendEvent(system.client, { type, destinations: [destinationId], ...(id ? { id } : {}) });
    await waitForDelivery(system.client, sent.deliveries[0].id, status, 20_000);
    return sent.id;
  }

  async function openDestinationPage(page: Page, destinationId: string, name: string): Promise<void> {
    await page.goto(`${system.url}/#/destinations/${destinationId}`);
    await page.getByRole('heading', { name }).waitFor();
  }

  it('shows a failing destination as unhealthy and a working one as healthy in the list; a name opens its page', async () => {
    receiver.answer((request) => (request.path === '/down' ? { status: 500, body: 'down' } : { status: 200 }));
    const failing = await createWebhook(system.client, `${receiver.url}/down`, { name: 'list-failing', retryPolicy: { maxAttempts: 1 } });
    const working = await createWebhook(system.client, `${receiver.url}/up`, { name: 'list-working' });
    for (let i = 0; i < 3; i++) await deliver(failing.id, 'list.failing', 'failed');
    await deliver(working.id, 'list.working', 'delivered');

    const page = await signIn(browser, system.url, system.organization.adminKey);
    await row(page, 'Destinations', 'list-failing').waitFor();
    expect(await row(page, 'Destinations', 'list-failing').locator('.badge-unhealthy').textContent()).toBe('unhealthy');
    expect(await row(page, 'Destinations', 'list-working').locator('.badge-healthy').textContent()).toBe('healthy');
    expect(await row(page, 'Destinations', 'list-working').locator('.badge-unhealthy').count()).toBe(0);

    await row(page, 'Destinations', 'list-failing').getByRole('link', { name: 'list-failing' }).click();
    await page.getByRole('heading', { name: 'list-failing' }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#/destinations/${failing.id}`);
    expect(await fact(page, 'Consecutive failures').textContent()).toBe('3');
    expect(await fact(page, 'Status').textContent()).toBe('unhealthy');
    expect(await fact(page, 'Last success').textContent()).toBe('—');
    // Failures only: bars of failed deliveries, and no latency to draw.
    await page.locator(`.recharts-bar-rectangle path[fill="${FAILED_FILL}"]`).first().waitFor();
    await page.getByText('Nothing was delivered in this range: no latency to show.').waitFor();
    await page.getByRole('link', { name: '← Destinations' }).click();
    await page.getByRole('table', { name: 'Destinations' }).waitFor();
    await page.close();
  }, 90_000);

  it("a destination's page shows its health, charts its delivered, failed and retried deliveries and their latency, and lists only its deliveries", async () => {
    receiver.answer(() => ({ status: 200, delayMs: 20 }));
    const charted = await createWebhook(system.client, `${receiver.url}/charted`, { name: 'charted', retryPolicy: { maxAttempts: 2, schedule: [100] } });
    const other = await createWebhook(system.client, `${receiver.url}/other`, { name: 'charted-other' });
    for (let i = 0; i < 4; i++) await deliver(charted.id, 'chart.ok', 'delivered');
    // Refused once, then delivered: a retry. Refused twice: a dead letter.
    receiver.answerEvent('evt_chart_retried', (earlier) => (earlier === 0 ? { status: 503 } : { status: 200 }));
    await deliver(charted.id, 'chart.retried', 'delivered', 'evt_chart_retried');
    receiver.answerEvent('evt_chart_failed', () => ({ status: 500 }));
    await deliver(charted.id, 'chart.failed', 'failed', 'evt_chart_failed');
    const otherEvent = await deliver(other.id, 'chart.other', 'delivered');

    const page = await signIn(browser, system.url, system.organization.adminKey);
    await openDestinationPage(page, charted.id, 'charted');

    // Health, as the API tells it.
    await fact(page, 'Attempts made').waitFor();
    const health = (await system.client.get(`/v1/destinations/${charted.id}/health`)).body;
    expect(await fact(page, 'Attempts made').textContent()).toBe(String(health.totalDeliveries));
    expect(await fact(page, 'Failed attempts').textContent()).toBe(
      `${health.totalFailures} (${Math.round((health.totalFailures / health.totalDeliveries) * 1000) / 10}%)`,
    );
    expect(await fact(page, 'Current rate').textContent()).toBe('100 per s (fixed)');
    expect(await fact(page, 'Consecutive failures').textContent()).toBe(String(health.consecutiveFailures));
    expect(await fact(page, 'Backlog').textContent()).toBe('0');
    expect(await fact(page, 'Circuit').textContent()).toBe('closed (attempts flow)');
    expect(await fact(page, 'Last success').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    expect(await fact(page, 'Average response').textContent()).toMatch(/^\d+ ms$/);

    // The chart: a bar of each series, the latency lines' points, and the totals the API counts.
    const chart = page.getByRole('region', { name: 'Deliveries over time' });
    const counts = chart.getByRole('figure', { name: 'Deliveries (the last hour, per minute, UTC)' });
    await counts.locator('svg.recharts-surface').first().waitFor();
    expect(await counts.locator(`.recharts-bar-rectangle path[fill="${DELIVERED_FILL}"]`).count()).toBeGreaterThan(0);
    expect(await counts.locator(`.recharts-bar-rectangle path[fill="${FAILED_FILL}"]`).count()).toBeGreaterThan(0);
    expect(await counts.locator(`.recharts-bar-rectangle path[fill="${RETRIED_FILL}"]`).count()).toBeGreaterThan(0);
    const latency = chart.getByRole('figure', { name: 'Latency of delivered attempts (ms)' });
    expect(await latency.locator('.recharts-line-dots circle').count()).toBeGreaterThan(0);
    const { totals } = (
      await system.client.get(`/v1/metrics/deliveries?destinationId=${charted.id}&bucket=minute&since=${new Date(Date.now() - 3_600_000).toISOString()}`)
    ).body;
    expect(totals).toEqual({ delivered: 5, failed: 1, retried: 2 });
    expect(await chart.locator('.chart-totals').textContent()).toBe('In the last hour, per minute: 5 delivered, 1 failed, 2 retried.');

    // Per hour: the same deliveries, over a day.
    await chart.getByRole('button', { name: 'Per hour' }).click();
    const hourly = chart.getByRole('figure', { name: 'Deliveries (the last 24 hours, per hour, UTC)' });
    await hourly.waitFor();
    expect(await chart.getByRole('button', { name: 'Per hour' }).getAttribute('aria-pressed')).toBe('true');
    expect(await hourly.locator(`.recharts-bar-rectangle path[fill="${DELIVERED_FILL}"]`).count()).toBeGreaterThan(0);
    expect(await chart.locator('.chart-totals').textContent()).toBe('In the last 24 hours, per hour: 5 delivered, 1 failed, 2 retried.');

    // Recent deliveries: this destination's six, not the other one's.
    const deliveries = page.getByRole('table', { name: 'Deliveries' });
    await deliveries.getByRole('row').filter({ hasText: 'evt_chart_failed' }).waitFor();
    expect(await deliveries.locator('tbody tr').count()).toBe(6);
    expect(await deliveries.textContent()).not.toContain(otherEvent);
    await deliveries.getByRole('row').filter({ hasText: 'evt_chart_failed' }).click();
    const panel = page.getByRole('region', { name: /^Delivery / });
    await panel.getByText('Attempt 2').waitFor();
    await page.close();
  }, 90_000);

  it("an empty destination's page says there is nothing to chart and no deliveries", async () => {
    const quiet = await createWebhook(system.client, `${receiver.url}/quiet`, { name: 'quiet' });
    const page = await signIn(browser, system.url, system.organization.adminKey);
    await openDestinationPage(page, quiet.id, 'quiet');
    await page.getByText('Nothing was delivered, failed or retried in the last hour, per minute.').waitFor();
    await page.getByText('No deliveries match.').waitFor();
    expect(await fact(page, 'Status').textContent()).toBe('healthy');
    expect(await fact(page, 'Current rate').textContent()).toBe('100 per s (fixed)');
    await page.close();
  }, 60_000);

  it("edits the rate limit (adaptive) and the circuit breaker on the destination's page; the API shows them, and refuses a bad threshold by name", async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/edited`, { name: 'flow-edit' });
    const page = await signIn(browser, system.url, system.organization.adminKey);
    await openDestinationPage(page, destination.id, 'flow-edit');
    const form = page.getByRole('form', { name: 'Settings' });
    await form.waitFor();

    // Shown as stored: the defaults.
    expect(await form.getByLabel('Max requests').inputValue()).toBe('100');
    expect(await form.getByLabel('Adaptive').isChecked()).toBe(false);
    expect(await form.getByLabel('Open the circuit on failures').isChecked()).toBe(true);
    expect(await form.getByLabel('Consecutive failures').inputValue()).toBe('10');
    expect(await form.getByLabel('Recovery after (ms)').inputValue()).toBe('300000');

    await form.getByLabel('Adaptive').check();
    await form.getByLabel('Max requests').fill('20');
    await form.getByLabel('Consecutive failures').fill('4');
    await form.getByLabel('Failure rate').fill('0.3');
    await form.getByLabel('Half-open probes').fill('1');
    await form.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved flow-edit.' }).waitFor();
    let stored = (await system.client.get(`/v1/destinations/${destination.id}`)).body;
    expect(stored.rateLimit).toEqual({ max: 20, durationMs: 1000, adaptive: true });
    expect(stored.circuitBreaker).toEqual({
      enabled: true,
      failureThreshold: 4,
      failureRateThreshold: 0.3,
      minimumRequests: 20,
      windowMs: 60000,
      recoveryTimeoutMs: 300000,
      halfOpenMaxCalls: 1,
    });
    expect(await form.getByLabel('Adaptive').isChecked()).toBe(true);
    // Health is read again: an adaptive limit not slowed down sends at its max.
    await fact(page, 'Current rate').filter({ hasText: '20 per s (adaptive, max 20)' }).waitFor();

    // A threshold the API refuses: named next to the form, the field marked, nothing saved.
    await form.getByLabel('Consecutive failures').fill('0');
    await form.getByRole('button', { name: 'Save changes' }).click();
    await form.getByRole('alert').filter({ hasText: 'circuitBreaker.failureThreshold' }).waitFor();
    expect(await form.getByLabel('Consecutive failures').getAttribute('aria-invalid')).toBe('true');
    expect((await system.client.get(`/v1/destinations/${destination.id}`)).body.circuitBreaker.failureThreshold).toBe(4);

    // Switched off.
    await form.getByLabel('Consecutive failures').fill('4');
    await form.getByLabel('Open the circuit on failures').uncheck();
    await form.getByRole('button', { name: 'Save changes' }).click();
    await form.getByRole('alert').waitFor({ state: 'detached' });
    await eventually(async () => ((await system.client.get(`/v1/destinations/${destination.id}`)).body.circuitBreaker.enabled === false ? true : undefined));
    stored = (await system.client.get(`/v1/destinations/${destination.id}`)).body;
    expect(stored.circuitBreaker).toMatchObject({ enabled: false, failureThreshold: 4, halfOpenMaxCalls: 1 });
    await page.close();
  }, 60_000);

  it('lists an open alert with its destination; a viewer is not offered to acknowledge it or change the settings, an admin acknowledges it after confirming', async () => {
    expect((await system.client.request('PUT', '/v1/alert-settings', { consecutiveFailures: 2 })).status).toBe(200);
    receiver.answer(() => ({ status: 500 }));
    const destination = await createWebhook(system.client, `${receiver.url}/alerting`, { name: 'alerting', retryPolicy: { maxAttempts: 1 } });
    for (let i = 0; i < 3; i++) await deliver(destination.id, 'alert.me', 'failed');
    const alert = await eventually(
      async () =>
        (await system.client.get(`/v1/alerts?status=open&destinationId=${destination.id}`)).body.data.find(
          (a: { condition: string; value: number }) => a.condition === 'consecutive_failures' && a.value === 3,
        ),
      20_000,
      'a consecutive failures alert of the three failed attempts',
    );
    const viewer = await system.client.post('/v1/api-keys', { name: 'alert-viewer', role: 'viewer' });
    expect(viewer.status).toBe(201);

    // A viewer sees the alert and the settings, but is offered neither the acknowledgement nor a save.
    let page = await signIn(browser, system.url, viewer.body.key);
    await page.getByRole('button', { name: 'Alerts' }).click();
    let alertRow = row(page, 'Alerts', 'alerting');
    await alertRow.waitFor();
    expect(await alertRow.textContent()).toContain('Consecutive failures');
    expect(await alertRow.textContent()).toContain(alert.message);
    await page.getByText('Acknowledging an alert needs an admin key: this one is a viewer key.').waitFor();
    expect(await page.getByRole('button', { name: /^Acknowledge/ }).count()).toBe(0);
    const settings = page.getByRole('form', { name: 'Alert settings' });
    expect(await settings.getByLabel('Failed attempts in a row').inputValue()).toBe('2');
    expect(await settings.getByLabel('Failed attempts in a row').isDisabled()).toBe(true);
    expect(await settings.getByRole('button', { name: 'Save alert settings' }).count()).toBe(0);
    await page.close();

    // An admin: Cancel first changes nothing; then acknowledged.
    page = await signIn(browser, system.url, system.organization.adminKey);
    await page.getByRole('button', { name: 'Alerts' }).click();
    alertRow = row(page, 'Alerts', 'alerting');
    const acknowledge = alertRow.getByRole('button', { name: 'Acknowledge the consecutive failures alert of alerting' });
    await acknowledge.click();
    const confirm = page.getByRole('group', { name: /^Acknowledge the consecutive failures alert of alerting\?/ });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'detached' });
    await acknowledge.click();
    await confirm.getByRole('button', { name: 'Acknowledge alert' }).click();
    await page.getByRole('status').filter({ hasText: 'Acknowledged the consecutive failures alert of alerting' }).waitFor();
    await alertRow.getByText(/^acknowledged \d{4}-/).waitFor();
    expect(await acknowledge.count()).toBe(0);
    const acknowledged = (await system.client.get(`/v1/alerts?destinationId=${destination.id}`)).body.data.find((a: { id: string }) => a.id === alert.id);
    expect(acknowledged.acknowledgedAt).not.toBeNull();
    expect(acknowledged.status).toBe('open');

    // The destination's name leads to its page; no alert is resolved yet.
    await page.getByLabel('Status').selectOption('resolved');
    await page.getByText('No alerts match.').waitFor();
    await page.close();
  }, 90_000);

  it('saves the alert settings, and shows the API refusing a bad one next to its field without saving it', async () => {
    const page = await signIn(browser, system.url, system.organization.adminKey);
    await page.getByRole('button', { name: 'Alerts' }).click();
    const form = page.getByRole('form', { name: 'Alert settings' });
    await form.waitFor();
    const before = (await system.client.get('/v1/alert-settings')).body;
    expect(await form.getByLabel('Open deliveries').inputValue()).toBe(String(before.backlog));

    await form.getByLabel('Open deliveries').fill('50');
    await form.getByLabel('Alert on response time').uncheck();
    await form.getByLabel('Escalate after (ms)').fill('600000, 7200000');
    await form.getByRole('button', { name: 'Save alert settings' }).click();
    await form.getByRole('status').filter({ hasText: 'Alert settings saved.' }).waitFor();
    const saved = (await system.client.get('/v1/alert-settings')).body;
    expect(saved).toEqual({ ...before, backlog: 50, responseTimeMs: null, escalateAfterMs: [600000, 7200000] });

    await form.getByLabel('Failure rate (0 to 1)').fill('2');
    await form.getByRole('button', { name: 'Save alert settings' }).click();
    await form.getByRole('alert').filter({ hasText: 'failureRate.threshold' }).waitFor();
    expect(await form.getByLabel('Failure rate (0 to 1)').getAttribute('aria-invalid')).toBe('true');
    expect(await form.getByLabel('Open deliveries').getAttribute('aria-invalid')).toBeNull();
    expect((await system.client.get('/v1/alert-settings')).body).toEqual(saved);

    // Escalation times that do not increase: named by their place in the list.
    await form.getByLabel('Failure rate (0 to 1)').fill('0.2');
    await form.getByLabel('Escalate after (ms)').fill('600000, 60000');
    await form.getByRole('button', { name: 'Save alert settings' }).click();
    await form.getByRole('alert').filter({ hasText: 'escalateAfterMs' }).waitFor();
    expect(await form.getByLabel('Escalate after (ms)').getAttribute('aria-invalid')).toBe('true');
    expect((await system.client.get('/v1/alert-settings')).body).toEqual(saved);
    await page.close();
  }, 60_000);
});
