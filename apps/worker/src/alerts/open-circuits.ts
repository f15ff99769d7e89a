import { Injectable, Logger } from '@nestjs/common';

/** Where the circuit states come from: destination id → circuit, for the circuits that are not closed. */
export type CircuitSource = () => Promise<ReadonlyMap<string, string>>;

/**
 * Which destinations' circuit breakers are open (or half-open, still probing): the
 * `circuit_open` alert condition. The circuit breakers register their reader with `use`
 * (DestinationCircuits does, with the list of circuits that are not closed); until one is
 * registered, or when it cannot answer (Redis), the condition is not observed: no alert opens
 * or resolves on it.
 */
@Injectable()
export class OpenCircuits {
  private readonly logger = new Logger(OpenCircuits.name);
  private source: CircuitSource | undefined;

  use(source: CircuitSource): void {
    this.source = source;
  }

  /** The destinations whose circuit is not closed; null when no circuit breaker is known or it could not be read. */
  async read(): Promise<Set<string> | null> {
    if (!this.source) return null;
    try {
      const circuits = await this.source();
      return new Set([...circuits].filter(([, circuit]) => circuit !== 'closed').map(([destinationId]) => destinationId));
    } catch (error) {
      this.logger.warn(`The circuits could not be read; the circuit_open condition waits for the next evaluation: ${(error as Error).message}`);
      return null;
    }
  }
}
