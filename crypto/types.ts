/**
 * Crypto interfaces shared by ike/ and dataplane/. Implementations are in
 * this folder; keeping them behind interfaces lets tests swap in independent
 * implementations and lets benchmarks measure each one.
 */

/**
 * Protection of the IKE SK / SKF payload body (RFC 7296 §3.14, RFC 5282 for AEAD).
 *
 * The encoder lays out the whole message first (header, generic SK header,
 * room for IV, ciphertext and ICV) and then calls seal(); the decoder calls
 * open() on the received message. `bodyOffset` is the offset of the IV, i.e.
 * just after the SK generic header (or after the SKF fragment numbers).
 *   AEAD: AAD = msg[0, bodyOffset); nonce = salt(4) ‖ IV(8).
 *   CBC+HMAC: ICV = HMAC over msg[0, msg.length - icvLength).
 */
export interface SkTransform {
  readonly ivLength: number;
  readonly icvLength: number;
  /** Bytes of IV + ciphertext (incl. padding and pad-length byte) + ICV for n plaintext bytes. */
  sealedLength(plaintextLength: number): number;
  /**
   * Encrypts `plaintext` into msg[bodyOffset, msg.length): writes a fresh IV,
   * the ciphertext (with padding + pad length) and the ICV. msg.length must be
   * bodyOffset + sealedLength(plaintext.length) and msg[0, bodyOffset) final.
   */
  seal(msg: Buffer, bodyOffset: number, plaintext: Buffer): void;
  /**
   * Verifies and decrypts msg[bodyOffset, msg.length). Returns the inner
   * payload bytes with padding removed. Throws IntegrityError (from
   * crypto/errors.ts) when the ICV does not verify or the layout is bad.
   */
  open(msg: Buffer, bodyOffset: number): Buffer;
}
