export type WebhookPayload = {
  id: string;
  type: string;
  timestamp: string;
  data: unknown;
};

/** The JSON body a webhook receives; `timestamp` is when the event was received. */
export function webhookBody(event: { id: string; type: string; receivedAt: Date; data: unknown }): string {
  const payload: WebhookPayload = {
    id: event.id,
    type: event.type,
    timestamp: event.receivedAt.toISOString(),
    data: event.data,
  };
  return JSON.stringify(payload);
}
