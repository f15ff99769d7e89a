import { ApiClient, eventually, Json } from './api-client';
import { webhookDestination } from './factories';

/** Creates a webhook destination through the API; throws unless it answers 201. Returns the created destination. */
export async function createWebhook(client: ApiClient, url: string, overrides: Record<string, unknown> = {}): Promise<Json> {
  const answer = await client.post('/v1/destinations', webhookDestination(url, overrides));
  if (answer.status !== 201) throw new Error(`POST /v1/destinations answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Sends an event through the API; throws unless it is accepted (202). Returns the answer's body. */
export async function sendEvent(client: ApiClient, event: Record<string, unknown>): Promise<Json> {
  const answer = await client.post('/v1/events', { data: {}, ...event });
  if (answer.status !== 202) throw new Error(`POST /v1/events answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Uploads a file (`POST /v1/files`); throws unless it answers 201. Returns `{ id, size, sha256 }`. */
export async function uploadFile(client: ApiClient, content: Uint8Array | string): Promise<{ id: string; size: number; sha256: string }> {
  const answer = await client.request('POST', '/v1/files', typeof content === 'string' ? Buffer.from(content) : content, { 'content-type': 'application/octet-stream' });
  if (answer.status !== 201) throw new Error(`POST /v1/files answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Waits until delivery `id` has `status`; returns it (with its attempts). */
export function waitForDelivery(client: ApiClient, id: string, status: string, timeoutMs = 10_000): Promise<Json> {
  let last = 'unknown';
  return eventually(
    async () => {
      const delivery = (await client.get(`/v1/deliveries/${id}`)).body;
      last = delivery?.status ?? JSON.stringify(delivery);
      return delivery?.status === status ? delivery : undefined;
    },
    timeoutMs,
    `delivery ${id} to be ${status}`,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (it is ${last})`);
  });
}

/** Waits until `count()` answers `expected`; returns it. */
export function waitForCount(count: () => Promise<number>, expected: number, what: string, timeoutMs = 10_000): Promise<number> {
  let last: number | undefined;
  return eventually(
    async () => {
      last = await count();
      return last === expected ? last : undefined;
    },
    timeoutMs,
    `${what} to be ${expected}`,
  ).catch((error: Error) => {
    throw new Error(`${error.message} (last seen: ${last})`);
  });
}

/** How many deliveries of a destination have `status` (up to 200). */
export async function countDeliveries(client: ApiClient, destinationId: string, status: string): Promise<number> {
  return (await client.get(`/v1/deliveries?destinationId=${destinationId}&status=${status}&limit=200`)).body.data.length;
}
