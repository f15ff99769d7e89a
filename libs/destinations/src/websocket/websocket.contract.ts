import WebSocket from 'ws';
import type { ContractApi, ContractPeer, KindContract } from '../kind.contract';

const SUBJECT = 'contract-device';

/** A device of the subject: a live session opened with a stream token, keeping the events it is sent. */
async function startDevice(api: ContractApi): Promise<ContractPeer> {
  const minted = await api.client.post('/v1/stream-tokens', { subject: SUBJECT });
  if (minted.status !== 201) throw new Error(`no stream token: ${minted.status} ${JSON.stringify(minted.body)}`);
  const { hostname, port } = new URL(api.url);
  const socket = new WebSocket(`ws://${hostname}:${port}/v1/stream?token=${encodeURIComponent(minted.body.token as string)}`);
  const received = new Set<string>();
  const waiting = new Map<string, () => void>();
  socket.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { type: string; event?: { id: string } };
    if (frame.type !== 'event' || !frame.event) return;
    received.add(frame.event.id);
    waiting.get(frame.event.id)?.();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return {
    address: { host: hostname, port: Number(port) },
    waitForEvent: (eventId, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        if (received.has(eventId)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no frame of event ${eventId} within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(eventId, () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    close: async () => {
      if (socket.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close();
      });
    },
  };
}

export const contract: KindContract = {
  startPeer: startDevice,
  validConfig: () => ({ subject: SUBJECT }),
  invalidConfig: { config: { subject: 'user {data.id}' }, paths: ['subject'] },
  // Opens no connection: devices come to Dispatch.
  blockedConfig: null,
  unreachableConfig: null,
  // No credentials in its config: devices hold stream tokens.
  credentials: () => ({ config: { subject: SUBJECT }, secrets: [] }),
};
