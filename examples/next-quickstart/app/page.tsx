import { counter } from "@/lib/counter";
import { currentUserId } from "@/lib/session";
import { signIn, signOut } from "./actions";
import { Chat } from "./chat";
import { ConnectionStatus } from "./connection-status";
import { Counter } from "./counter";
import { Notifications } from "./notifications";
import { Tasks } from "./tasks";

export default async function Home() {
  const userId = await currentUserId();
  return (
    <main>
      <h1>Herald quickstart</h1>
      <ConnectionStatus />
      {userId ? (
        <form action={signOut}>
          Signed in as <strong className="user">{userId}</strong> <button>Sign out</button>
        </form>
      ) : (
        <form action={signIn}>
          <input name="name" placeholder="Your name" aria-label="Your name" required />
          <button>Sign in</button>
        </form>
      )}
      <Counter initial={counter.get()} />
      {userId && <Notifications userId={userId} />}
      {userId && <Tasks />}
      {userId && <Chat />}
    </main>
  );
}
