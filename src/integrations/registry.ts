import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';

/**
 * The `ws` integration's groups: this process's sockets by channel name, the channels in
 * each room's group, and each channel's rooms, so that a disconnect visits only its own
 * rooms.
 */
export class SocketRegistry {
  private readonly sockets = new Map<string, WebSocket>();
  private readonly channels = new WeakMap<WebSocket, string>();
  private readonly members = new Map<string, Set<string>>();
  private readonly roomsOf = new Map<string, Set<string>>();

  add(socket: WebSocket): string {
    const channel = `ws.${randomUUID()}`;
    this.sockets.set(channel, socket);
    this.channels.set(socket, channel);
    this.roomsOf.set(channel, new Set());
    return channel;
  }

  remove(channel: string): void {
    const socket = this.sockets.get(channel);
    if (socket) this.channels.delete(socket);
    this.sockets.delete(channel);
    for (const room of this.roomsOf.get(channel) ?? []) this.leave(room, channel);
    this.roomsOf.delete(channel);
  }

  channelOf(socket: WebSocket): string | undefined {
    return this.channels.get(socket);
  }

  socket(channel: string): WebSocket | undefined {
    return this.sockets.get(channel);
  }

  join(room: string, channel: string): void {
    const rooms = this.roomsOf.get(channel);
    if (!rooms) return; // another process's connection, or a closed one
    rooms.add(room);
    let members = this.members.get(room);
    if (!members) this.members.set(room, (members = new Set()));
    members.add(channel);
  }

  leave(room: string, channel: string): void {
    this.roomsOf.get(channel)?.delete(room);
    const members = this.members.get(room);
    members?.delete(channel);
    if (members?.size === 0) this.members.delete(room);
  }

  sendToRoom(room: string, text: string): void {
    for (const channel of this.members.get(room) ?? []) {
      const socket = this.sockets.get(channel);
      if (socket) sendText(socket, text);
    }
  }
}

export function sendText(socket: WebSocket, text: string): void {
  if (socket.readyState === 1 /* OPEN */) socket.send(text);
}
