/**
 * herald-node: Herald's Node handler (`herald.handleNode`) on node:http. Default options, except
 * that the per-IP connection-attempt limit is off: every bench subscriber comes from 127.0.0.1.
 */
import { createHerald } from "herald";
import { serve } from "./node-harness.mjs";

const herald = createHerald({ limits: { connectPerIp: false, maxConnectionsPerIp: false } });

serve({
  handleSse: (req, res) => herald.handleNode(req, res),
  publish: (payload) => herald.publish("bench", "tick", payload),
  subscribers: () => herald.subscriberCount("bench"),
});
