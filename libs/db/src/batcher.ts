import { currentContext, ROOT_CONTEXT, withContext, type Context } from '@dispatch/telemetry';
import { isDatabaseUnavailable } from './unavailable';

/**
 * Groups calls that arrive while a previous group is being written into one statement. One
 * group is in flight at a time, so at low load a call runs alone and at once, and under load
 * calls share round trips and commits. `run` answers one result or error per input, in order.
 *
 * When tracing, `run` gets the trace context of each call (see `sharedSpan`), and runs in the
 * caller's context when it is alone, in none when there are several: the group is the child of
 * none of its callers (not of the first, whose context started the loop).
 */
export class Batcher<Input, Output> {
  private pending: { input: Input; context: Context; resolve: (output: Output) => void; reject: (error: Error) => void }[] = [];
  private running: Promise<void> | null = null;

  constructor(
    private readonly run: (inputs: Input[], callers: Context[]) => Promise<(Output | Error)[]>,
    private readonly maxBatch = 100,
  ) {}

  submit(input: Input): Promise<Output> {
    return new Promise<Output>((resolve, reject) => {
      this.pending.push({ input, context: currentContext(), resolve, reject });
      this.running ??= this.drain();
    });
  }

  /** Resolves once everything submitted so far has been run. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    await Promise.resolve(); // let calls made in the same tick join the first group
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.maxBatch);
      try {
        const callers = batch.map((call) => call.context);
        const outputs = await withContext(batch.length === 1 ? callers[0] : ROOT_CONTEXT, () =>
          this.run(
            batch.map((call) => call.input),
            callers,
          ),
        );
        batch.forEach((call, index) => {
          const output = outputs[index];
          if (output instanceof Error) call.reject(output);
          else call.resolve(output);
        });
      } catch (error) {
        for (const call of batch) call.reject(error as Error);
      }
    }
    this.running = null;
  }
}

/**
 * Writes `items` in one go; if that fails for a reason other than an unreachable database,
 * writes each alone, so one bad item fails alone. One result or error per item, in order.
 */
export async function writeTogetherOrAlone<Input, Output>(items: readonly Input[], write: (items: readonly Input[]) => Promise<Output[]>): Promise<(Output | Error)[]> {
  try {
    return await write(items);
  } catch (error) {
    if (items.length === 1 || isDatabaseUnavailable(error)) throw error;
    const results: (Output | Error)[] = [];
    for (const item of items)
      results.push(
        await write([item]).then(
          ([result]) => result,
          (failure: Error) => failure,
        ),
      );
    return results;
  }
}
