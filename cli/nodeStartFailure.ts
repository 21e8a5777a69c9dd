// Why `alknet node` could not start, as one line. The listener's bind error reaches the CLI only
// as the last cause of the supervisor's escalation ("supervisor "node" gave up: ..."), as text:
// this finds it in the cause chain and says what it means and what to do.

/** The messages of err and its causes, outermost first (bounded: cause chains can loop). */
function messages(err: unknown): string[] {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e != null && depth < 8; depth++) {
    out.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return out;
}

const LISTEN_FAILURE = /cannot listen on (TCP|UDP) (\S+): (.*)$/;

/** A bind error's text → what it means for the user, with the remedy. */
function bindReason(protocol: string, raw: string): string {
  if (/EADDRINUSE|address already in use/i.test(raw)) return 'address already in use (another node running? pick another --listen)';
  if (/EACCES|permission denied/i.test(raw)) return 'permission denied (ports below 1024 need privileges; pick another --listen)';
  if (/EADDRNOTAVAIL|cannot assign requested address/i.test(raw)) return 'this machine has no such address (pick another --listen)';
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/i.test(raw)) return 'unknown host (pick another --listen)';
  // @matrixai/quic reports any UDP bind failure as "Could not bind to HOST" without the errno; the
  // TCP port was free, so the usual cause is another program on that UDP port.
  if (protocol === 'UDP' && /could not bind/i.test(raw)) return 'the UDP port is taken (another node running? pick another --listen)';
  return raw;
}

/** One line for a failed start; undefined when the failure is not one this recognises. */
export function explainStartFailure(err: unknown): string | undefined {
  for (const message of messages(err).reverse()) {
    const m = LISTEN_FAILURE.exec(message);
    if (m) return `cannot listen on ${m[2]}: ${bindReason(m[1]!, m[3]!)}`;
  }
  return undefined;
}

/** The innermost message of an error chain: the reason, under the wrappers that name who gave up. */
export function rootMessage(err: unknown): string {
  return messages(err).at(-1) ?? String(err);
}
