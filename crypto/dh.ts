/**
 * IKEv2 key exchange methods (RFC 7296 §1.2, §3.4):
 *   14 MODP-2048      RFC 3526 §3   KE data = g^x mod p, left-padded to 256 octets
 *   19 ECP-256        RFC 5903 §7   KE data = x ‖ y (no 0x04 prefix), secret = x
 *   20 ECP-384        RFC 5903 §7   same, 48-octet coordinates
 *   31 Curve25519     RFC 8031 §3   KE data = u (32 octets), secret = X25519 output
 */
import { createDiffieHellman, randomBytes, type DiffieHellman } from 'node:crypto';
import { p256, p384 } from '@noble/curves/nist.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { DhGroup } from '../ike/constants.js';
import { CryptoError, KeyExchangeError } from './errors.js';

export interface KeyExchange {
  readonly group: number;
  /** Our KE payload data, exactly keyExchangeLength(group) bytes. */
  readonly publicKey: Buffer;
  /** g^ir from the peer's KE payload data; throws KeyExchangeError for a bad value. */
  computeSharedSecret(peerPublic: Buffer): Buffer;
}

/** RFC 3526 §3, 2048-bit MODP group: p = 2^2048 - 2^1984 - 1 + 2^64 * { [2^1918 pi] + 124476 }, g = 2. */
const MODP_2048_PRIME = Buffer.from(
  (
    'FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1' +
    '29024E08 8A67CC74 020BBEA6 3B139B22 514A0879 8E3404DD' +
    'EF9519B3 CD3A431B 302B0A6D F25F1437 4FE1356D 6D51C245' +
    'E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED' +
    'EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D' +
    'C2007CB8 A163BF05 98DA4836 1C55D39A 69163FA8 FD24CF5F' +
    '83655D23 DCA3AD96 1C62F356 208552BB 9ED52907 7096966D' +
    '670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B' +
    'E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9' +
    'DE2BCBF6 95581718 3995497C EA956AE5 15D22618 98FA0510' +
    '15728E5A 8AACAA68 FFFFFFFF FFFFFFFF'
  ).replace(/ /g, ''),
  'hex',
);
if (MODP_2048_PRIME.length !== 256) throw new Error('MODP-2048 prime constant is malformed');
const MODP_GENERATOR = Buffer.from([2]);
/** 256-bit exponent: comfortably above the 2*112-bit strength of the group (RFC 3526 §8). */
const MODP_PRIVATE_LENGTH = 32;

const KE_LENGTHS: ReadonlyMap<number, number> = new Map([
  [DhGroup.MODP_2048, 256],
  [DhGroup.ECP_256, 64],
  [DhGroup.ECP_384, 96],
  [DhGroup.CURVE25519, 32],
]);

export function isSupportedGroup(group: number): boolean {
  return KE_LENGTHS.has(group);
}

/** Octets of KE payload data for `group` (also the shared secret length, except ECP = half). */
export function keyExchangeLength(group: number): number {
  const len = KE_LENGTHS.get(group);
  if (len === undefined) throw new CryptoError(`unsupported key exchange group ${group}`);
  return len;
}

export function createKeyExchange(group: number, privateKey?: Buffer): KeyExchange {
  switch (group) {
    case DhGroup.MODP_2048:
      return new ModpKeyExchange(group, MODP_2048_PRIME, privateKey);
    case DhGroup.ECP_256:
      return new EcpKeyExchange(group, p256, 32, privateKey);
    case DhGroup.ECP_384:
      return new EcpKeyExchange(group, p384, 48, privateKey);
    case DhGroup.CURVE25519:
      return new X25519KeyExchange(privateKey);
    default:
      throw new CryptoError(`unsupported key exchange group ${group}`);
  }
}

function leftPad(value: Buffer, length: number): Buffer {
  if (value.length === length) return value;
  if (value.length > length) throw new CryptoError(`value of ${value.length} bytes exceeds ${length}`);
  const out = Buffer.alloc(length);
  value.copy(out, length - value.length);
  return out;
}

function expectLength(group: number, peerPublic: Buffer, expected: number): void {
  if (peerPublic.length !== expected) {
    throw new KeyExchangeError(
      `group ${group}: peer KE data is ${peerPublic.length} bytes, expected ${expected}`,
    );
  }
}

class ModpKeyExchange implements KeyExchange {
  readonly publicKey: Buffer;
  private readonly dh: DiffieHellman;
  private readonly primeMinusOne: bigint;

