/**
 * One-line message summaries in strongSwan's log format, e.g.
 *   "IKE_AUTH request 1 [ IDi N(INIT_CONTACT) IDr AUTH SA TSi TSr ]"
 * so our logs can be compared line by line with charon's "parsed ..." and
 * "generating ..." lines. Short names follow charon's tables.
 */
import { CfgType, ExchangeType, HeaderFlag, NotifyType, PayloadType } from '../constants.js';
import { isUnknownPayload } from './payloads.js';
import type { IkeMessage, Payload, RawIkeMessage } from './types.js';

const PAYLOAD_SHORT: Record<number, string> = {
  [PayloadType.SA]: 'SA',
  [PayloadType.KE]: 'KE',
  [PayloadType.IDi]: 'IDi',
  [PayloadType.IDr]: 'IDr',
  [PayloadType.CERT]: 'CERT',
  [PayloadType.CERTREQ]: 'CERTREQ',
  [PayloadType.AUTH]: 'AUTH',
  [PayloadType.NONCE]: 'No',
  [PayloadType.DELETE]: 'D',
  [PayloadType.VENDOR]: 'V',
  [PayloadType.TSi]: 'TSi',
  [PayloadType.TSr]: 'TSr',
  [PayloadType.SK]: 'E',
};

const NOTIFY_SHORT: Record<number, string> = {
  [NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD]: 'CRIT',
  [NotifyType.INVALID_IKE_SPI]: 'INVAL_IKE_SPI',
  [NotifyType.INVALID_MAJOR_VERSION]: 'INVAL_MAJOR',
  [NotifyType.INVALID_SYNTAX]: 'INVAL_SYN',
  [NotifyType.INVALID_MESSAGE_ID]: 'INVAL_MID',
  [NotifyType.INVALID_SPI]: 'INVAL_SPI',
  [NotifyType.NO_PROPOSAL_CHOSEN]: 'NO_PROP',
  [NotifyType.INVALID_KE_PAYLOAD]: 'INVAL_KE',
  [NotifyType.AUTHENTICATION_FAILED]: 'AUTH_FAILED',
  [NotifyType.SINGLE_PAIR_REQUIRED]: 'SINGLE_PAIR',
  [NotifyType.NO_ADDITIONAL_SAS]: 'NO_ADD_SAS',
  [NotifyType.INTERNAL_ADDRESS_FAILURE]: 'INT_ADDR_FAIL',
  [NotifyType.FAILED_CP_REQUIRED]: 'FAIL_CP_REQ',
  [NotifyType.TS_UNACCEPTABLE]: 'TS_UNACCEPT',
  [NotifyType.INVALID_SELECTORS]: 'INVAL_SEL',
  [NotifyType.TEMPORARY_FAILURE]: 'TEMP_FAIL',
  [NotifyType.CHILD_SA_NOT_FOUND]: 'NO_CHILD_SA',
  [NotifyType.INITIAL_CONTACT]: 'INIT_CONTACT',
  [NotifyType.SET_WINDOW_SIZE]: 'SET_WINSIZE',
  [NotifyType.ADDITIONAL_TS_POSSIBLE]: 'ADD_TS_POSS',
  [NotifyType.IPCOMP_SUPPORTED]: 'IPCOMP_SUP',
  [NotifyType.NAT_DETECTION_SOURCE_IP]: 'NATD_S_IP',
  [NotifyType.NAT_DETECTION_DESTINATION_IP]: 'NATD_D_IP',
  [NotifyType.COOKIE]: 'COOKIE',
  [NotifyType.USE_TRANSPORT_MODE]: 'USE_TRANSP',
  [NotifyType.HTTP_CERT_LOOKUP_SUPPORTED]: 'HTTP_CERT_LOOK',
  [NotifyType.REKEY_SA]: 'REKEY_SA',
  [NotifyType.ESP_TFC_PADDING_NOT_SUPPORTED]: 'ESP_TFC_PAD_N',
  [NotifyType.NON_FIRST_FRAGMENTS_ALSO]: 'NON_FIRST_FRAG',
  [NotifyType.MOBIKE_SUPPORTED]: 'MOBIKE_SUP',
  [NotifyType.ADDITIONAL_IP4_ADDRESS]: 'ADD_4_ADDR',
  16398: 'ADD_6_ADDR',
  [NotifyType.NO_ADDITIONAL_ADDRESSES]: 'NO_ADD_ADDR',
  16400: 'UPD_SA_ADDR',
  16401: 'COOKIE2',
  16402: 'NO_NATS',
  16403: 'AUTH_LFT',
  [NotifyType.MULTIPLE_AUTH_SUPPORTED]: 'MULT_AUTH',
  16405: 'AUTH_FOLLOWS',
  [NotifyType.REDIRECT_SUPPORTED]: 'REDIR_SUP',
  16407: 'REDIR',
  16408: 'REDIR_FROM',
  [NotifyType.EAP_ONLY_AUTHENTICATION]: 'EAP_ONLY',
  [NotifyType.CHILDLESS_IKEV2_SUPPORTED]: 'CHDLESS_SUP',
  16419: 'CRASH_DET',
  16420: 'MSG_ID_SYN_SUP',
  16422: 'MSG_ID_SYN',
  [NotifyType.IKEV2_FRAGMENTATION_SUPPORTED]: 'FRAG_SUP',
  [NotifyType.SIGNATURE_HASH_ALGORITHMS]: 'HASH_ALG',
};

