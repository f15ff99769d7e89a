// How a benchmark's receiver runs as a child process of the benchmark (fork, IPC): it stops
// with its parent, leaves Ctrl+C to the parent (which reaches the whole process group), closes
// on SIGTERM, and tells the parent its URL once it listens on loopback.

/** Listens on a free loopback port and ties `server`'s life to the parent process's. */
export function serveToParent(server) {
  // The parent going away (for whatever reason) ends the receiver.
  process.on('disconnect', () => process.exit(0));
  process.on('SIGINT', () => {}); // Ctrl+C reaches the whole process group: the parent decides when this one stops
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
  server.listen(0, '127.0.0.1', () => process.send({ type: 'listening', url: `http://127.0.0.1:${server.address().port}` }));
}
