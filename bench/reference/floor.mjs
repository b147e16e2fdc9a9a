// The reference side's floor for `make bench` (bench/floor.py): what one request costs Node when the
// application does nothing — FLOOR_KIND=http, a bare node:http server, as server.mjs is served;
// FLOOR_KIND=koa, a bare Koa app (oidc-provider is a Koa app; Koa is installed with it). Both answer
// every request with the same fixed JSON bytes. Same keep-alive as server.mjs; 127.0.0.1 only.
import { createServer } from 'node:http';
import Koa from 'koa';

const port = Number(process.env.PORT);
const body = Buffer.from('{"floor":true}');
let handler;
if (process.env.FLOOR_KIND === 'koa') {
  const app = new Koa();
  app.use((ctx) => { ctx.type = 'application/json'; ctx.body = body; });
  handler = app.callback();
} else {
  handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  };
}
const server = createServer(handler);
server.keepAliveTimeout = 60000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
