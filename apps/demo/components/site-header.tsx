"use client";
import { motion } from "motion/react";
import { Activity, BellRing, Gauge, ListChecks, LogOut, MessagesSquare, RadioTower } from "lucide-react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { signOut } from "@/app/actions";
import { ConnectionIndicator } from "@/components/realtime/connection-indicator";
import { TransportSelect } from "@/components/realtime/transport-select";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { cn } from "@/lib/utils";

const NAV = [
  { href: "/tasks", label: "Tasks", icon: ListChecks },
  { href: "/notifications", label: "Notifications", icon: BellRing },
  { href: "/dashboard", label: "Dashboard", icon: Gauge },
  { href: "/chat", label: "Chat", icon: MessagesSquare },
  { href: "/operations", label: "Operations", icon: Activity },
];

export function SiteHeader({ user }: { user: { id: string; name: string } }) {
  const pathname = usePathname();
  return (
    <header className="sticky top-0 z-40 border-b border-border bg-background/80 backdrop-blur-md supports-[backdrop-filter]:bg-background/70">
      <div className="mx-auto flex h-14 max-w-6xl items-center gap-2 px-4 sm:gap-4 sm:px-6">
        <Link href="/tasks" className="flex items-center gap-2 font-semibold tracking-tight">
          <span className="flex size-7 items-center justify-center rounded-lg bg-foreground text-background">
            <RadioTower aria-hidden className="size-4" />
          </span>
          <span className="sr-only sm:not-sr-only">Herald</span>
        </Link>
        <nav className="flex items-center gap-0.5 sm:gap-1" aria-label="Main">
          {NAV.map(({ href, label, icon: Icon }) => {
            const active = pathname === href || pathname.startsWith(`${href}/`);
            return (
              <Link
                key={href}
                href={href}
                aria-current={active ? "page" : undefined}
                className={cn(
                  "relative flex h-8 items-center gap-2 rounded-md px-2 text-sm font-medium transition-colors md:px-3",
                  active ? "text-foreground" : "text-muted-foreground hover:text-foreground",
                )}
              >
                {active ? (
                  <motion.span
                    layoutId="nav-active"
                    className="absolute inset-0 rounded-md bg-muted"
                    transition={{ type: "spring", stiffness: 500, damping: 40 }}
                  />
                ) : null}
                <Icon aria-hidden className="relative size-4" />
                {/* Icon-only below md: the label stays for screen readers (the link's name). */}
                <span className="sr-only md:not-sr-only md:relative">{label}</span>
              </Link>
            );
          })}
        </nav>
        <div className="ml-auto flex items-center gap-2 sm:gap-3">
          <TransportSelect className="hidden md:block" />
          <ConnectionIndicator />
          <div className="hidden h-6 w-px bg-border sm:block" />
          <div className="flex items-center gap-2 max-[420px]:hidden">
            <Avatar name={user.name} className="size-7 text-[10px] ring-0" />
            <span className="hidden max-w-32 truncate text-sm font-medium lg:inline" data-testid="user-name">
              {user.name}
            </span>
          </div>
          <form action={signOut}>
            <Button type="submit" variant="ghost" size="sm" aria-label="Sign out" title="Sign out">
              <LogOut />
            </Button>
          </form>
        </div>
      </div>
    </header>
  );
}
