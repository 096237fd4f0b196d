"use client";
import { useState } from "react";
import { useEvent } from "herald/react";
import { increment } from "./actions";

export function Counter({ initial }: { initial: number }) {
  const [count, setCount] = useState(initial);
  useEvent<{ count: number }>("counter", "update", (data) => setCount(data.count));
  return (
    <section>
      <h2>Public counter</h2>
      <p className="count">{count}</p>
      <button onClick={() => increment()}>+1</button>
    </section>
  );
}
