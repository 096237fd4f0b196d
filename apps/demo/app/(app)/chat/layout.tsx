import type { ReactNode } from "react";
import { ChatProvider } from "@/components/chat/chat-provider";
import { requireSession } from "@/lib/auth";
import { pusherCredentials } from "@/lib/chat-credentials";
import { chatTransport } from "@/lib/chat-transport";

/** Every chat room shares one client: switching rooms keeps it (and its connection). */
export default async function ChatLayout({ children }: { children: ReactNode }) {
  const session = await requireSession();
  return (
    <ChatProvider userId={session.id} pusherKey={pusherCredentials().key} via={await chatTransport()}>
      {children}
    </ChatProvider>
  );
}
