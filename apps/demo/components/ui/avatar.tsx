import { cn, hueOf, initials } from "@/lib/utils";

/** Initials on a color derived from the name. */
export function Avatar({ name, className }: { name: string; className?: string }) {
  const hue = hueOf(name);
  return (
    <span
      aria-hidden
      className={cn(
        "inline-flex size-8 shrink-0 items-center justify-center rounded-full text-xs font-semibold text-white ring-2 ring-card select-none",
        className,
      )}
      style={{ background: `linear-gradient(135deg, hsl(${hue} 62% 56%), hsl(${(hue + 40) % 360} 62% 46%))` }}
    >
      {initials(name)}
    </span>
  );
}
