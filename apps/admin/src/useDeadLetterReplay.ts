import { useCallback, useEffect, useRef, useState } from 'react';
import { errorMessage, type Api, type FailureCategory, type Replay, type ReplayPreview } from './api';

/** Where the replay of dead letters stands, as the Deliveries view shows it. */
export type ReplayPhase =
  | { kind: 'idle' }
  /** The dry run is counting the dead letters. */
  | { kind: 'counting' }
  /** The dry run found some: the operator is asked to confirm (the preview: count, bytes, destinations). */
  | { kind: 'confirm'; count: number; destinationId: string | undefined; failureCategory?: FailureCategory; preview: ReplayPreview }
  /** The dry run found none. */
  | { kind: 'empty' }
  | { kind: 'starting'; count: number }
  | { kind: 'running'; replayId: string; done: number; total: number }
  /** Reading the progress failed; the last progress read stays shown. */
  | { kind: 'stopped'; replayId: string; done: number; total: number }
  | { kind: 'finished'; replayId: string; total: number };

interface Options {
  onError: (message: string) => void;
  /** Runs once every replayed delivery has settled. */
  onFinished: () => void;
}

/** The progress of a replay is re-read this often until nothing remains. */
const PROGRESS_INTERVAL_MS = 1000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function replayProgressText(replayId: string, done: number, total: number): string {
  return `Replay ${replayId}: ${done} of ${total} done`;
}

export function replayFinishedText(replayId: string, total: number): string {
  return `Replay ${replayId}: all ${total} done`;
}

/**
 * Replay of dead letters (`failed` deliveries): a dry run counts them, the operator confirms,
 * then the replay starts and its progress is read once a second until every delivery settled.
 */
export function useDeadLetterReplay(api: Api, options: Options) {
  const [phase, setPhase] = useState<ReplayPhase>({ kind: 'idle' });
  /** Bumped to drop the answer of a dry run that is no longer wanted. */
  const askToken = useRef(0);
  /** Bumped to stop watching a replay (unmount). */
  const runToken = useRef(0);
  const callbacks = useRef(options);

  useEffect(() => {
    callbacks.current = options;
  });

  useEffect(
    () => () => {
      askToken.current++;
      runToken.current++;
    },
    [],
  );

  /** Dry run for the dead letters of one destination, or of all when none is given; of one failure category when given. */
  const ask = useCallback(
    async (destinationId: string | undefined, failureCategory?: FailureCategory) => {
      const request = ++askToken.current;
      setPhase({ kind: 'counting' });
      try {
        const preview = await api.countReplay({ status: 'failed', destinationId, failureCategory });
        if (request !== askToken.current) return;
        const { count } = preview;
        setPhase(count > 0 ? { kind: 'confirm', count, destinationId, failureCategory, preview } : { kind: 'empty' });
      } catch (caught) {
        if (request !== askToken.current) return;
        setPhase({ kind: 'idle' });
        callbacks.current.onError(errorMessage(caught));
      }
    },
    [api],
  );

  /** Forgets a question or an answer shown; a replay under way goes on. */
  const dismiss = useCallback(() => {
    askToken.current++;
    setPhase((current) => (current.kind === 'starting' || current.kind === 'running' ? current : { kind: 'idle' }));
  }, []);

  /** Starts the replay the operator confirmed and follows it to the end. */
  const start = useCallback(
    async (destinationId: string | undefined, count: number, failureCategory?: FailureCategory) => {
      askToken.current++;
      const run = ++runToken.current;
      setPhase({ kind: 'starting', count });

      let replayId: string;
      let shown: { done: number; total: number };
      try {
        const started = await api.replayDeliveries({ status: 'failed', destinationId, failureCategory });
        replayId = started.replayId;
        shown = { done: 0, total: started.count };
      } catch (caught) {
        if (run !== runToken.current) return;
        setPhase({ kind: 'idle' });
        callbacks.current.onError(errorMessage(caught));
        return;
      }
      if (run !== runToken.current) return;
      setPhase({ kind: 'running', replayId, ...shown });

      for (;;) {
        let replay: Replay;
        try {
          replay = await api.getReplay(replayId);
        } catch (caught) {
          if (run !== runToken.current) return;
          setPhase({ kind: 'stopped', replayId, ...shown });
          callbacks.current.onError(errorMessage(caught));
          return;
        }
        if (run !== runToken.current) return;
        if (replay.remaining <= 0) {
          setPhase({ kind: 'finished', replayId, total: replay.total });
          callbacks.current.onFinished();
          return;
        }
        shown = { done: replay.done, total: replay.total };
        setPhase({ kind: 'running', replayId, ...shown });
        await sleep(PROGRESS_INTERVAL_MS);
        if (run !== runToken.current) return;
      }
    },
    [api],
  );

  return { phase, ask, dismiss, start };
}
