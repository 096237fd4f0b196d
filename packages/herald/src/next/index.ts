/** `herald/next`: Next.js integration (route handlers for a catch-all route, Node custom server). */
export { createRouteHandlers, type RouteHandlersOptions, type RouteHandler } from "./route-handlers.js";
export {
  createNodeHandler,
  createHeraldServer,
  type NodeHandlerOptions,
  type NodeHandler,
  type NextRequestHandler,
  type HeraldServerOptions,
} from "./node-handler.js";
