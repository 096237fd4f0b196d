/** A ref that always holds the latest value, updated after render (never during it). */
import { useEffect, useLayoutEffect, useRef, type RefObject } from "react";

/** `useLayoutEffect` in the browser, `useEffect` on the server (where neither runs). */
export const useIsomorphicLayoutEffect = typeof document !== "undefined" ? useLayoutEffect : useEffect;

/** Returns a ref whose `current` is `value` as of the last commit. */
export function useLatest<T>(value: T): RefObject<T> {
  const ref = useRef(value);
  useIsomorphicLayoutEffect(() => {
    ref.current = value;
  });
  return ref;
}
