/** Trace consumers: pcap capture, ladder diagrams (text and SVG), metrics, connection info. */
export { PcapLink, PcapWriter, LINKTYPE_RAW, readPcap, wallClockMs } from './pcap';
export type { PcapLinkOptions, PcapWriterOptions, PcapRecord } from './pcap';
export { LadderTracer } from './ladder';
export type { ConnectionLadder, LadderEvent, LadderSegment, LadderStateChange, LadderTimer, LadderTracerOptions, Side, TeardownKind } from './ladder';
export { renderLadderText, formatEventLine } from './ladder-text';
export type { LadderTextOptions } from './ladder-text';
export { renderLadderSvg, escapeXml } from './svg';
export { renderMetrics, METRICS_CONTENT_TYPE } from './metrics';
export { connectionInfo, connectionInfos } from './connection-info';
export type { ConnectionInfo } from './connection-info';
export { combineTracers } from './fanout';
