'use strict';
// Sample agent node: answers GET /health with the release id of its own
// directory. release.json is written into the release when it is built.
const cluster = require('cluster');
const fs = require('fs');
const http = require('http');
const path = require('path');

const release = JSON.parse(fs.readFileSync(path.join(__dirname, 'release.json'), 'utf8'));

if (release.crash_at_start || process.env.SAMPLE_APP_CRASH === '1') {
  console.error(`release ${release.release} crashes at start on purpose`);
  process.exit(1);
}

const host = process.env.HOST || '127.0.0.1';
const port = Number(process.env.PORT || 8080);

const server = http.createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/health') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ release: release.release, pid: process.pid }));
    return;
  }
  response.writeHead(404, { 'content-type': 'application/json' });
  response.end('{"error":"not found"}');
});

server.listen(port, host, () => {
  // PM2 starts routing to this worker, and stops the old one, only after
  // 'ready' when the app runs with wait_ready.
  if (process.send) {
    process.send('ready');
  }
});

// PM2 sends SIGINT before it stops a worker. A cluster worker that exits right
// after server.close() can strand a connection the primary already passed to it.
// worker.disconnect() waits for the primary's ack and hands such connections back.
process.on('SIGINT', () => {
  setTimeout(() => process.exit(0), 2000).unref();
  if (cluster.isWorker) {
    cluster.worker.disconnect();
  } else {
    server.close(() => process.exit(0));
  }
});
