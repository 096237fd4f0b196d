import { redirect } from "next/navigation";
import { ROOMS } from "@/lib/chat";

/** `/chat` opens the first room. */
export default function ChatIndex() {
  redirect(`/chat/${ROOMS[0].id}`);
}
