"use client";
import { useConnectionStatus } from "herald/react";

export function ConnectionStatus() {
  const { state, retry } = useConnectionStatus();
  return (
    <p className="connection" data-state={state}>
      Live updates: {state} {state === "failed" && <button onClick={retry}>Retry</button>}
    </p>
  );
}
