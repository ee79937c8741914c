// The header declarations (src/wire/layout.ts) and the offsets derived from them, checked
// against the RFC diagrams: RFC 791 §3.1, RFC 792, RFC 9293 §3.1 and §3.2, RFC 7323, RFC 2018.
import test from 'ava';
import {
  icmpEchoRestLayout,
  icmpLayout,
  ipv4Layout,
  mssOptionLayout,
  offsetsOf,
  pseudoHeaderLayout,
  sackBlockLayout,
  sackPermittedOptionLayout,
  spansOf,
  tcpLayout,
  timestampsOptionLayout,
  windowScaleOptionLayout,
} from '../../src/wire/layout';
import {
  IPV4,
  IPV4_FF,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_MAX_HEADER_LEN,
  IPV4_MIN_HEADER_LEN,
  IPV4_VIHL,
} from '../../src/wire/ipv4';
import { ICMP, ICMP_ECHO, ICMP_HEADER_LEN } from '../../src/wire/icmp';
import { TCP, TCP_DATA_OFFSET, TCP_MAX_HEADER_LEN, TCP_MAX_OPTIONS_LEN, TCP_MIN_HEADER_LEN } from '../../src/wire/tcp';
import {
  TCPOLEN_MSS,
  TCPOLEN_SACK_BASE,
  TCPOLEN_SACK_BLOCK,
  TCPOLEN_SACK_PERMITTED,
  TCPOLEN_TIMESTAMPS,
  TCPOLEN_WINDOW_SCALE,
} from '../../src/wire/tcp-options';

test('IPv4 header: offsets and spans (RFC 791 §3.1)', (t) => {
  t.is(ipv4Layout.span, 20);
  t.deepEqual({ ...IPV4 }, {
    versionIhl: 0, tos: 1, totalLength: 2, identification: 4, flagsFragment: 6,
    ttl: 8, protocol: 9, checksum: 10, src: 12, dst: 16,
  });
  t.deepEqual({ ...spansOf(ipv4Layout) }, {
    versionIhl: 1, tos: 1, totalLength: 2, identification: 2, flagsFragment: 2,
    ttl: 1, protocol: 1, checksum: 2, src: 4, dst: 4,
  });
  t.deepEqual(IPV4_VIHL.version, { offset: 0, bytes: 1, shift: 4, mask: 0xf, wordMask: 0xf0 });
  t.deepEqual(IPV4_VIHL.ihl, { offset: 0, bytes: 1, shift: 0, mask: 0xf, wordMask: 0x0f });
  t.deepEqual(IPV4_FF.reserved, { offset: 6, bytes: 2, shift: 15, mask: 1, wordMask: 0x8000 });
  t.deepEqual(IPV4_FF.fragmentOffset, { offset: 6, bytes: 2, shift: 0, mask: 0x1fff, wordMask: 0x1fff });
  t.is(IPV4_FLAG_DF, 0x4000);
  t.is(IPV4_FLAG_MF, 0x2000);
  t.is(IPV4_FRAG_OFFSET_MASK, 0x1fff);
  t.is(IPV4_MIN_HEADER_LEN, 20);
  t.is(IPV4_MAX_HEADER_LEN, 60);
});

test('ICMP header: offsets and spans (RFC 792)', (t) => {
  t.is(icmpLayout.span, 8);
  t.is(ICMP_HEADER_LEN, 8);
  t.deepEqual({ ...ICMP }, { type: 0, code: 1, checksum: 2, restOfHeader: 4 });
  t.deepEqual({ ...spansOf(icmpLayout) }, { type: 1, code: 1, checksum: 2, restOfHeader: 4 });
  t.is(icmpEchoRestLayout.span, 4);
  t.deepEqual({ ...ICMP_ECHO }, { identifier: 0, sequence: 2 });
});

test('TCP header: offsets and spans (RFC 9293 §3.1)', (t) => {
  t.is(tcpLayout.span, 20);
  t.deepEqual({ ...TCP }, {
    srcPort: 0, dstPort: 2, seq: 4, ack: 8, dataOffsetReserved: 12, flags: 13,
    window: 14, checksum: 16, urgentPointer: 18,
  });
  t.deepEqual({ ...spansOf(tcpLayout) }, {
    srcPort: 2, dstPort: 2, seq: 4, ack: 4, dataOffsetReserved: 1, flags: 1,
    window: 2, checksum: 2, urgentPointer: 2,
  });
  t.deepEqual(TCP_DATA_OFFSET, { offset: 12, bytes: 1, shift: 4, mask: 0xf, wordMask: 0xf0 });
  t.is(TCP_MIN_HEADER_LEN, 20);
  t.is(TCP_MAX_HEADER_LEN, 60);
  t.is(TCP_MAX_OPTIONS_LEN, 40);
});

test('pseudo header: 12 bytes (RFC 9293 §3.1)', (t) => {
  t.is(pseudoHeaderLayout.span, 12);
  t.deepEqual({ ...offsetsOf(pseudoHeaderLayout) }, { src: 0, dst: 4, zero: 8, protocol: 9, length: 10 });
});

test('TCP option layouts: lengths and value offsets', (t) => {
  t.is(TCPOLEN_MSS, 4);
  t.is(TCPOLEN_WINDOW_SCALE, 3);
  t.is(TCPOLEN_SACK_PERMITTED, 2);
  t.is(TCPOLEN_TIMESTAMPS, 10);
  t.is(TCPOLEN_SACK_BASE, 2);
  t.is(TCPOLEN_SACK_BLOCK, 8);
  t.is(offsetsOf(mssOptionLayout).mss, 2);
  t.is(offsetsOf(windowScaleOptionLayout).shift, 2);
  t.is(sackPermittedOptionLayout.span, 2);
  t.deepEqual({ ...offsetsOf(timestampsOptionLayout) }, { kind: 0, length: 1, tsVal: 2, tsEcr: 6 });
  t.deepEqual({ ...offsetsOf(sackBlockLayout) }, { left: 0, right: 4 });
});

test('derived offset tables are frozen', (t) => {
  t.true(Object.isFrozen(IPV4));
  t.true(Object.isFrozen(TCP));
  t.true(Object.isFrozen(ICMP));
  t.true(Object.isFrozen(IPV4_FF.dontFragment));
});
