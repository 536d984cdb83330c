import { describe, expect, it } from 'vitest';
import { MAX_STREAM_WINDOW, StreamWindow } from '../src/stream-window.js';

describe('StreamWindow', () => {
  it('doubles the receive target only after the window, not the reader, held the sender back', () => {
    const w = new StreamWindow(0, 1000);
    w.received(400, 0); // 600 left: more than half still open
    expect(w.target(8000)).toBe(1000);
    w.received(200, 100); // the reader is behind: not the window's fault
    expect(w.target(8000)).toBe(1000);
    w.received(100, 0); // 300 left with nothing queued: the window ran dry
    expect(w.target(8000)).toBe(2000);
    expect(w.target(8000)).toBe(2000);
    expect(w.deficit(2000, 50)).toBe(2000 - 300 - 50);
    w.granted(1650);
    expect(w.recv).toBe(1950);
  });

  it('never grows the target past the ceiling it is given', () => {
    const w = new StreamWindow(0, 1000);
    w.received(900, 0);
    expect(w.target(1500)).toBe(1500);
  });

  it('hands out send credit up to what the peer granted, and refuses a grant past the ceiling', () => {
    const w = new StreamWindow(100, 0);
    expect(w.takeSend(70)).toBe(70);
    expect(w.takeSend(70)).toBe(30);
    expect(w.takeSend(70)).toBe(0);
    expect(w.addSend(MAX_STREAM_WINDOW)).toBe(true);
    expect(w.addSend(1)).toBe(false);
  });

  it('frees the rest of the receive window when the peer finishes', () => {
    const w = new StreamWindow(0, 1000);
    w.received(300, 0);
    expect(w.closeReceive()).toBe(700);
    expect(w.recv).toBe(0);
  });
});
