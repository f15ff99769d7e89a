import { useEffect, useState } from 'react';
import type { Api, DestinationKind } from './api';
import { toShownError, type ShownError } from './ErrorAlert';

/** The kinds the API offers, read once: null until read, or when reading failed (then `error`). */
export function useDestinationKinds(api: Api): { kinds: DestinationKind[] | null; error: ShownError | null } {
  const [kinds, setKinds] = useState<DestinationKind[] | null>(null);
  const [error, setError] = useState<ShownError | null>(null);
  useEffect(() => {
    let current = true;
    api.listDestinationKinds().then(
      (listed) => {
        if (current) setKinds(listed);
      },
      (caught: unknown) => {
        if (current) setError(toShownError(caught));
      },
    );
    return () => {
      current = false;
    };
  }, [api]);
  return { kinds, error };
}
