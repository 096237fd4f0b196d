/**
 * Test helper, run as a child process (`node --import tsx herald-cluster-process.ts <nodes JSON>
 * <prefix> <partitions>`): one Herald on RedisBroker over a Redis Cluster behind a node:http server
 * on a free port. Prints `PORT <n>` once it listens, then serves until it is killed.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { RedisBroker } from "../../src/brokers/redis.js";
import { createHerald } from "../../src/server/index.js";

const [nodes, prefix, partitions] = process.argv.slice(2);
const herald = createHerald({
  broker: new RedisBroker({
    cluster: { nodes: JSON.parse(nodes!) as { host: string; port: number }[] },
    prefix,
    partitions: Number(partitions),
    onError: () => {},
  }),
  limits: { connectPerIp: false, maxConnectionsPerIp: false },
});
const server = http.createServer((req, res) => void herald.handleNode(req, res));
server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`);
});
