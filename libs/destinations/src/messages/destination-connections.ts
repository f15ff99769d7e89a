/**
 * The connections a broker kind keeps: one per destination, opened on its first attempt,
 * reused by the attempts after it, and closed when the destination's queue goes idle
 * (`release`), when its config changes, when an attempt finds it broken (`drop`), or at
 * shutdown (`close`). Attempts that arrive while a connection is being opened share that one.
 */
export class DestinationConnections<Connection> {
  private readonly held = new Map<string, { config: string; connection: Promise<Connection> }>();

  /** `shut` closes a connection and never throws. */
  constructor(private readonly shut: (connection: Connection) => Promise<void>) {}

  /**
   * The destination's connection for `config` (compared as JSON: another config means another
   * connection), opened with `open` when there is none. A failed open is not kept.
   */
  async get(destinationId: string, config: unknown, open: () => Promise<Connection>): Promise<Connection> {
    const key = JSON.stringify(config);
    const current = this.held.get(destinationId);
    if (current?.config === key) return current.connection;
    if (current) await this.drop(destinationId);
    const entry = { config: key, connection: open() };
    this.held.set(destinationId, entry);
    entry.connection.catch(() => {
      if (this.held.get(destinationId) === entry) this.held.delete(destinationId);
    });
    return entry.connection;
  }

  /** Closes the destination's connection, if it has one: the next attempt opens another. */
  async drop(destinationId: string): Promise<void> {
    const entry = this.held.get(destinationId);
    if (!entry) return;
    this.held.delete(destinationId);
    const connection = await entry.connection.catch(() => null);
    if (connection !== null) await this.shut(connection);
  }

  /** The destination's queue went idle. */
  release(destinationId: string): Promise<void> {
    return this.drop(destinationId);
  }

  /** How many destinations hold a connection (or are opening one). */
  get size(): number {
    return this.held.size;
  }

  async close(): Promise<void> {
    await Promise.all([...this.held.keys()].map((destinationId) => this.drop(destinationId)));
  }
}
