import { useCallback, useEffect, useRef } from 'react';

/**
 * Tells a view's latest request apart from older ones: call the function it returns when a
 * request starts, and the answer `isLatest()` says whether that request is still the latest
 * (no newer one started, and the view is still shown). An answer to an older request is dropped.
 */
export function useLatestRequest(): () => () => boolean {
  const counter = useRef(0);
  useEffect(() => {
    const requests = counter;
    return () => {
      requests.current++;
    };
  }, []);
  return useCallback(() => {
    const mine = ++counter.current;
    return () => mine === counter.current;
  }, []);
}
