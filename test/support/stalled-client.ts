import net from 'node:net'

/**
 * An HTTP client that sends one GET and then never reads: the kernel buffers fill and the server's
 * own queue for it grows, as with a real stalled listener. (A `Bun.connect` socket with an empty
 * `data` handler still reads, and so never stalls.)
 */
export function openStalledClient(port: number, path: string): { close(): void } {
  const socket = net.connect(port, '127.0.0.1')
  socket.pause()
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
  return { close: () => socket.destroy() }
}
