/** Calls `report` at most every `intervalMs`; `flush` sends the last value held back. */
export function throttled(
  report: (bytes: number) => void,
  intervalMs = 100,
): ((bytes: number) => void) & { flush(): void } {
  let last = 0;
  let pending: number | undefined;
  const call = (bytes: number) => {
    pending = bytes;
    const now = Date.now();
    if (now - last >= intervalMs) {
      last = now;
      report(bytes);
      pending = undefined;
    }
  };
  return Object.assign(call, {
    flush: () => {
      if (pending !== undefined) report(pending);
      pending = undefined;
    },
  });
}
