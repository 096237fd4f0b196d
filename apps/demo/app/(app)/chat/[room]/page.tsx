import type { Metadata } from "next";
import { notFound } from "next/navigation";
import { ChatRoom } from "@/components/chat/chat-room";
import { requireSession } from "@/lib/auth";
import { isRoom, ROOMS } from "@/lib/chat";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ room: string }> }): Promise<Metadata> {
  const { room } = await params;
  const found = ROOMS.find((r) => r.id === room);
  return { title: found ? `#${found.id} · Chat` : "Chat" };
}

export default async function ChatRoomPage({ params }: { params: Promise<{ room: string }> }) {
  const session = await requireSession();
  const { room } = await params;
  if (!isRoom(room)) notFound();
  return (
    <ChatRoom
      key={room}
      me={{ id: session.id, name: session.name }}
      room={room}
      rooms={ROOMS.map((r) => ({ id: r.id, title: r.title, description: r.description }))}
    />
  );
}
