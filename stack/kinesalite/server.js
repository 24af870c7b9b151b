// kinesalite bound to 127.0.0.1 (its CLI has no host option), in memory, with no artificial
// delays on stream creation, so tests do not wait on a CREATING state that exists only for realism.
'use strict';
require('./gaps'); // before kinesalite loads its actions: see gaps.js
const kinesalite = require('kinesalite');

const port = parseInt(process.argv[2] || '4565', 10);
const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000 });
server.listen(port, '127.0.0.1', (err) => {
  if (err) {
    console.error(`kinesalite: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  }
  console.log(`kinesalite listening on 127.0.0.1:${port}`);
});
server.on('error', (err) => {
  console.error(`kinesalite: ${err.message}`);
  process.exit(1);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
