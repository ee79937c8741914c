/** The local control channel (`tuntcp stats`): server, client, paths, rendering. */
export { ControlServer } from './server';
export type { ControlHandler, ControlRequest, ControlServerOptions } from './server';
export { fetchStats, findControlSocket, queryControl } from './client';
export type { ControlTarget } from './client';
export { RUN_DIR, controlSocketCandidates, prepareControlSocketPath } from './paths';
export { countersSnapshot, mergeStats, statsSnapshot } from './stats';
export type { CountersSnapshot, StatsReply, WorkerShare } from './stats';
export { renderStatsReply, renderStatsTable } from './stats-table';
