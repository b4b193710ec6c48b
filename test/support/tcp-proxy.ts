import type { Socket, TCPSocketListener } from 'bun'

/**
 * A TCP proxy on a local port to `target`, that a test can cut (stop listening and drop every connection, as a
 * stopped database server does) and restore on the same port.
 */
export interface TcpProxy {
  port: number
  cut(): void
  restore(): void
}

interface End {
  /** The other side of the connection, once open. */
  peer?: Socket<End>
  /** On the client's side: the upstream side's state, which exists before its socket does. */
  upstreamEnd?: End
  /** Bytes waiting to be written to this socket (before it opened, or under back-pressure). */
  queue: Uint8Array[]
}

/** Writes `bytes` to `socket` in order, keeping what the kernel does not take yet for `flush`. */
function send(socket: Socket<End> | undefined, end: End, bytes: Uint8Array): void {
  end.queue.push(new Uint8Array(bytes))
  if (socket) flush(socket)
}

function flush(socket: Socket<End>): void {
  const { queue } = socket.data
  while (queue.length > 0) {
    const head = queue[0] as Uint8Array
    const written = socket.write(head)
    if (written < head.byteLength) {
      queue[0] = head.subarray(Math.max(0, written))
      return
    }
    queue.shift()
  }
}

export function startTcpProxy(target: { hostname: string; port: number }): TcpProxy {
  const open = new Set<Socket<End>>()
  let listener: TCPSocketListener<End> | undefined
  const listen = (port: number) =>
    Bun.listen<End>({
      hostname: '127.0.0.1',
      port,
      socket: {
        open(client) {
          client.data = { queue: [] }
          open.add(client)
          const upstreamEnd: End = { peer: client, queue: [] }
          void Bun.connect<End>({
            ...target,
            data: upstreamEnd,
            socket: {
              open(upstream) {
                open.add(upstream)
                client.data.peer = upstream
                flush(upstream)
              },
              data(_upstream, bytes) {
                send(client, client.data, bytes)
              },
              drain: flush,
              close(upstream) {
                open.delete(upstream)
                client.end()
              },
              error() {
                client.end()
              },
            },
          }).catch(() => client.end())
          client.data.upstreamEnd = upstreamEnd
        },
        data(client, bytes) {
          const upstreamEnd = client.data.upstreamEnd as End
          send(client.data.peer, upstreamEnd, bytes)
        },
        drain: flush,
        close(client) {
          open.delete(client)
          client.data.peer?.end()
        },
      },
    })
  listener = listen(0)
  const port = listener.port
  return {
    port,
    cut() {
      listener?.stop(true)
      listener = undefined
      for (const socket of open) socket.terminate()
      open.clear()
    },
    restore() {
      listener ??= listen(port)
    },
  }
}
