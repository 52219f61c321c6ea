/**
 * Connected point-to-site clients, by IKE identity: which IKE SA serves the
 * client, its leased address and the certificate chain it authenticated
 * with (kept so a reload can re-check it against new roots and revocations).
 */
import { type IkeSa, IkeSaState } from '../ike-sa.js';

export interface ClientEntry {
  identity: string;
  address: string;
  /** SHA-1 thumbprint of the client's certificate. */
  thumbprint: string;
  subject: string;
  leafDer: Buffer;
  intermediatesDer: Buffer[];
  connectedMs: number;
  sa: IkeSa;
}

export class ClientRegistry {
  private readonly byIdentity = new Map<string, ClientEntry>();

  /** The SA currently serving an entry: follows IKE SA rekeys. */
  static current(e: ClientEntry): IkeSa {
    let sa = e.sa;
    while (sa.rekeyedTo) sa = sa.rekeyedTo;
    e.sa = sa;
    return sa;
  }

  add(e: ClientEntry): ClientEntry | undefined {
    const old = this.byIdentity.get(e.identity);
    this.byIdentity.set(e.identity, e);
    return old;
  }

  get(identity: string): ClientEntry | undefined { return this.byIdentity.get(identity); }

  remove(identity: string): void { this.byIdentity.delete(identity); }

  entries(): ClientEntry[] { return [...this.byIdentity.values()]; }

  get size(): number { return this.byIdentity.size; }

  /**
   * Drops entries whose IKE SA is gone (closed without a rekey successor) and
   * returns them so the caller can release their addresses.
   */
  sweep(): ClientEntry[] {
    const gone: ClientEntry[] = [];
    for (const e of this.byIdentity.values()) {
      const sa = ClientRegistry.current(e);
      if (sa.state === IkeSaState.Closed) gone.push(e);
    }
    for (const e of gone) this.byIdentity.delete(e.identity);
    return gone;
  }
}