const CP_SHORT: Record<number, string> = {
  [CfgType.CFG_REQUEST]: 'CPRQ',
  [CfgType.CFG_REPLY]: 'CPRP',
  [CfgType.CFG_SET]: 'CPS',
  [CfgType.CFG_ACK]: 'CPA',
};

const CP_ATTR_SHORT: Record<number, string> = {
  1: 'ADDR', 2: 'MASK', 3: 'DNS', 4: 'NBNS', 5: 'EXP', 6: 'DHCP', 7: 'VER', 8: 'ADDR6',
  9: 'MASK6', 10: 'DNS6', 11: 'NBNS6', 12: 'DHCP6', 13: 'SUBNET', 14: 'SUP', 15: 'SUBNET6',
};

const EAP_CODE_SHORT: Record<number, string> = { 1: 'REQ', 2: 'RES', 3: 'SUCC', 4: 'FAIL' };
const EAP_TYPE_SHORT: Record<number, string> = {
  1: 'ID', 2: 'NTF', 3: 'NAK', 4: 'MD5', 5: 'OTP', 6: 'GTC', 13: 'TLS', 18: 'SIM', 21: 'TTLS',
  23: 'AKA', 25: 'PEAP', 26: 'MSCHAPV2', 43: 'FAST', 50: 'AKA\'', 254: 'EXP',
};

export function describePayload(p: Payload): string {
  if (isUnknownPayload(p)) return `U(${p.type})`;
  switch (p.type) {
    case PayloadType.NOTIFY:
      return `N(${NOTIFY_SHORT[p.notifyType] ?? String(p.notifyType)})`;
    case PayloadType.CP: {
      const attrs = p.attributes.map((a) => CP_ATTR_SHORT[a.type] ?? String(a.type));
      return `${CP_SHORT[p.cfgType] ?? `CP${p.cfgType}`}(${attrs.join(' ')})`;
    }
    case PayloadType.EAP: {
      const code = p.data[0];
      const name = code === undefined ? '?' : EAP_CODE_SHORT[code] ?? String(code);
      // Only requests and responses carry a Type octet.
      const type = (code === 1 || code === 2) && p.data.length > 4 ? p.data[4]! : undefined;
      return type === undefined ? `EAP/${name}` : `EAP/${name}/${EAP_TYPE_SHORT[type] ?? String(type)}`;
    }
    default:
      return PAYLOAD_SHORT[p.type] ?? `U(${p.type})`;
  }
}

/** "IKE_SA_INIT request 0 [ SA KE No N(NATD_S_IP) ... ]" (strongSwan style). */
export function describeMessage(m: IkeMessage | RawIkeMessage): string {
  const h = m.header;
  const exchange = ExchangeType[h.exchange as ExchangeType] ?? `EXCHANGE_${h.exchange}`;
  const dir = h.flags & HeaderFlag.Response ? 'response' : 'request';
  const parts = m.payloads.map(describePayload);
  if ('bytes' in m) {
    if (m.encrypted) parts.push('E');
    if (m.fragment) parts.push(`EF(${m.fragment.number}/${m.fragment.total})`);
  }
  return `${exchange} ${dir} ${h.messageId} [ ${parts.length ? `${parts.join(' ')} ` : ''}]`;
}
