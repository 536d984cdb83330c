/** The largest window a peer may grant a stream (HTTP/2's ceiling too). */
export const MAX_STREAM_WINDOW = 0x7fff_ffff;

/**
 * One stream's flow-control credit in both directions, apart from the
 * stream's bytes and callbacks:
 *
 * - `send`: bytes the peer still lets us send (its window for this stream);
 *   WINDOW_UPDATE frames add to it, DATA frames we send take from it.
 * - `recv`: bytes we still let the peer send (our window for this stream);
 *   DATA frames it sends take from it, our grants add to it.
 *
 * The receive window starts at the initial window and doubles, up to the
 * session's ceiling, each time it (not the reader) held the sender back.
 */
export class StreamWindow {
  send: number;
  recv: number;
  #target: number;
  #ranDry = false;

  constructor(send: number, recv: number) {
    this.send = send;
    this.recv = recv;
    this.#target = recv;
  }

  /** `bytes` of DATA arrived while `queued` bytes still waited for the reader. */
  received(bytes: number, queued: number): void {
    // The reader has kept up (nothing queued) and yet the peer has used
    // over half of the window before our top-up reached it: the window,
    // not the reader, is what limits this stream. (Waiting for the credit
    // to run out entirely never happens once grants flow: each top-up
    // lands while half the window is still open, and the sender idles in
    // between.)
    if (queued === 0 && this.recv - bytes <= this.#target / 2) this.#ranDry = true;
    this.recv -= bytes;
  }

  /** The peer will send nothing more: closes our window and returns what it held. */
  closeReceive(): number {
    const left = this.recv;
    this.recv = 0;
    return left;
  }

  /** The peer granted more. False if that overflows the window ceiling (a protocol error). */
  addSend(increment: number): boolean {
    this.send += increment;
    return this.send <= MAX_STREAM_WINDOW;
  }

  /** Takes up to `wanted` bytes of send credit; returns how many may go now. */
  takeSend(wanted: number): number {
    const n = Math.max(0, Math.min(wanted, this.send));
    this.send -= n;
    return n;
  }

  /** The receive window's target now: doubled, up to `max`, if it ran dry since last asked. */
  target(max: number): number {
    if (this.#ranDry) {
      this.#ranDry = false;
      this.#target = Math.min(max, this.#target * 2);
    }
    return this.#target;
  }

  /** Credit we may grant now: how far the window (plus `queued` unread bytes) is below `target`. */
  deficit(target: number, queued: number): number {
    return Math.max(0, target - this.recv - queued);
  }

  /** Records a grant the session has put on the wire. */
  granted(increment: number): void {
    this.recv += increment;
  }
}
