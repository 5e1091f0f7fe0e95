// A tiny stand-in for meet-web for the UI-only tests when the meet-web
// binary is not built: serves dist/, a generated /config.js, room paths as
// index.html and 404.html for the rest. Nothing here is proxied.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

const [, , root, portArg] = process.argv;
const port = Number(portArg ?? 8000);
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css', '.svg': 'image/svg+xml', '.json': 'application/json' };

function configJs(host) {
  const config = {
    hosts: { domain: 'localhost', muc: 'conference.localhost', focus: 'focus.localhost' },
    bosh: `//${host}/http-bind`,
    websocket: `ws://${host}/xmpp-websocket`,
    p2p: { enabled: false },
  };
  return `var config = ${JSON.stringify(config, null, 2)};\n`;
}

createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  let rel;
  try {
    rel = decodeURIComponent(url.pathname);
  } catch {
    res.writeHead(400).end();
    return;
  }
  if (rel === '/config.js') {
    res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-cache' }).end(configJs(req.headers.host));
    return;
  }
  const segs = rel.split('/').filter(Boolean);
  if (segs.some((s) => s.startsWith('.'))) {
    res.writeHead(404).end();
    return;
  }
  let file = path.join(root, ...segs);
  let status = 200;
  if (segs.length === 0) file = path.join(root, 'index.html');
  else if (segs.length === 1 && !segs[0].includes('.')) file = path.join(root, 'index.html');
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file');
  } catch {
    file = path.join(root, '404.html');
    status = 404;
  }
  const body = await readFile(file);
  res.writeHead(status, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' }).end(body);
}).listen(port, '127.0.0.1', () => console.log(`static server on http://localhost:${port}`));
