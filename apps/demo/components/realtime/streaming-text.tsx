"use client";
/**
 * StreamingText: text that arrives in chunks, revealed smoothly with a blinking caret while it
 * streams. Text already there on mount (a reload mid-stream) shows at once. With
 * `prefers-reduced-motion` every chunk shows as it arrives and the caret does not blink.
 */
import { motion, useReducedMotion } from "motion/react";
import { useEffect, useRef, useState } from "react";
import { cn } from "@/lib/utils";

export function StreamingText({
  text,
  streaming,
  placeholder,
  className,
}: {
  text: string;
  /** True while more text may come: shows the caret. */
  streaming: boolean;
  /** Shown (muted) while there is no text yet. */
  placeholder?: string;
  className?: string;
}) {
  const reduced = useReducedMotion();
  const [shown, setShown] = useState(text.length);
  const target = useRef(text.length);
  target.current = text.length;

  useEffect(() => {
    if (reduced || shown >= text.length) {
      if (shown !== text.length) setShown(text.length);
      return;
    }
    let frame = 0;
    const tick = (): void => {
      setShown((n) => {
        const left = target.current - n;
        return left <= 0 ? target.current : n + Math.max(1, Math.ceil(left / 10));
      });
      frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
    return () => cancelAnimationFrame(frame);
  }, [text, shown, reduced]);

  const visible = text.slice(0, Math.min(shown, text.length));
  const showCaret = streaming || shown < text.length;
  return (
    <p
      className={cn("text-sm leading-relaxed whitespace-pre-wrap", className)}
      aria-live="polite"
      aria-busy={streaming}
    >
      {visible.length === 0 && placeholder ? <span className="text-muted-foreground">{placeholder}</span> : visible}
      {showCaret ? (
        <motion.span
          aria-hidden
          className="ml-0.5 inline-block h-[1.1em] w-[2px] translate-y-[3px] rounded-full bg-accent"
          animate={reduced ? { opacity: 1 } : { opacity: [1, 1, 0, 0] }}
          transition={reduced ? { duration: 0 } : { repeat: Infinity, duration: 1, times: [0, 0.5, 0.5, 1] }}
        />
      ) : null}
    </p>
  );
}
