/**
 * The Node.js flags edgeban runs with: in the shebang of its command, in `npm start` and in the
 * systemd example, and in the benchmarks that measure it as it runs.
 *
 * `--max-semi-space-size=4`: V8 grows each thread's young generation up to 16 MiB a semi-space
 * once enough has survived over the process's life, and a daemon lives long enough for that. Each
 * of edgeban's threads makes short-lived objects per message and keeps little: a 4 MiB nursery
 * costs it no measurable CPU per datagram, and a process that tracks a million addresses holds
 * about 30 MiB less resident.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];
