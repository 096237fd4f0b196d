"use client";
import { useConnectionStatus } from "herald/react";

export function ConnectionStatus() {
  const { state, transport, retry } = useConnectionStatus();
  return (
    <p className="connection" data-state={state} data-transport={transport}>
      Live updates: {state} over {transport === "poll" ? "long-polling" : transport.toUpperCase()}{" "}
      {state === "failed" && <button onClick={retry}>Retry</button>}
    </p>
  );
}
