import { Webhook } from 'standardwebhooks';
import { signedMessage } from './signed-message';

function setup() {
  const secret = 'whsec_' + Buffer.from('a secret of thirty-two bytes....').toString('base64');
  const request = {
    destinationId: 'dst_1',
    organizationId: 'org_1',
    config: {},
    secrets: [secret],
    retryPolicy: {} as never,
    deliveryId: 'dlv_1',
    attemptNumber: 1,
    event: { id: 'evt_1', type: 'order.paid', data: { total: 5 }, receivedAt: new Date('2026-01-02T03:04:05.000Z') },
  };
  return { sut: signedMessage, request, secret };
}

describe('a signed broker message', () => {
  it('carries the webhook JSON and Standard Webhooks headers that verify with the destination secret', () => {
    const { sut, request, secret } = setup();
    const now = new Date();
    const message = sut(request, now);
    expect(JSON.parse(message.body)).toEqual({ id: 'evt_1', type: 'order.paid', timestamp: '2026-01-02T03:04:05.000Z', data: { total: 5 } });
    expect(message.headers['webhook-id']).toBe('evt_1');
    expect(message.headers['webhook-timestamp']).toBe(String(Math.floor(now.getTime() / 1000)));
    expect(new Webhook(secret).verify(message.body, message.headers)).toEqual(JSON.parse(message.body));
    expect(() => new Webhook(secret).verify(message.body.replace('5', '6'), message.headers)).toThrow();
  });
});
