/**
 * What the HTTPS server consumes. Two implementations: `fileTlsSource` (mounted Secret, cert-manager) and
 * `selfManagedTlsSource` (CA + serving cert kept in one Secret, caBundle injected into the webhook configurations).
 */
export interface TlsMaterial {
  /** PEM private key of the serving certificate. */
  key: string;
  /** PEM serving certificate (leaf). */
  cert: string;
  /** PEM trust bundle (may hold old + new CA during a CA rotation overlap); '' when unknown (files mode without caFile). */
  ca: string;
  /** Expiry of `cert`. */
  notAfter: Date;
}

export interface TlsSource {
  /** undefined until loaded. */
  current(): TlsMaterial | undefined;
  /** A valid cert is loaded AND (self-managed) the caBundle is injected in both webhook configurations. */
  ready(): boolean;
  /** The server calls https.Server.setSecureContext({key, cert}) on change. */
  onChange(listener: (m: TlsMaterial) => void): void;
  stop(): Promise<void>;
}

/** Both factories return this: a TlsSource plus a way to wait for the first material. */
export interface LoadableTlsSource extends TlsSource {
  /** Resolves with the first material loaded; rejects only when the source is stopped before that. */
  whenLoaded(): Promise<TlsMaterial>;
}
