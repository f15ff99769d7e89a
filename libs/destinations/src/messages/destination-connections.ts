/**
 * The connections a broker kind keeps: one per destination, opened on its first attempt,
 * reused by the attempts after it, and closed when the destination's queue goes idle
 * (`release`), when its config changes, when it was lost while idle (`lost`), when an attempt
 * finds it broken (`drop`), or at shutdown (`close`). Attempts that arrive while a connection is being opened share that one.
 */
export class DestinationConnections<Connection> {
  private readonly held = new Map<string, { config: string; connection: Promise<Connection>; opened?: Connection }>();

  /**
   * `shut` closes a connection and never throws; it may be called again for one already closed.
   * `lost` tells a connection the peer closed while it sat idle (client libraries here do not
   * reconnect by themselves): the next attempt opens another instead of failing on it.
   */
  constructor(
    private readonly shut: (connection: Connection) => Promise<void>,
    private readonly lost: (connection: Connection) => boolean = () => false,
  ) {}

  /**
   * The destination's connection for `config` (compared as JSON: another config means another
   * connection), opened with `open` when there is none or the one held was lost. A failed open
   * is not kept.
   */
  async get(destinationId: string, config: unknown, open: () => Promise<Connection>): Promise<Connection> {
    const key = JSON.stringify(config);
    const current = this.held.get(destinationId);
    if (current?.config === key && !(current.opened !== undefined && this.lost(current.opened))) return current.connection;
    if (current) await this.drop(destinationId, current.opened);
    const entry: { config: string; connection: Promise<Connection>; opened?: Connection } = { config: key, connection: open() };
    this.held.set(destinationId, entry);
    entry.connection.then(
      (connection) => {
        entry.opened = connection;
      },
      () => {
        if (this.held.get(destinationId) === entry) this.held.delete(destinationId);
      },
    );
    return entry.connection;
  }

  /**
   * Closes the destination's connection, if it has one: the next attempt opens another. Given
   * `connection` (one an attempt found broken), only that one: when another attempt has
   * already put a new connection in its place, the new one stays.
   */
  async drop(destinationId: string, connection?: Connection): Promise<void> {
    const entry = this.held.get(destinationId);
    if (connection !== undefined && entry?.opened !== connection) return this.shut(connection);
    if (!entry) return;
    this.held.delete(destinationId);
    const held = await entry.connection.catch(() => null);
    if (held !== null) await this.shut(held);
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
