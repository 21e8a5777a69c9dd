// Requests for the same key that arrive while an answer is on its way share that answer instead of
// asking again. Nothing is kept once it arrives (resolved or rejected), so the next request after
// it asks afresh: a change (a grant, a revocation) applies to everything that starts after it.
export function shareInFlight<K, V>(ask: (key: K) => Promise<V>): (key: K) => Promise<V> {
  const asking = new Map<K, Promise<V>>();
  return (key) => {
    const pending = asking.get(key);
    if (pending) return pending;
    const mine = ask(key);
    asking.set(key, mine);
    const forget = (): void => {
      if (asking.get(key) === mine) asking.delete(key);
    };
    mine.then(forget, forget);
    return mine;
  };
}