  constructor(
    readonly group: number,
    private readonly prime: Buffer,
    privateKey: Buffer | undefined,
  ) {
    this.dh = createDiffieHellman(prime, MODP_GENERATOR);
    // generateKeys() keeps a private key set beforehand, which makes tests deterministic.
    this.dh.setPrivateKey(privateKey ?? randomBytes(MODP_PRIVATE_LENGTH));
    this.publicKey = leftPad(this.dh.generateKeys(), prime.length);
    this.primeMinusOne = BigInt('0x' + prime.toString('hex')) - 1n;
  }

  computeSharedSecret(peerPublic: Buffer): Buffer {
    expectLength(this.group, peerPublic, this.prime.length);
    // RFC 7296 §5 / SP 800-56A partial validation: 1 < y < p-1 rules out the
    // small-subgroup values 0, 1 and p-1.
    const y = BigInt('0x' + peerPublic.toString('hex'));
    if (y <= 1n || y >= this.primeMinusOne) {
      throw new KeyExchangeError(`group ${this.group}: peer public value out of range`);
    }
    let secret: Buffer;
    try {
      secret = this.dh.computeSecret(peerPublic);
    } catch (err) {
      throw new KeyExchangeError(`group ${this.group}: ${(err as Error).message}`);
    }
    return leftPad(secret, this.prime.length);
  }
}

interface WeierstrassEcdh {
  getPublicKey(secretKey: Uint8Array, isCompressed?: boolean): Uint8Array;
  getSharedSecret(secretKey: Uint8Array, publicKey: Uint8Array, isCompressed?: boolean): Uint8Array;
  utils: { randomSecretKey(): Uint8Array };
}

class EcpKeyExchange implements KeyExchange {
  readonly publicKey: Buffer;
  private readonly secretKey: Uint8Array;

  constructor(
    readonly group: number,
    private readonly curve: WeierstrassEcdh,
    private readonly coordinateLength: number,
    privateKey: Buffer | undefined,
  ) {
    if (privateKey && privateKey.length !== coordinateLength) {
      throw new CryptoError(`group ${group}: private key must be ${coordinateLength} bytes`);
    }
    this.secretKey = privateKey ? new Uint8Array(privateKey) : curve.utils.randomSecretKey();
    // Uncompressed SEC1 point is 0x04 ‖ x ‖ y; IKE carries x ‖ y (RFC 5903 §7).
    try {
      this.publicKey = Buffer.from(curve.getPublicKey(this.secretKey, false).subarray(1));
    } catch (err) {
      throw new CryptoError(`group ${group}: invalid private key: ${(err as Error).message}`);
    }
  }

  computeSharedSecret(peerPublic: Buffer): Buffer {
    expectLength(this.group, peerPublic, 2 * this.coordinateLength);
    const sec1 = new Uint8Array(1 + peerPublic.length);
    sec1[0] = 0x04;
    sec1.set(peerPublic, 1);
    let shared: Uint8Array;
    try {
      // Point decoding checks the point is on the curve and not infinity.
      shared = this.curve.getSharedSecret(this.secretKey, sec1, true);
    } catch (err) {
      throw new KeyExchangeError(`group ${this.group}: invalid peer point: ${(err as Error).message}`);
    }
    // Compressed form is prefix ‖ x; the IKE shared secret is x alone (RFC 5903 §7).
    return Buffer.from(shared.subarray(1));
  }
}

class X25519KeyExchange implements KeyExchange {
  readonly group = DhGroup.CURVE25519;
  readonly publicKey: Buffer;
  private readonly secretKey: Uint8Array;

  constructor(privateKey: Buffer | undefined) {
    if (privateKey && privateKey.length !== 32) {
      throw new CryptoError('Curve25519: private key must be 32 bytes');
    }
    this.secretKey = privateKey ? new Uint8Array(privateKey) : x25519.utils.randomSecretKey();
    this.publicKey = Buffer.from(x25519.getPublicKey(this.secretKey));
  }

  computeSharedSecret(peerPublic: Buffer): Buffer {
    expectLength(this.group, peerPublic, 32);
    let shared: Uint8Array;
    try {
      shared = x25519.getSharedSecret(this.secretKey, new Uint8Array(peerPublic));
    } catch (err) {
      throw new KeyExchangeError(`Curve25519: ${(err as Error).message}`);
    }
    // RFC 8031 §2.3: an all-zero result means a low-order peer point; abort.
    if (shared.every((b) => b === 0)) {
      throw new KeyExchangeError('Curve25519: all-zero shared secret');
    }
    return Buffer.from(shared);
  }
}
