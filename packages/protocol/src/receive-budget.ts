import { encodeFrame, FrameType } from './frame.js';
import type { TunnelStream } from './stream.js';

/**
 * The session-wide receive budget: everything a session has promised to
 * buffer, i.e. received-but-unread bytes plus credit granted to the peer,
 * over all streams. Credit is only ever granted out of this budget, so the
 * total can never exceed `max`, whatever the peer does.
 */
export class ReceiveBudget {
  readonly max: number;
  #streamWindow: number;
  #committed = 0;
  /** Streams whose last grant was cut short by the budget; served when budget frees up. */
  #starved = new Set<TunnelStream>();
  #sendControl: (frame: Buffer) => void;
  /** Grants are only sent while the session is open. */
  active = false;

  constructor(max: number, streamWindow: number, sendControl: (frame: Buffer) => void) {
    this.max = max;
    this.#streamWindow = streamWindow;
    this.#sendControl = sendControl;
  }

  get committed(): number {
    return this.#committed;
  }

  /** Can a new stream's implicit initial window of `bytes` be promised? */
  canAdmit(bytes: number): boolean {
    return this.#committed + bytes <= this.max;
  }

  /** Promise `bytes` (a new stream's initial window). Call only after canAdmit. */
  commit(bytes: number): void {
    this.#committed += bytes;
  }

  /** `bytes` of `stream` went to its reader: free them and top the stream up. */
  consumed(stream: TunnelStream, bytes: number): void {
    this.#committed -= bytes;
    this.grant(stream);
    if (this.#starved.size > 0) this.#feedStarved();
  }

  /** Budget a stream no longer needs (closed, FIN received). */
  release(bytes: number): void {
    if (bytes <= 0) return;
    this.#committed -= bytes;
    if (this.#starved.size > 0) this.#feedStarved();
  }

  forget(stream: TunnelStream): void {
    this.#starved.delete(stream);
  }

  /**
   * Top a stream's window back up to its target, in steps of at least a
   * quarter window so small reads do not each cost a frame. The target starts
   * at the initial window and doubles (up to `streamWindow`) each time the
   * window rather than the reader held the sender back, so bulk streams get
   * a large window and a thousand idle watches do not reserve one. Every
   * grant is capped by the budget: credit granted is memory promised.
   */
  grant(stream: TunnelStream): void {
    if (!this.active) return;
    const target = stream.windowTarget(this.#streamWindow);
    const deficit = stream.windowDeficit(target);
    if (deficit < target / 4) return;
    const increment = Math.min(deficit, this.max - this.#committed);
    if (increment < deficit) this.#starved.add(stream);
    if (increment <= 0 || (increment < target / 4 && stream.recvCredit > 0)) return;
    stream.granted(increment);
    this.#committed += increment;
    this.#sendControl(encodeFrame({ type: FrameType.WINDOW_UPDATE, streamId: stream.id, increment }));
  }

  #feedStarved(): void {
    // Snapshot first: grant() re-adds streams it could not fully serve, and
    // iterating a Set while re-adding to it would never end.
    const starved = [...this.#starved];
    this.#starved.clear();
    for (const s of starved) this.grant(s);
  }
}
