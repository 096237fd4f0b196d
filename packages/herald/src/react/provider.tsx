/**
 * `HeraldProvider`: one shared client for every hook below it. The client is created in an effect
 * (never during render), so server rendering creates none, and React 19 StrictMode's mount → unmount
 * → mount leaves exactly one: the first is closed before any hook has subscribed through it.
 */
import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from "react";
import { createHeraldClient, type HeraldClient, type HeraldClientOptions } from "../client/index.js";
import { createConnectionStore, IDLE_STORE, type ConnectionStore } from "./connection-store.js";

/** Client options the provider passes through (everything but `url` and `getToken`). */
export type HeraldProviderOptions = Omit<HeraldClientOptions, "url" | "getToken">;

/** Props of {@link HeraldProvider}. */
export interface HeraldProviderProps {
  /** The SSE endpoint, e.g. `/api/realtime/sse`. */
  url: string;
  /**
   * Returns a fresh single-use token before every (re)connect. The latest function passed is
   * called, so an inline arrow is fine.
   */
  getToken?: HeraldClientOptions["getToken"];
  /**
   * Other client options (`backoff`, `maxAttempts`, `EventSource`, ...). Read when the client is
   * created: changing them later has no effect until `url` changes.
   */
  options?: HeraldProviderOptions;
  /** Use this client instead of creating one. The provider never closes a client it was given. */
  client?: HeraldClient;
  children?: ReactNode;
}

/** What the hooks get from the provider. */
export interface HeraldContextValue {
  /** The shared client, or null before it is created (server render, first client render). */
  readonly client: HeraldClient | null;
  /** The connection store of that client. */
  readonly store: ConnectionStore;
}

const NO_CLIENT: HeraldContextValue = { client: null, store: IDLE_STORE };

/** The React context behind the hooks; use {@link useHerald} rather than reading it directly. */
export const HeraldContext = createContext<HeraldContextValue | null>(null);

/**
 * Provides one Herald client to every hook below it. It connects when the first hook subscribes
 * and is closed when the provider unmounts (or `url` changes).
 *
 * @example
 * ```tsx
 * <HeraldProvider url="/api/realtime/sse" getToken={fetchToken} options={{ maxAttempts: 8 }}>
 *   <App />
 * </HeraldProvider>
 * ```
 */
export function HeraldProvider({ url, getToken, options, client, children }: HeraldProviderProps): ReactNode {
  const getTokenRef = useRef(getToken);
  const optionsRef = useRef(options);
  useEffect(() => {
    getTokenRef.current = getToken;
    optionsRef.current = options;
  });
  const hasGetToken = getToken !== undefined;
  const [value, setValue] = useState<HeraldContextValue>(NO_CLIENT);

  useEffect(() => {
    const opts = optionsRef.current ?? {};
    const owned = client === undefined;
    const instance =
      client ??
      createHeraldClient({
        ...opts,
        url,
        getToken: hasGetToken ? () => getTokenRef.current?.() : undefined,
      });
    const store = createConnectionStore(instance, opts.maxAttempts ?? null);
    setValue({ client: instance, store });
    return () => {
      store.dispose();
      if (owned) instance.close();
      setValue(NO_CLIENT);
    };
  }, [url, client, hasGetToken]);

  return <HeraldContext.Provider value={value}>{children}</HeraldContext.Provider>;
}

/**
 * The provider's client and connection store. Throws when there is no `HeraldProvider` above; the
 * client is null until the provider has created it (and always during server rendering).
 */
export function useHerald(): HeraldContextValue {
  const value = useContext(HeraldContext);
  if (value === null) throw new Error("herald/react: wrap your components in <HeraldProvider>");
  return value;
}

/** The shared client, or null before it exists. */
export function useHeraldClient(): HeraldClient | null {
  return useHerald().client;
}
