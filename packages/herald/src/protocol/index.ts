/** Wire formats shared by server and client. No I/O, no Node built-ins. */
export * from "./errors.js";
export * from "./sse.js";
export * from "./sse-parse.js";
export * from "./cursor.js";
export * from "./names.js";
export * from "./envelope.js";
export * from "./tasks.js";
export * from "./channels.js";
