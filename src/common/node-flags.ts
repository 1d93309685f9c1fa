/**
 * The Node.js flags edgeban runs with: in the shebang of its command, in `npm start` and in the
 * systemd example, and in the benchmarks that measure it as it runs. V8 flags are process-wide:
 * they hold for every thread.
 *
 * `--max-semi-space-size=4`: V8 grows each thread's young generation up to 16 MiB a semi-space
 * once enough has survived over the process's life, and a daemon lives long enough for that. Each
 * of edgeban's threads makes short-lived objects per message and keeps little: a 4 MiB nursery
 * costs it no measurable CPU per datagram, and a process that tracks a million addresses holds
 * about 30 MiB less resident. The price is paid once, at start: Node starts each thread more
 * slowly with this flag than without (docs/operations.md has the figure).
 *
 * `--no-parallel-scavenge`: a young-generation collection otherwise shares its work with V8's
 * helper threads and waits for them. On a small host whose cores are busy (the UDP thread,
 * rsyslog, the web server) those helpers get no core: collections that promoted nothing held the
 * thread for milliseconds, every ban waiting behind them. Collecting alone is as fast when the
 * nursery holds little.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--no-parallel-scavenge'];
