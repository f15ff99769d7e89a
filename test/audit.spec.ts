import { createDatabase, OrganizationRepository } from '@dispatch/db';
import { hashApiKey } from '@dispatch/domain';
import { ApiClient, createWebhook, eventually, Json, sendEvent, waitForDelivery, webhookSecret } from '@dispatch/testing';
import { useReceiver, useSystem } from './system';

describe('audit trail of operator actions', () => {
  const system = useSystem();
  const receiver = useReceiver();
  let client: ApiClient;
  /** The id of the admin key the tests call with: the actor of every entry they cause. */
  let actor: string;

  beforeAll(async () => {
    client = system.client;
    const database = createDatabase(system.config.databaseUrl, { max: 1 });
    try {
      const caller = await new OrganizationRepository(database).findCaller(hashApiKey(system.organization.adminKey));
      if (!caller) throw new Error('the admin key of the test organization is not stored');
      actor = caller.apiKeyId;
    } finally {
      await database.close();
    }
    expect(actor).toMatch(/^key_/);
  });

  const auditLog = async (): Promise<{ text: string; entries: Json[] }> => {
    const answer = await client.get('/v1/audit-log?limit=200');
    expect(answer.status).toBe(200);
    return { text: JSON.stringify(answer.body), entries: answer.body.data };
  };

  it('records creating, changing, rotating the secret of and deleting a destination: action, target, actor, and no secret', async () => {
    const secrets = [webhookSecret(), webhookSecret(), webhookSecret()];
    const created = await createWebhook(client, `${receiver.url}/hook`, { config: { url: `${receiver.url}/hook`, secret: secrets[0] } });
    const id = created.id;
    const updated = await client.request('PATCH', `/v1/destinations/${id}`, { name: 'renamed', config: { url: `${receiver.url}/moved`, secret: secrets[1] } });
    expect(updated.status).toBe(200);
    const given = await client.post(`/v1/destinations/${id}/rotate-secret`, { secret: secrets[2], previousValidForSeconds: 60 });
    expect(given.status).toBe(200);
    const generated = await client.post(`/v1/destinations/${id}/rotate-secret`, {});
    expect(generated.status).toBe(200);
    expect(generated.body.secret).toMatch(/^whsec_/);
    secrets.push(generated.body.secret);
    expect((await client.request('DELETE', `/v1/destinations/${id}`)).status).toBe(204);

    const { text, entries } = await auditLog();
    const ofDestination = entries.filter((entry) => entry.target === id);
    // Newest first.
    expect(ofDestination.map((entry) => entry.action)).toEqual([
      'destination.delete',
      'destination.rotate-secret',
      'destination.rotate-secret',
      'destination.update',
      'destination.create',
    ]);
    for (const entry of ofDestination) {
      expect(entry).toEqual({ id: expect.any(String), at: expect.any(String), actor, action: entry.action, target: id, details: expect.any(Object) });
      expect(new Date(entry.at).toISOString()).toBe(entry.at);
    }
    expect(text).not.toContain('whsec_');
    for (const secret of secrets) expect(text).not.toContain(secret.slice('whsec_'.length));
  });

  it('records a manual retry of a delivery with the delivery as target and the caller as actor', async () => {
    const destination = await createWebhook(client, `${receiver.url}/hook`, { config: { url: `${receiver.url}/hook`, secret: webhookSecret() } });
    const accepted = await sendEvent(client, { type: 'order.created', data: { n: 1 }, destinations: [destination.id] });
    const deliveryId = accepted.deliveries[0].id;
    await waitForDelivery(client, deliveryId, 'delivered');
    expect((await auditLog()).entries.filter((entry) => entry.target === deliveryId)).toEqual([]);

    expect((await client.post(`/v1/deliveries/${deliveryId}/retry`)).status).toBe(202);
    const { text, entries } = await auditLog();
    expect(entries.filter((entry) => entry.target === deliveryId)).toEqual([
      { id: expect.any(String), at: expect.any(String), actor, action: 'delivery.retry', target: deliveryId, details: expect.any(Object) },
    ]);
    expect(entries[0]).toMatchObject({ action: 'delivery.retry', target: deliveryId });
    expect(text).not.toContain('whsec_');

    // The retry runs to its end before the system stops.
    await eventually(async () => ((await client.get(`/v1/deliveries/${deliveryId}`)).body.attempts.length === 2 ? true : undefined), 10_000, 'the manual attempt');
  });
});
