import WebSocket from 'ws';

/** A frame of a live session, as the device reads it. */
export type LiveFrame =
  { type: 'event'; seq: number; event: { id: string; type: string; timestamp: string; data: Record<string, unknown> } } | { type: 'resync_required'; fromSeq: number };

export type LiveClientOptions = {
  lastSeq?: number;
  /** Answer pings (default); off, the client lets its pongs go missing. */
  autoPong?: boolean;
};

/** A device's live session (`/v1/stream`), keeping every frame it reads. */
export class LiveClient {
  readonly frames: LiveFrame[] = [];
  /** How the session closed: the code and reason the server sent (1006: the connection just dropped). */
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly watchers = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as LiveFrame);
      for (const watcher of this.watchers) watcher();
    });
    this.closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a session of the token's subject on the API at `apiUrl`; rejects with the HTTP status when the upgrade is refused. */
  static connect(apiUrl: string, token: string, options: LiveClientOptions = {}): Promise<LiveClient> {
    const url = new URL('/v1/stream', apiUrl.replace(/^http/, 'ws'));
    url.searchParams.set('token', token);
    if (options.lastSeq !== undefined) url.searchParams.set('lastSeq', String(options.lastSeq));
    const socket = new WebSocket(url, { autoPong: options.autoPong ?? true });
    const client = new LiveClient(socket);
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(client));
      socket.once('unexpected-response', (_request, response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${response.statusCode} ${body}`), { status: response.statusCode, body })));
      });
      socket.once('error', reject);
    });
  }

  /** The event frames read, in order. */
  get events(): Extract<LiveFrame, { type: 'event' }>[] {
    return this.frames.filter((frame): frame is Extract<LiveFrame, { type: 'event' }> => frame.type === 'event');
  }

  /** The seq of the last event frame read (0: none). */
  get lastSeq(): number {
    return this.events.at(-1)?.seq ?? 0;
  }

  /** Resolves once `check` holds for the frames read (checked at each frame), or rejects after `timeoutMs`. */
  waitFor(check: (frames: readonly LiveFrame[]) => boolean, timeoutMs = 10_000, what = 'frames'): Promise<void> {
    if (check(this.frames)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const watcher = () => {
        if (!check(this.frames)) return;
        clearTimeout(timer);
        this.watchers.delete(watcher);
        resolve();
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(new Error(`${what} not read within ${timeoutMs} ms; read ${JSON.stringify(this.frames.map((frame) => (frame.type === 'event' ? frame.seq : frame)))}`));
      }, timeoutMs);
      this.watchers.add(watcher);
    });
  }

  /** Resolves once `count` event frames were read. */
  waitForEvents(count: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor((frames) => frames.filter((frame) => frame.type === 'event').length >= count, timeoutMs, `${count} event frames`);
  }

  async close(): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}
