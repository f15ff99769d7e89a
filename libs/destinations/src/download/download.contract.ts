import type { ContractApi, ContractPeer, KindContract } from '../kind.contract';

/**
 * The recipient of a download link: it finds the link of an event's delivery through the API
 * (`GET /v1/deliveries/:id`, `download.url`) and downloads the file from Dispatch itself, as a
 * person given the link would; it has the event once the file it downloaded is that event.
 */
async function startDownloader(api: ContractApi): Promise<ContractPeer> {
  const { hostname, port } = new URL(api.url);
  let closed = false;
  const downloaded = async (eventId: string): Promise<boolean> => {
    const event = await api.client.get(`/v1/events/${eventId}`);
    if (event.status !== 200) return false;
    for (const { id } of event.body.deliveries as { id: string }[]) {
      const url: string | undefined = (await api.client.get(`/v1/deliveries/${id}`)).body.download?.url;
      if (!url) continue;
      const file = await fetch(`${api.url}${new URL(url).pathname}`);
      if (file.status === 200 && (JSON.parse(await file.text()) as { id?: string }).id === eventId) return true;
    }
    return false;
  };
  return {
    address: { host: hostname, port: Number(port) },
    async waitForEvent(eventId, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!closed) {
        if (await downloaded(eventId)) return;
        if (Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`the link of event ${eventId} served no file of it within ${timeoutMs} ms`);
    },
    close: async () => {
      closed = true;
    },
  };
}

export const contract: KindContract = {
  startPeer: startDownloader,
  validConfig: () => ({ expiresInSeconds: 3_600 }),
  invalidConfig: { config: { expiresInSeconds: 10, maxDownloads: 0, fileName: 'a/b' }, paths: ['expiresInSeconds', 'maxDownloads', 'fileName'] },
  // Opens no connection: the recipient comes to Dispatch.
  blockedConfig: null,
  unreachableConfig: null,
  // No credentials in its config: the link's token is what it hands out.
  credentials: () => ({ config: { expiresInSeconds: 3_600, maxDownloads: 5 }, secrets: [] }),
};
