/**
 * Waits for `operation`, or rejects with `cancelled()` as soon as `signal` aborts, whether or not
 * the operation itself listens to the signal. A value the operation produces after the abort is
 * handed to `late` (to release it); its failure is ignored.
 */
export function abortable<T>(
  operation: Promise<T>,
  signal: AbortSignal | undefined,
  cancelled: () => Error,
  late?: (value: T) => void,
): Promise<T> {
  if (!signal) return operation;
  const abandon = () => operation.then(late, () => {});
  if (signal.aborted) {
    abandon();
    return Promise.reject(cancelled());
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(cancelled());
      abandon();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    operation.then(
      value => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      error => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
