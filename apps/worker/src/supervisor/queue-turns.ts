/** One destination's turn at consuming its queue: held from its worker's start until the worker has closed. */
export type Turn = {
  readonly destinationId: string;
  /** When the turn began. */
  readonly since: number;
  /** Its queue had nothing to hand out the last time its worker asked. */
  drained: boolean;
  /** Asked to end: its worker is closing (it still holds a Redis connection until closed). */
  ending: boolean;
};

/**
 * Who may consume a destination queue now, when at most `capacity` queues may be consumed at
 * once (each live consumer holds one blocking Redis connection). Destinations with work
 * beyond that wait in line, oldest first. When someone waits, a turn ends as soon as its
 * queue runs dry, and at the latest `sliceMs` after it began; a destination whose turn ended
 * with work left joins the back of the line. So the k-th in line starts within
 * ceil(k / capacity) turn ends, each at most `sliceMs` (plus the attempts in flight) away.
 */
export class QueueTurns {
  private readonly held = new Set<Turn>();
  /** Destinations with work and no turn, oldest first. */
  private readonly line = new Set<string>();

  constructor(
    private readonly capacity: number,
    private readonly sliceMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A turn for the destination if one is free; otherwise it waits in line (keeping its place) and this answers undefined. */
  take(destinationId: string): Turn | undefined {
    if (this.held.size >= this.capacity) {
      this.line.add(destinationId);
      return undefined;
    }
    this.line.delete(destinationId);
    const turn: Turn = { destinationId, since: this.now(), drained: false, ending: false };
    this.held.add(turn);
    return turn;
  }

  /** The turn is over (its worker closed, or never started): someone in line may take it. */
  end(turn: Turn): void {
    this.held.delete(turn);
  }

  /** The destinations first in line, as many as there are free turns; they leave the line and should take one now. */
  admit(): string[] {
    const admitted: string[] = [];
    for (const destinationId of this.line) {
      if (this.held.size + admitted.length >= this.capacity) break;
      admitted.push(destinationId);
    }
    for (const destinationId of admitted) this.line.delete(destinationId);
    return admitted;
  }

  /**
   * The turns that should end now so that those in line get one: as many as wait beyond the
   * free turns, drained queues first, then turns past their slice, oldest first. They are
   * marked as ending; the caller closes their workers and then calls `end`. Turns already
   * ending are not counted as free: one may wait for a slow attempt in flight, so while the
   * line has not moved each call ends more of the due turns, and the first to close frees one.
   */
  due(): Turn[] {
    const wanted = this.line.size - (this.capacity - this.held.size);
    if (wanted <= 0) return [];
    const now = this.now();
    const live = [...this.held].filter((turn) => !turn.ending);
    const drained = live.filter((turn) => turn.drained);
    const expired = live.filter((turn) => !turn.drained && now - turn.since >= this.sliceMs);
    const ending = [...drained, ...expired].slice(0, wanted);
    for (const turn of ending) turn.ending = true;
    return ending;
  }

  /** How many destinations wait in line. */
  get waiting(): number {
    return this.line.size;
  }

  /** Leaves the line empty (on shutdown). */
  clear(): void {
    this.line.clear();
  }
}
