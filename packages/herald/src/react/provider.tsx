/**
 * `HeraldProvider`: one shared client for every hook below it. The client is created in an effect
 * (never during render), so server rendering creates none, and React 19 StrictMode's mount → unmount
 * → mount leaves exactly one: the first is closed before any hook has subscribed through it.
 */
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { createHeraldClient, type HeraldClient, type HeraldClientOptions, type TokenResult } from "../client/index.js";
import { errorFromReply, HeraldError } from "../protocol/errors.js";
import { createConnectionStore, IDLE_STORE, type ConnectionStore } from "./connection-store.js";

/** Client options the provider passes through (everything but `url` and `getToken`). */
export type HeraldProviderOptions = Omit<HeraldClientOptions, "url" | "getToken">;

/** Props of {@link HeraldProvider}. */
export interface HeraldProviderProps {
  /** Where Herald's routes are mounted (default `/api/realtime`, the catch-all `herald.routes` serves). */
  basePath?: string;
  /** The SSE endpoint (default `{basePath}/sse`). */
  url?: string;
  /**
   * Returns a fresh single-use token before every (re)connect; null connects anonymously. The
   * latest function passed is called, so an inline arrow is fine. Default: `POST {basePath}/token`
   * with the page's cookies, anonymous when it answers 401 (signed out); with an explicit `url`,
   * no token.
   */
  getToken?: HeraldClientOptions["getToken"];
  /**
   * Anything that identifies the signed-in session (the user's id, or null when signed out). When
   * it changes (sign-in, sign-out, another user), the client reconnects at once with a fresh token,
   * from any state, `failed` included.
   */
  session?: string | null;
  /**
   * Other client options (`backoff`, `maxAttempts`, `transport`, ...). Read when the client is
   * created: changing them later has no effect until `url` or `transport` changes.
   */
  options?: HeraldProviderOptions;
  /** Use this client instead of creating one. The provider never closes a client it was given. */
  client?: HeraldClient;
  children?: ReactNode;
}

/** What the hooks get from the provider. */
export interface HeraldContextValue {
  /** Where Herald's routes are mounted. */
  readonly basePath: string;
  /**
   * The signed-in user's id as the token route last said it (null: signed out), or undefined when
   * not known (a custom `getToken`, or before the first token).
   */
  readonly userId: string | null | undefined;
  /** The shared client, or null before it is created (server render, first client render). */
  readonly client: HeraldClient | null;
  /** The connection store of that client. */
  readonly store: ConnectionStore;
  /**
   * A fresh single-use token, got as the client gets its own (null: anonymous), for the hooks'
   * own requests (`useHistory`).
   */
  readonly token: () => Promise<string | null | undefined>;
}

const DEFAULT_BASE_PATH = "/api/realtime";
const NO_TOKEN = (): Promise<null> => Promise.resolve(null);

/** The React context behind the hooks; use {@link useHerald} rather than reading it directly. */
export const HeraldContext = createContext<HeraldContextValue | null>(null);

/**
 * Provides one Herald client to every hook below it. It connects when the first hook subscribes
 * and is closed when the provider unmounts (or `url` changes).
 *
 * With `herald.routes` mounted at `/api/realtime`, no props are needed:
 *
 * @example
 * ```tsx
 * // app/layout.tsx
 * <HeraldProvider session={userId}>{children}</HeraldProvider>
 * ```
 */
export function HeraldProvider({
  basePath = DEFAULT_BASE_PATH,
  url,
  getToken,
  session,
  options,
  client,
  children,
}: HeraldProviderProps): ReactNode {
  const getTokenRef = useRef(getToken);
  const optionsRef = useRef(options);
  useEffect(() => {
    getTokenRef.current = getToken;
    optionsRef.current = options;
  });
  const endpoint = url ?? `${basePath}/sse`;
  const [userId, setUserId] = useState<string | null | undefined>(undefined);
  const [value, setValue] = useState<Omit<HeraldContextValue, "userId">>({
    basePath,
    client: null,
    store: IDLE_STORE,
    token: NO_TOKEN,
  });

  useEffect(() => {
    const opts = optionsRef.current ?? {};
    const owned = client === undefined;
    const fetchToken = async (signal?: AbortSignal): Promise<{ token: string | null; userId: string | null }> => {
      const reply = await fetchDefaultToken(basePath, signal);
      setUserId(reply.userId);
      return reply;
    };
    // With an explicit `url` and no `getToken`, streams open without a token (as before). The
    // default token route also names the user, so the tabs of one user share one connection.
    const clientToken = async (context?: { signal: AbortSignal }): Promise<TokenResult> =>
      getTokenRef.current
        ? getTokenRef.current(context ?? { signal: new AbortController().signal })
        : url === undefined
          ? fetchToken(context?.signal)
          : null;
    const token = async (): Promise<string | null | undefined> => {
      const result = await clientToken();
      return result && typeof result === "object" ? result.token : result;
    };
    const instance = client ?? createHeraldClient({ ...opts, url: endpoint, getToken: clientToken });
    const store = createConnectionStore(instance, opts.maxAttempts ?? null);
    setValue({ basePath, client: instance, store, token });
    return () => {
      store.dispose();
      if (owned) instance.close();
      setValue({ basePath, client: null, store: IDLE_STORE, token: NO_TOKEN });
    };
    // A different transport needs a new client; the other options are read at creation only.
  }, [endpoint, basePath, client, url, options?.transport]);

  // A new session: reconnect with a fresh token (skipped on the first render: nothing changed yet).
  const lastSession = useRef(session);
  useEffect(() => {
    if (lastSession.current === session) return;
    lastSession.current = session;
    value.client?.reconnect();
  }, [session, value.client]);

  const context = useMemo(() => ({ ...value, userId }), [value, userId]);
  return <HeraldContext.Provider value={context}>{children}</HeraldContext.Provider>;
}

/**
 * `POST {basePath}/token?optional=1`: a token for the signed-in user, or null (anonymous) when
 * signed out, which the route answers with 200 and no token (a 401 from an older server means the same).
 */
async function fetchDefaultToken(
  basePath: string,
  signal?: AbortSignal,
): Promise<{ token: string | null; userId: string | null }> {
  const response = await fetch(`${basePath}/token?optional=1`, { method: "POST", credentials: "same-origin", signal });
  if (response.status === 401) return { token: null, userId: null };
  const body = (await response.json().catch(() => null)) as { token?: unknown; userId?: unknown } | null;
  if (!response.ok) throw errorFromReply(response.status, body);
  if (body?.token === null) return { token: null, userId: null };
  if (typeof body?.token !== "string") throw new HeraldError("http_error", "the token route answered without a token");
  return { token: body.token, userId: typeof body.userId === "string" ? body.userId : null };
}

/**
 * The provider's client and connection store. Throws when there is no `HeraldProvider` above; the
 * client is null until the provider has created it (and always during server rendering).
 */
export function useHerald(): HeraldContextValue {
  const value = useContext(HeraldContext);
  // A programmer error (a hook outside the provider): TypeError, not a HeraldError.
  if (value === null) throw new TypeError("herald/react: wrap your components in <HeraldProvider>");
  return value;
}

/** The shared client, or null before it exists. */
export function useHeraldClient(): HeraldClient | null {
  return useHerald().client;
}
