// A small example: Herald's Node handler on node:http, a page that subscribes with herald/client,
// and a publisher that sends a tick every second. Run with `npm start`; open http://localhost:3000.
import http from "node:http";
import { readFile } from "node:fs/promises";
import { createHerald } from "herald";

const herald = createHerald();
const port = Number(process.env.PORT ?? 3000);
const clientDir = new URL("../../packages/herald/dist/", import.meta.url);

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname === "/sse") return void herald.handleNode(req, res);
  if (url.pathname === "/publish" && req.method === "POST") {
    const id = await herald.publish("chat", "message", { text: url.searchParams.get("text") ?? "hello", at: Date.now() });
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify({ id }));
  }
  if (url.pathname.startsWith("/herald/")) {
    // Serve the compiled browser client (ES modules) to the page.
    const file = new URL(url.pathname.slice("/herald/".length), clientDir);
    if (!file.href.startsWith(clientDir.href) || !file.pathname.endsWith(".js")) return void res.writeHead(404).end();
    try {
      const body = await readFile(file);
      return void res.writeHead(200, { "content-type": "text/javascript" }).end(body);
    } catch {
      return void res.writeHead(404).end();
    }
  }
  res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
  res.end(await readFile(new URL("./index.html", import.meta.url)));
});

let n = 0;
setInterval(() => void herald.publish("ticks", "tick", { n: n++, at: Date.now() }), 1000).unref();
server.listen(port, () => console.log(`Herald example on http://localhost:${port}`));
