/**
 * Structured JSON logging (pino) for the daemon. Secrets never reach the
 * output: known secret field names are censored at any depth, and the literal
 * values of configured secrets (pre-shared keys) are censored inside any string,
 * including the message itself.
 *
 * Subsystems log through children: `log.child({ subsys: 'ike', conn: name })`.
 */
import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export const REDACTED = '[Redacted]';

/** Top-level and one-level-deep paths for pino's fast redaction (also applied to child bindings). */
export const REDACT_PATHS: readonly string[] = [
  'sharedKey', 'psk', 'key', 'secret',
  '*.sharedKey', '*.psk', '*.key', '*.secret',
];

// Field names whose values are secret wherever they appear: PSKs, passwords, and
// IKE/ESP keying material (RFC 7296 §2.14 names: SKEYSEED, SK_d, SK_ai, ...).
const SECRET_FIELD = /^(?:key|keys|keymat|skeyseed|sk_?[a-z]{1,2}|enc_?key|integ_?key|auth_?key|private_?key)$|(?:secret|password|passphrase|psk|sharedkey)$/i;

/** Literal secret values shorter than this are not scrubbed from free text (they would mangle every message). */
const MIN_SCRUB_LENGTH = 4;
/** Deep scrubbing stops here; log objects deeper than this are a bug, not data. */
const MAX_DEPTH = 10;

export interface LoggerOptions {
  level: LevelWithSilent;
  name: string;
  /** Literal secret values (e.g. every connection's sharedKey) to censor inside any logged string. */
  secrets?: readonly string[];
  /** Defaults to synchronous stdout so nothing is lost when the daemon exits. */
  destination?: DestinationStream;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Returns a redacted copy; never mutates what the caller passed in. */
function scrub(value: unknown, secrets: readonly string[], depth: number): unknown {
  if (typeof value === 'string') return scrubString(value, secrets);
  if (depth >= MAX_DEPTH) return Array.isArray(value) || isPlainObject(value) ? '[Too deep]' : value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, secrets, depth + 1));
  if (value instanceof Error) {
    // Errors keep their class for pino's err serializer; only the text is scrubbed.
    if (secrets.length === 0) return value;
    const copy = Object.create(Object.getPrototypeOf(value) as object) as Error;
    Object.assign(copy, value);
    copy.message = scrubString(value.message, secrets);
    if (value.stack !== undefined) copy.stack = scrubString(value.stack, secrets);
    return copy;
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELD.test(k) && v !== undefined && v !== null ? REDACTED : scrub(v, secrets, depth + 1);
  }
  return out;
}

function scrubString(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

export function createLogger(opts: LoggerOptions): Logger {
  // Longest first so a secret that contains another is removed whole.
  const secrets = [...new Set(opts.secrets ?? [])]
    .filter((s) => s.length >= MIN_SCRUB_LENGTH)
    .sort((a, b) => b.length - a.length);
  const destination = opts.destination ?? pino.destination({ dest: 1, sync: true });
  return pino({
    name: opts.name,
    level: opts.level,
    base: { pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    formatters: {
      level: (label) => ({ level: label }),
      log: (obj) => scrub(obj, secrets, 0) as Record<string, unknown>,
    },
    hooks: {
      // The message and printf-style arguments bypass formatters.log.
      logMethod(args, method) {
        if (secrets.length === 0) return method.apply(this, args);
        const clean = args.map((a) => (typeof a === 'string' ? scrubString(a, secrets) : a)) as typeof args;
        return method.apply(this, clean);
      },
    },
  }, destination);
}

/** A child logger for one subsystem (and optionally one connection). */
export function subsystemLogger(log: Logger, subsys: string, conn?: string): Logger {
  return log.child(conn === undefined ? { subsys } : { subsys, conn });
}
