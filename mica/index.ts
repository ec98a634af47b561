// The mica library: MICA wire protocol, partition store, the server's shard half and the client.
export * from './wire';
export { cityHash64, keyHash } from './cityhash';
export { Partition, SLOTS, itemSize, type PartitionOptions, type PartitionCounters } from './store';
export { ServerShard, serverSteering, ownerOf, MAX_VALUE, type ServerOptions } from './server';
export { MicaClient, MicaError, clientSteering, type MicaCallback, type MicaClientOptions, type MicaServerAddress, type MicaErrorCode, type MicaClientCounters } from './client';
