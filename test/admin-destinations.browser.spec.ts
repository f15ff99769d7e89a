import type { Locator, Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { createWebhook, ReceivedRequest, sendEvent, waitForDelivery, webhookSecret } from '@dispatch/testing';
import { signIn, useBrowser } from './browser';
import { useReceiver, useSystem } from './system';

/** The admin app's destination forms, rendered from the kinds' config schemas (GET /v1/destination-kinds). */
describe('admin app: destination forms in headless Chromium', () => {
  const system = useSystem();
  const receiver = useReceiver();
  const browser = useBrowser();

  function row(page: Page, name: string): Locator {
    return page.getByRole('table', { name: 'Destinations' }).getByRole('row').filter({ hasText: name });
  }

  /** Opens the edit form of destination `name`; resolves with the form once it shows. */
  async function openEdit(page: Page, name: string): Promise<Locator> {
    await row(page, name).getByRole('button', { name: 'Edit' }).click();
    const form = page.getByRole('form', { name: `Edit ${name}` });
    await form.waitFor();
    return form;
  }

  async function save(page: Page, form: Locator, name: string): Promise<void> {
    await form.getByRole('button', { name: 'Save changes' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Saved ${name}.` })
      .waitFor();
    await form.waitFor({ state: 'detached' });
  }

  async function stored(id: string) {
    const answer = await system.client.get(`/v1/destinations/${id}`);
    expect(answer.status).toBe(200);
    return answer.body;
  }

  function verify(secret: string, request: ReceivedRequest): unknown {
    return new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
  }

  it('creates a webhook with a custom header and method through the schema form; the receiver gets both', async () => {
    const kinds = (await system.client.get('/v1/destination-kinds')).body.data.map((kind: { kind: string }) => kind.kind);
    const page = await signIn(browser, system.url, system.organization.adminKey);
    const form = page.getByRole('form', { name: 'New destination' });
    await form.waitFor();

    // Only the kinds the API lists; the schema's defaults prefilled; the secret is a password input.
    const kind = form.getByLabel('Kind');
    expect(await kind.locator('option').allTextContents()).toEqual(kinds);
    expect(await kind.inputValue()).toBe('webhook');
    expect(await form.getByLabel('Method').inputValue()).toBe('POST');
    expect(await form.getByLabel('Method').locator('option').allTextContents()).toEqual(['POST', 'PUT', 'PATCH']);
    expect(await form.getByLabel('Secret', { exact: true }).getAttribute('type')).toBe('password');
    const headers = form.getByRole('group', { name: 'Headers' });
    expect(await headers.getByRole('textbox').count()).toBe(0);

    await form.getByLabel('Name').fill('schema-headers');
    await form.getByLabel('URL').fill(`${receiver.url}/with-header`);
    await form.getByLabel('Method').selectOption('PUT');
    await headers.getByRole('button', { name: 'Add row' }).click();
    await headers.getByRole('button', { name: 'Add row' }).click();
    await headers.getByLabel('Key 1').fill('X-Team');
    await headers.getByLabel('Value 1').fill('payments');
    await headers.getByLabel('Key 2').fill('X-Dropped');
    await headers.getByRole('button', { name: 'Remove row 2' }).click();
    expect(await headers.getByRole('textbox').count()).toBe(2);
    await form.getByLabel('Event types').fill('hdr.*');
    await form.getByRole('button', { name: 'Create destination' }).click();
    const secretNotice = page.getByRole('status').filter({ hasText: /Signing secret — shown once: whsec_/ });
    await secretNotice.waitFor();
    const secret = (await secretNotice.locator('code').textContent()) ?? '';
    await row(page, 'schema-headers').waitFor();

    const listed = (await system.client.get('/v1/destinations')).body.data.find((d: { name: string }) => d.name === 'schema-headers');
    expect(listed).toMatchObject({
      kind: 'webhook',
      eventTypes: ['hdr.*'],
      config: { url: `${receiver.url}/with-header`, method: 'PUT', headers: { 'X-Team': 'payments' } },
      // The form starts at the API's default limit, and sends it as shown.
      rateLimit: { max: 100, durationMs: 1000, adaptive: false },
    });

    const sent = await sendEvent(system.client, { id: 'evt_schema_header', type: 'hdr.created' });
    await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    const [request] = receiver.requestsOf('evt_schema_header');
    expect([request.method, request.path, request.headers['x-team'], request.headers['x-dropped']]).toEqual(['PUT', '/with-header', 'payments', undefined]);
    expect(verify(secret, request)).toMatchObject({ type: 'hdr.created' });
    await page.close();
  }, 60_000);

  it('edits URL, rate limit and retry policy from the app; the API shows each, the secrets are kept, and the next webhook goes to the new URL', async () => {
    const secret = webhookSecret();
    const authorization = `Bearer ${webhookSecret()}`;
    const destination = await createWebhook(system.client, `${receiver.url}/old`, {
      name: 'edit-me',
      eventTypes: ['edit.*'],
      config: { url: `${receiver.url}/old`, headers: { 'x-keep': 'yes', authorization }, secret },
      rateLimit: null,
    });
    const page = await signIn(browser, system.url, system.organization.adminKey);

    // The stored settings are prefilled; the secrets are not shown.
    let form = await openEdit(page, 'edit-me');
    expect(await form.getByLabel('Name').inputValue()).toBe('edit-me');
    expect(await form.getByLabel('URL').inputValue()).toBe(`${receiver.url}/old`);
    expect(await form.getByLabel('Key 1').inputValue()).toBe('x-keep');
    expect(await form.getByLabel('Value 1').inputValue()).toBe('yes');
    expect(await form.getByLabel('Key 2').inputValue()).toBe('authorization');
    expect(await form.getByLabel('Value 2').inputValue()).toBe('********');
    expect(await form.getByLabel('Secret', { exact: true }).inputValue()).toBe('');
    expect(await form.getByLabel('Event types').inputValue()).toBe('edit.*');
    expect(await form.getByLabel('Limit the rate').isChecked()).toBe(false);
    expect(await form.getByLabel('Max attempts').inputValue()).toBe(String(destination.retryPolicy.maxAttempts));

    // 1. URL (and event types): config is replaced whole, so the headers must survive the edit too ("********" keeps a credential).
    await form.getByLabel('URL').fill(`${receiver.url}/new`);
    await form.getByLabel('Event types').fill('edit.*, moved.*');
    await save(page, form, 'edit-me');
    expect(await row(page, 'edit-me').textContent()).toContain(`${receiver.url}/new`);
    let body = await stored(destination.id);
    expect(body.config).toEqual({ url: `${receiver.url}/new`, method: 'POST', headers: { 'x-keep': 'yes', authorization: '********' } });
    expect(body.eventTypes).toEqual(['edit.*', 'moved.*']);
    expect(body.rateLimit).toBeNull();
    expect(body.retryPolicy).toEqual(destination.retryPolicy);

    // 2. A rate limit.
    form = await openEdit(page, 'edit-me');
    await form.getByLabel('Limit the rate').check();
    await form.getByLabel('Max requests').fill('5');
    await form.getByLabel('Per (ms)').fill('2000');
    await save(page, form, 'edit-me');
    body = await stored(destination.id);
    expect(body.rateLimit).toEqual({ max: 5, durationMs: 2000, adaptive: false });
    expect(body.config.url).toBe(`${receiver.url}/new`);

    // 3. A retry policy with a fixed schedule.
    form = await openEdit(page, 'edit-me');
    expect(await form.getByLabel('Max requests').inputValue()).toBe('5');
    await form.getByLabel('Max attempts').fill('3');
    await form.getByLabel('Backoff').selectOption({ label: 'Fixed delays' });
    await form.getByLabel('Schedule (ms)').fill('100, 200');
    await form.getByLabel('Jitter').fill('0');
    await form.getByLabel('Non-retryable statuses').fill('410, 422');
    await save(page, form, 'edit-me');
    body = await stored(destination.id);
    expect(body.retryPolicy).toEqual({ maxAttempts: 3, schedule: [100, 200], jitter: 0, nonRetryableStatuses: [410, 422] });
    expect(body.rateLimit).toEqual({ max: 5, durationMs: 2000, adaptive: false });

    // 4. Exponential backoff instead, and no rate limit any more.
    form = await openEdit(page, 'edit-me');
    expect(await form.getByLabel('Schedule (ms)').inputValue()).toBe('100, 200');
    await form.getByLabel('Backoff').selectOption({ label: 'Exponential' });
    await form.getByLabel('Initial delay (ms)').fill('250');
    await form.getByLabel('Multiplier').fill('3');
    await form.getByLabel('Max delay (ms)').fill('10000');
    await form.getByLabel('Limit the rate').uncheck();
    await save(page, form, 'edit-me');
    body = await stored(destination.id);
    expect(body.retryPolicy).toEqual({ maxAttempts: 3, initialDelayMs: 250, multiplier: 3, maxDelayMs: 10000, jitter: 0, nonRetryableStatuses: [410, 422] });
    expect(body.rateLimit).toBeNull();
    expect(body.config).toEqual({ url: `${receiver.url}/new`, method: 'POST', headers: { 'x-keep': 'yes', authorization: '********' } });

    // The next webhook goes to the new URL, with the headers, signed with the secret given at creation.
    const sent = await sendEvent(system.client, { id: 'evt_after_edit', type: 'edit.done' });
    await waitForDelivery(system.client, sent.deliveries[0].id, 'delivered');
    const requests = receiver.requestsOf('evt_after_edit');
    expect(requests.map((request) => request.path)).toEqual(['/new']);
    expect(requests[0].headers['x-keep']).toBe('yes');
    expect(requests[0].headers.authorization).toBe(authorization);
    expect(verify(secret, requests[0])).toMatchObject({ type: 'edit.done' });
    expect(receiver.requests.filter((request) => request.path === '/old')).toEqual([]);
    await page.close();
  }, 90_000);

  it('shows the API refusing a bad edit (maxAttempts 0) next to the form, naming retryPolicy.maxAttempts, and changes nothing', async () => {
    const destination = await createWebhook(system.client, `${receiver.url}/stay`, { name: 'bad-edit', eventTypes: ['bad.*'], rateLimit: { max: 7, durationMs: 1000 } });
    const before = await stored(destination.id);
    const page = await signIn(browser, system.url, system.organization.adminKey);

    const form = await openEdit(page, 'bad-edit');
    await form.getByLabel('URL').fill(`${receiver.url}/elsewhere`);
    await form.getByLabel('Max requests').fill('9');
    await form.getByLabel('Max attempts').fill('0');
    await form.getByRole('button', { name: 'Save changes' }).click();

    const alert = form.getByRole('alert');
    await alert.filter({ hasText: 'retryPolicy.maxAttempts' }).waitFor();
    expect(await form.locator('.error-details').textContent()).toContain('retryPolicy.maxAttempts');
    expect(await form.getByLabel('Max attempts').getAttribute('aria-invalid')).toBe('true');
    expect(await form.getByLabel('URL').getAttribute('aria-invalid')).toBeNull();
    // The form stays open with what was typed, and nothing was saved.
    expect(await form.getByLabel('URL').inputValue()).toBe(`${receiver.url}/elsewhere`);
    expect(await page.getByRole('status').filter({ hasText: 'Saved' }).count()).toBe(0);
    expect(await stored(destination.id)).toEqual(before);
    const audit = (await system.client.get('/v1/audit-log')).body.data;
    expect(audit.filter((entry: { action: string; target: string }) => entry.action === 'destination.update' && entry.target === destination.id)).toEqual([]);

    // Cancel leaves it as it was, too.
    await form.getByRole('button', { name: 'Cancel' }).click();
    await form.waitFor({ state: 'detached' });
    expect(await row(page, 'bad-edit').textContent()).toContain(`${receiver.url}/stay`);
    expect(await stored(destination.id)).toEqual(before);
    await page.close();
  }, 60_000);
});
