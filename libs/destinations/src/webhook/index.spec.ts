import { webhookKind } from './index';

describe('webhookKind.requestProperties', () => {
  const sut = (config: Record<string, unknown>) => webhookKind.requestProperties!(config);

  it("names the method, the URL and every header sent (Dispatch's own and the destination's), without a value", () => {
    const sealed = { sealed: 'v1:abc' };
    const properties = sut({ url: 'https://hooks.example/in', method: 'PUT', headers: { Authorization: sealed, 'X-Tenant': 't1' } });
    expect(properties).toEqual({
      method: 'PUT',
      url: 'https://hooks.example/in',
      headers: [
        'content-type',
        'user-agent',
        'webhook-id',
        'webhook-timestamp',
        'webhook-signature',
        'dispatch-delivery-id',
        'dispatch-attempt',
        'dispatch-event-type',
        'Authorization',
        'X-Tenant',
      ],
    });
    expect(JSON.stringify(properties)).not.toContain('t1');
    expect(JSON.stringify(properties)).not.toContain('v1:abc');
  });

  it('says POST for a stored config without a method, and only the headers Dispatch sets when it has none', () => {
    expect(sut({ url: 'https://hooks.example/in' })).toMatchObject({ method: 'POST', headers: expect.not.arrayContaining(['X-Tenant']) });
    expect((sut({ url: 'https://hooks.example/in' }).headers as string[]).length).toBe(8);
  });
});
