import { Injectable } from '@nestjs/common';

/** Where the circuit states come from: destination id → circuit, for the circuits that are not closed. */
export type CircuitSource = () => Promise<ReadonlyMap<string, string>>;

/**
 * Which destinations' circuit breakers are open (or half-open, still probing): the
 * `circuit_open` alert condition. The circuit breakers register their reader with `use`; until
 * one is registered the condition is not observed (no alert opens or resolves on it).
 */
@Injectable()
export class OpenCircuits {
  private source: CircuitSource | undefined;

  use(source: CircuitSource): void {
    this.source = source;
  }

  /** The destinations whose circuit is not closed; null when no circuit breaker is known. */
  async read(): Promise<Set<string> | null> {
    if (!this.source) return null;
    const circuits = await this.source();
    return new Set([...circuits].filter(([, circuit]) => circuit !== 'closed').map(([destinationId]) => destinationId));
  }
}
