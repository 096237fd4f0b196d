"use client";
import { useState } from "react";
import { useEvent } from "herald/react";
import { notifyMe } from "./actions";

export function Notifications({ userId }: { userId: string }) {
  const [messages, setMessages] = useState<string[]>([]);
  useEvent<{ message: string }>(`user-${userId}`, "notification", (data) => {
    setMessages((list) => [...list, data.message]);
  });
  return (
    <section>
      <h2>Notifications</h2>
      <button onClick={() => notifyMe()}>Notify me</button>
      <ul className="notifications">
        {messages.map((message, i) => (
          <li key={i}>{message}</li>
        ))}
      </ul>
    </section>
  );
}
