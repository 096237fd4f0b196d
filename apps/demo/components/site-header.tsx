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
      {/* Phones: two rows (logo, pages, sign-out; then who is signed in and the connection). */}
      <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-x-2 gap-y-1.5 px-4 py-2 sm:h-14 sm:flex-nowrap sm:gap-4 sm:px-6 sm:py-0">
        <Link
          href="/tasks"
          className="order-1 flex shrink-0 items-center sm:order-none gap-2 font-semibold tracking-tight"
        >
          <span className="flex size-7 items-center justify-center rounded-lg bg-foreground text-background">
            <RadioTower aria-hidden className="size-4" />
          </span>
          <span className="sr-only sm:not-sr-only">Herald</span>
        </Link>
        <nav className="order-2 flex items-center sm:order-none gap-0.5 sm:gap-1" aria-label="Main">
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
        {/* DOM order is the desktop order (and the tab order); `order-*` rearranges phones only. */}
        <div className="order-6 flex shrink-0 items-center gap-2 sm:order-none sm:ml-auto sm:gap-3">
          <TransportSelect className="hidden md:block" />
          <ConnectionIndicator />
        </div>
        <div className="hidden h-6 w-px bg-border sm:block" />
        <div aria-hidden className="order-4 basis-full sm:hidden" />
        <div className="order-5 flex min-w-0 flex-1 items-center gap-2 sm:order-none sm:flex-none">
          <Avatar name={user.name} className="size-7 text-[10px] ring-0" />
          <span
            className="min-w-0 truncate text-sm font-medium sm:hidden sm:max-w-32 lg:inline"
            title={user.name}
            data-testid="user-name"
          >
            {user.name}
          </span>
        </div>
        <form action={signOut} className="order-3 ml-auto sm:order-none sm:ml-0">
          <Button type="submit" variant="ghost" size="sm" aria-label="Sign out" title="Sign out">
            <LogOut />
          </Button>
        </form>
      </div>
    </header>
  );
}
