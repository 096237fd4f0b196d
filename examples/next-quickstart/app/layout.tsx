import type { ReactNode } from "react";
import { HeraldProvider } from "herald/react";
import { currentUserId } from "@/lib/session";
import "./globals.css";

export const metadata = { title: "Herald quickstart" };

export default async function RootLayout({ children }: { children: ReactNode }) {
  const userId = await currentUserId();
  return (
    <html lang="en">
      <body>
        <HeraldProvider session={userId}>{children}</HeraldProvider>
      </body>
    </html>
  );
}
