/**
 * Defaults read where the schema is not loaded (loading zod is a visible share of a short run): `replay --count`
 * without a config file needs only this one.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 8192;

/** `listen.udpReceiveBuffer`: the UDP socket's receive buffer edgeban asks the kernel for. */
export const DEFAULT_UDP_RECEIVE_BUFFER = 4 << 20;

/** What a ban does at Cloudflare: the modes of an IP access rule, and the actions of the custom rule an IP list serves. */
export const ACTIONS = ['block', 'managed_challenge', 'challenge', 'js_challenge'] as const;
export type BanAction = (typeof ACTIONS)[number];
