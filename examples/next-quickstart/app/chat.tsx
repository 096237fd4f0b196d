"use client";
import { useState } from "react";
import { useClientEvent, usePresence } from "herald/react";

export function Chat() {
  const { members } = usePresence("presence-lobby");
  const [lines, setLines] = useState<string[]>([]);
  const say = (line: string) => setLines((list) => [...list, line]);
  const send = useClientEvent<string>("presence-lobby", "client-message", (text, e) => say(`${e.userId}: ${text}`));
  return (
    <section>
      <h2>Chat</h2>
      <p className="online">Online: {members.map((m) => m.id).join(", ")}</p>
      <ul className="chat">
        {lines.map((line, i) => (
          <li key={i}>{line}</li>
        ))}
      </ul>
      <form action={(form) => void (send(String(form.get("text"))) && say(`me: ${form.get("text")}`))}>
        <input name="text" placeholder="Message" aria-label="Message" required /> <button>Send</button>
      </form>
    </section>
  );
}
