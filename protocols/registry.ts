// The protocol registry: ALPN → protocol. The listener offers exactly the registered ALPNs, and the
// protocols supervisor starts one actor per entry. Adding a protocol is one `.add(spec)` line.
// (Modelled on iroh's Router: one small interface, one builder.)
import type { ProtocolSpec } from './protocol.ts';

export class ProtocolRegistry {
  readonly #byAlpn = new Map<string, ProtocolSpec>();

  add(spec: ProtocolSpec): this {
    if (!/^[\x21-\x7e]{1,255}$/.test(spec.alpn)) throw new Error(`"${spec.alpn}" is not a valid ALPN (1-255 printable ASCII bytes)`);
    if (this.#byAlpn.has(spec.alpn)) throw new Error(`ALPN "${spec.alpn}" is registered twice`);
    this.#byAlpn.set(spec.alpn, spec);
    return this;
  }

  get(alpn: string): ProtocolSpec | undefined {
    return this.#byAlpn.get(alpn);
  }

  /** The ALPNs the listener offers, in registration order. */
  alpns(): string[] {
    return [...this.#byAlpn.keys()];
  }

  specs(): ProtocolSpec[] {
    return [...this.#byAlpn.values()];
  }
}
