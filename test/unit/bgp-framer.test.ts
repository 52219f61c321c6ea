/**
 * Split-buffer tests for the BGP stream framer: the same byte stream (BIRD's
 * side of bgp-basic.pcap) fed in every kind of chunking must yield the same frames.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { BgpFramer } from '../../bgp/framer.js';
import { readTcpSegments, tcpStream } from '../helpers/pcap-tcp.js';
import { KEEPALIVE } from '../../bgp/keepalive.js';

const stream = tcpStream(readTcpSegments(fileURLToPath(new URL('../vectors/bgp-basic.pcap', import.meta.url))), '203.0.113.2', '203.0.113.1');
const whole = new BgpFramer().push(stream).map((f) => f.toString('hex'));

function feed(chunks: Buffer[]): string[] {
  const f = new BgpFramer();
  const out: string[] = [];
  for (const c of chunks) for (const frame of f.push(c)) out.push(frame.toString('hex'));
  expect(f.pendingBytes).toBe(0);
  return out;
}

describe('BgpFramer split buffers', () => {
  it('whole stream gives the 13 messages of BIRD io-bgpB', () => {
    expect(whole).toHaveLength(13);
  });

  it('one byte at a time', () => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
    expect(feed(chunks)).toEqual(whole);
  });

  it.each([2, 3, 7, 18, 19, 20, 50, 64, 100])('fixed chunks of %i bytes', (n) => {
    const chunks: Buffer[] = [];
    for (let i = 0; i < stream.length; i += n) chunks.push(stream.subarray(i, i + n));
    expect(feed(chunks)).toEqual(whole);
  });

  it('every single split point', () => {
    for (let i = 1; i < stream.length; i++) expect(feed([stream.subarray(0, i), stream.subarray(i)])).toEqual(whole);
  });

  it('frames handed out stay intact after later pushes (no buffer reuse)', () => {
    const f = new BgpFramer();
    const first = f.push(Buffer.concat([KEEPALIVE, KEEPALIVE.subarray(0, 10)]));
    const copy = Buffer.from(first[0] as Buffer);
    f.push(Buffer.concat([KEEPALIVE.subarray(10), Buffer.alloc(16, 0xff)]));
    expect((first[0] as Buffer).equals(copy)).toBe(true);
  });

  it('waits for an incomplete header and an incomplete body', () => {
    const f = new BgpFramer();
    expect(f.push(stream.subarray(0, 10))).toEqual([]);
    expect(f.pendingBytes).toBe(10);
    expect(f.push(stream.subarray(10, 40))).toEqual([]);
    expect(f.push(stream.subarray(40, 53))).toHaveLength(1); // the 53-octet OPEN
  });
});
