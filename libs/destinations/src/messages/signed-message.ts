import { signatureHeader, webhookBody } from '@dispatch/domain';
import type { SendRequest } from '../kind';

/** What a broker kind publishes: the body a webhook receives and the Standard Webhooks headers that sign it. */
export type SignedMessage = {
  body: string;
  headers: { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string };
};

/**
 * The event's JSON, signed as a webhook is (the destination's live secrets, `webhook-id` the
 * event id), for a kind whose protocol carries headers (NATS headers, AMQP properties, MQTT 5
 * user properties).
 */
export function signedMessage(request: SendRequest<unknown>, now: Date = new Date()): SignedMessage {
  const body = webhookBody(request.event);
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    body,
    headers: {
      'webhook-id': request.event.id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(request.secrets, request.event.id, timestamp, body),
    },
  };
}
