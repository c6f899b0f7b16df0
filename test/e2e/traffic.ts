/** Bounded loopback traffic from the test process: UDP datagrams and a TCP echo on 127.0.0.1. */
import { createSocket } from 'node:dgram';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface Traffic {
  stop(): Promise<{ udp: number; tcp: number }>;
}

/** At most `maxMs` long and `maxPackets` UDP datagrams; ~`perSecond` datagrams and ~50 TCP writes a second. */
export async function startLoopbackTraffic(opts: { perSecond?: number; maxMs?: number; maxPackets?: number } = {}): Promise<Traffic> {
  const perSecond = opts.perSecond ?? 1000;
  const maxMs = opts.maxMs ?? 5 * 60_000;
  const maxPackets = opts.maxPackets ?? 400_000;
  const t0 = Date.now();

  const rx = createSocket('udp4');
  rx.on('message', () => undefined);
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', r));
  const udpPort = (rx.address() as AddressInfo).port;
  const tx = createSocket('udp4');
  const payload = Buffer.alloc(256, 0x6e);

  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('data', (d) => s.write(d));
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const tcpPort = (server.address() as AddressInfo).port;
  const client = connect(tcpPort, '127.0.0.1');
  client.on('error', () => undefined);
  client.on('data', () => undefined);
  await new Promise<void>((r) => client.once('connect', () => r()));

  let udp = 0;
  let tcp = 0;
  const tickMs = 20;
  const perTick = Math.max(1, Math.round((perSecond * tickMs) / 1000));
  const timer = setInterval(() => {
    if (Date.now() - t0 > maxMs || udp >= maxPackets) {
      clearInterval(timer);
      return;
    }
    for (let i = 0; i < perTick && udp < maxPackets; i++) {
      tx.send(payload, udpPort, '127.0.0.1');
      udp++;
    }
    client.write(payload.subarray(0, 64));
    tcp++;
  }, tickMs);

  return {
    async stop() {
      clearInterval(timer);
      client.destroy();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      tx.close();
      rx.close();
      return { udp, tcp };
    },
  };
}
