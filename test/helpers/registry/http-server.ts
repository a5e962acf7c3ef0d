/**
 * The plumbing of the tests' own HTTP servers (hostile registry, token
 * issuer, foreign-layer URLs): listening on 127.0.0.1 on a free port, a stop
 * that does not wait for clients' keep-alive connections, and blob bodies
 * served with Range and, on request, cut short.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface LocalServer {
  server: Server;
  port: number;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Destroys open connections and closes the server; later calls do nothing. */
  stop(): Promise<void>;
}

/** Listens with `handle` on 127.0.0.1, on a port the kernel picks. */
export async function listenLocal(handle: RequestListener): Promise<LocalServer> {
  const sockets = new Set<Socket>();
  const server = createServer(handle);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return stopped;
    },
  };
}

/**
 * Answers with `body`, or from the offset of a `Range: bytes=N-` header on
 * (206); a HEAD gets the headers only. With `truncateAfter`, promises the
 * whole length, sends that many bytes and cuts the connection.
 */
export function sendBody(req: IncomingMessage, res: ServerResponse, body: Buffer, truncateAfter?: number): void {
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range) {
    start = Number(range[1]);
    res.statusCode = 206;
    res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
  }
  res.setHeader('content-length', body.length - start);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (truncateAfter !== undefined) {
    res.write(body.subarray(start, start + truncateAfter), () => res.destroy());
    return;
  }
  res.end(body.subarray(start));
}
