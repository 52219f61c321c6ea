/**
 * Which payloads may appear how often in each exchange (RFC 7296 §1.2–1.5,
 * RFC 7383, RFC 6023 childless, RFC 5998 EAP-only), modelled on charon's
 * payload rules. Known payload types not listed for an exchange are
 * rejected; unknown non-critical payloads are ignored (§2.5).
 *
 * Lenient by design where the RFC allows short answers: a response that
 * carries an error notify (type < 16384) passes whatever else is missing,
 * and an IKE_SA_INIT response may be just N(COOKIE) or N(REDIRECT).
 */
import { ExchangeType, NOTIFY_STATUS_MIN, NotifyType, PayloadType } from '../constants.js';
import { IkeParseError } from '../errors.js';
import { isUnknownPayload } from './payloads.js';
import type { Payload } from './types.js';

export interface PayloadRule {
  type: PayloadType;
  min: number;
  max: number;
}

export interface ExchangeRules {
  rules: readonly PayloadRule[];
  /** Payload types that must appear together or not at all (e.g. SA, TSi, TSr). */
  together?: readonly (readonly PayloadType[])[];
}

const MANY = Number.POSITIVE_INFINITY;
/** RFC 5685: a REDIRECT notify may replace the IKE_SA_INIT response. */
const NOTIFY_REDIRECT = 16407;

const r = (type: PayloadType, min: number, max: number): PayloadRule => ({ type, min, max });
const common = [r(PayloadType.NOTIFY, 0, MANY), r(PayloadType.VENDOR, 0, MANY)];
const childSa = [PayloadType.SA, PayloadType.TSi, PayloadType.TSr] as const;

const IKE_SA_INIT: ExchangeRules = {
  rules: [
    r(PayloadType.SA, 1, 1), r(PayloadType.KE, 1, 1), r(PayloadType.NONCE, 1, 1),
    r(PayloadType.CERTREQ, 0, MANY), ...common,
  ],
};

/** IKE_AUTH with EAP spans several rounds, so almost everything is optional. */
const IKE_AUTH_REQUEST: ExchangeRules = {
  rules: [
    r(PayloadType.IDi, 0, 1), r(PayloadType.CERT, 0, MANY), r(PayloadType.CERTREQ, 0, MANY),
    r(PayloadType.IDr, 0, 1), r(PayloadType.AUTH, 0, 1), r(PayloadType.EAP, 0, 1),
    r(PayloadType.CP, 0, 1), r(PayloadType.SA, 0, 1), r(PayloadType.TSi, 0, 1), r(PayloadType.TSr, 0, 1),
    ...common,
  ],
  together: [childSa],
};

const IKE_AUTH_RESPONSE: ExchangeRules = {
  rules: [
    r(PayloadType.IDr, 0, 1), r(PayloadType.CERT, 0, MANY), r(PayloadType.AUTH, 0, 1),
    r(PayloadType.EAP, 0, 1), r(PayloadType.CP, 0, 1),
    r(PayloadType.SA, 0, 1), r(PayloadType.TSi, 0, 1), r(PayloadType.TSr, 0, 1),
    ...common,
  ],
  together: [childSa],
};

/** Child SA creation/rekey has TSi+TSr; IKE SA rekey has neither. */
const CREATE_CHILD_SA: ExchangeRules = {
  rules: [
    r(PayloadType.SA, 1, 1), r(PayloadType.NONCE, 1, 1), r(PayloadType.KE, 0, 1),
    r(PayloadType.TSi, 0, 1), r(PayloadType.TSr, 0, 1), ...common,
  ],
  together: [[PayloadType.TSi, PayloadType.TSr]],
};

const INFORMATIONAL: ExchangeRules = {
  rules: [r(PayloadType.DELETE, 0, MANY), r(PayloadType.CP, 0, 1), ...common],
};

export const EXCHANGE_RULES: ReadonlyMap<ExchangeType, { request: ExchangeRules; response: ExchangeRules }> = new Map([
  [ExchangeType.IKE_SA_INIT, { request: IKE_SA_INIT, response: IKE_SA_INIT }],
  [ExchangeType.IKE_AUTH, { request: IKE_AUTH_REQUEST, response: IKE_AUTH_RESPONSE }],
  [ExchangeType.CREATE_CHILD_SA, { request: CREATE_CHILD_SA, response: CREATE_CHILD_SA }],
  [ExchangeType.INFORMATIONAL, { request: INFORMATIONAL, response: INFORMATIONAL }],
]);

function isErrorNotify(p: Payload): boolean {
  return p.type === PayloadType.NOTIFY && !isUnknownPayload(p) && p.notifyType < NOTIFY_STATUS_MIN;
}

function isShortInitAnswer(p: Payload): boolean {
  return p.type === PayloadType.NOTIFY && !isUnknownPayload(p)
    && (p.notifyType === NotifyType.COOKIE || p.notifyType === NOTIFY_REDIRECT);
}

/**
 * Throws IkeParseError naming the first violation. Unknown exchange types
 * are the engine's business (it decides whether to answer) and pass here.
 */
export function checkPayloadRules(exchange: ExchangeType | number, isResponse: boolean, payloads: readonly Payload[]): void {
  const set = EXCHANGE_RULES.get(exchange as ExchangeType);
  if (!set) return;
  if (isResponse && payloads.some(isErrorNotify)) return;
  if (isResponse && exchange === ExchangeType.IKE_SA_INIT && payloads.some(isShortInitAnswer)) return;

  const { rules, together } = isResponse ? set.response : set.request;
  const where = `${ExchangeType[exchange as ExchangeType]} ${isResponse ? 'response' : 'request'}`;
  const counts = new Map<number, number>();
  for (const p of payloads) {
    if (isUnknownPayload(p)) continue; // non-critical unknowns are ignored (critical ones never decode)
    counts.set(p.type, (counts.get(p.type) ?? 0) + 1);
  }
  for (const [type, n] of counts) {
    const rule = rules.find((x) => x.type === type);
    if (!rule) throw new IkeParseError(`${where}: payload ${PayloadType[type] ?? type} not allowed`);
    if (n > rule.max) throw new IkeParseError(`${where}: ${n} ${PayloadType[type]} payloads, at most ${rule.max} allowed`);
  }
  for (const rule of rules) {
    if ((counts.get(rule.type) ?? 0) < rule.min) {
      throw new IkeParseError(`${where}: missing ${PayloadType[rule.type]} payload`);
    }
  }
  for (const group of together ?? []) {
    const present = group.filter((t) => counts.has(t));
    if (present.length !== 0 && present.length !== group.length) {
      const missing = group.filter((t) => !counts.has(t)).map((t) => PayloadType[t]);
      throw new IkeParseError(`${where}: ${present.map((t) => PayloadType[t]).join('+')} without ${missing.join('+')}`);
    }
  }
}
