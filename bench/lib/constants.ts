export const BENCH_ADMIN = 'bench-admin-token-0123456789';
/** Source addresses for subscriber sockets, so ephemeral ports do not run short (all loopback). */
export const LOCAL_ADDRESSES = [
  '127.0.0.2',
  '127.0.0.3',
  '127.0.0.4',
  '127.0.0.5',
  '127.0.0.6',
  '127.0.0.7',
  '127.0.0.8',
  '127.0.0.9',
];
