import type { DestinationKind, Sender, SenderDeps } from './kind';

/** One sender per kind, made on first use, shared by every destination of that kind. */
export class Senders {
  private readonly senders = new Map<string, Sender<unknown>>();

  constructor(private readonly deps: SenderDeps) {}

  of(kind: DestinationKind): Sender<unknown> {
    let sender = this.senders.get(kind.kind);
    if (!sender) {
      sender = kind.createSender(this.deps);
      this.senders.set(kind.kind, sender);
    }
    return sender;
  }

  /** Lets go of what a kind's sender holds for one destination (its queue went idle). */
  async release(kind: string, destinationId: string): Promise<void> {
    await this.senders.get(kind)?.release?.(destinationId);
  }

  async close(): Promise<void> {
    await Promise.all([...this.senders.values()].map((sender) => sender.close()));
    this.senders.clear();
  }
}
