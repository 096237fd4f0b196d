/**
 * pusher-js as the tests use it. Its Node build's CommonJS export is the `Pusher` class, which its
 * types declare as a `default` export, which NodeNext reads as the whole module: this names the
 * class's type through `Channel["pusher"]` instead.
 */
import PusherJsModule from "pusher-js";
import type { Channel, Options } from "pusher-js";

/** A pusher-js client. */
export type PusherJs = Channel["pusher"];
/** The `Pusher` class of pusher-js. */
export const PusherJs = PusherJsModule as unknown as new (key: string, options: Options) => PusherJs;
