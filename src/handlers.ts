import type { TouchBuffer } from './services/touchBuffer.js';
import { assertChannelName } from './validation.js';
import type { DisconnectHandler, MessageHandler, PresencesRepository } from './types.js';

const HEARTBEAT = '"heartbeat"';
const HEARTBEAT_BYTES = Buffer.from(HEARTBEAT);

/** True when the message is exactly the JSON string "heartbeat", as text or as bytes (nothing around it). */
export function isHeartbeat(message: unknown): boolean {
  if (typeof message === 'string') return message === HEARTBEAT;
  if (message instanceof Uint8Array) {
    return message.byteLength === HEARTBEAT_BYTES.byteLength && HEARTBEAT_BYTES.equals(message);
  }
  return false;
}

/**
 * The `touch_presence` decorator: every message touches the connection (through the
 * touch buffer, so floods cost one write per interval); a heartbeat stops there.
 */
export function wrapTouch<Rest extends unknown[], R>(touches: TouchBuffer, handler: MessageHandler<Rest, R>) {
  return async (channelName: string, message: any, ...rest: Rest): Promise<Awaited<R> | undefined> => {
    assertChannelName(channelName, 'channelName');
    // Buffered touches return nothing to wait for: no extra tick per message.
    const writing = touches.touch(channelName);
    if (writing) await writing;
    if (isHeartbeat(message)) return undefined;
    return await handler(channelName, message, ...rest);
  };
}

/** The `remove_presence` decorator: leave every room (after the grace period, if any), then run the handler. */
export function wrapRemove<Rest extends unknown[], R>(presences: PresencesRepository, handler: DisconnectHandler<Rest, R>) {
  return async (channelName: string, ...rest: Rest): Promise<Awaited<R>> => {
    await presences.disconnect(channelName);
    return await handler(channelName, ...rest);
  };
}
