import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { TlsSpec } from '../shared/protocol/transport-spec.js';

/** Options a TLS socket takes that are not the secure context's. */
const SOCKET_OPTIONS = new Set(['requestCert', 'rejectUnauthorized', 'servername', 'ALPNProtocols', 'host']);

/** Contexts kept: a rendezvous's current one and a few replaced ones whose streams may still be adopted. */
const KEEP = 32;

/**
 * A shard's TLS contexts, built once per transport key (transport-spec.ts): parsing a key
 * and a certificate costs milliseconds, so every stream of a rendezvous shares one, and
 * setSecureContext's new key makes a new one for the streams accepted after it.
 */
export class TlsContexts {
  private readonly contexts = new Map<string, SecureContext>();

  get(key: string, tls: TlsSpec): SecureContext {
    let context = this.contexts.get(key);
    if (context === undefined) {
      const options: Record<string, unknown> = {};
      for (const [name, value] of Object.entries(tls.options)) if (!SOCKET_OPTIONS.has(name)) options[name] = value;
      context = createSecureContext(options as SecureContextOptions);
      if (this.contexts.size >= KEEP) this.contexts.delete(this.contexts.keys().next().value!);
      this.contexts.set(key, context);
    }
    return context;
  }
}
