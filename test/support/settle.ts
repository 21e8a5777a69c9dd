// Tests that check "settled before / not before" without reading the wall clock: a tracked promise
// reports its state, and `flush()` lets every pending promise callback run. Together with a frozen
// clock (node:test's `t.mock.timers` or xstate's SimulatedClock) "it failed at once" becomes "it had
// failed before any time passed", which holds however loaded the machine is.

export type Outcome<T> =
  | { state: 'pending' }
  | { state: 'fulfilled'; value: T }
  | { state: 'rejected'; reason: unknown };

export interface Tracked<T> {
  readonly outcome: Outcome<T>;
  readonly promise: Promise<T>;
}

/** Follows a promise's state; the rejection counts as handled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  let outcome: Outcome<T> = { state: 'pending' };
  promise.then(
    (value) => void (outcome = { state: 'fulfilled', value }),
    (reason: unknown) => void (outcome = { state: 'rejected', reason }),
  );
  return {
    promise,
    get outcome() {
      return outcome;
    },
  };
}

/**
 * One turn of the event loop (setImmediate, which the tests never mock): every promise callback
 * queued so far, and those they queue in turn, has run when it resolves. It advances no timer.
 */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
