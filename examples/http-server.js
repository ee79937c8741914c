// Node's own http server, served over tuntcp's TCP. Run as root (it creates tuntcp0):
//   npm run build && node examples/http-server.js
// then, from the host: curl http://10.77.0.2/
const http = require('node:http');
const { createStack } = require('tuntcp');

const stack = createStack({ dev: 'tuntcp0', hostAddr: '10.77.0.1/24', addr: '10.77.0.2' });
const site = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`hello from tuntcp: ${req.method} ${req.url} from ${req.socket.remoteAddress}:${req.socket.remotePort}\n`);
});

// tuntcp sockets are stream.Duplex, close enough to net.Socket for Node's http.
stack.createServer((socket) => site.emit('connection', socket)).listen(80, () => {
  console.log(`ready: curl http://${stack.address}/`);
});

process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
process.on('exit', () => stack.close());
