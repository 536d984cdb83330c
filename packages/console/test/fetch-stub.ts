import { vi } from 'vitest';

/** One request the console made, and what the stub answered. */
export interface Asked {
  url: string;
  accept: string | undefined;
}

type Answer = Response | ((signal: AbortSignal | undefined) => Response);

/**
 * Replaces the browser's fetch with answers chosen by a function of the URL;
 * returns the requests in order. Relative URLs stay as the console wrote them.
 */
export function stubFetch(answer: (url: string, asked: Asked[]) => Answer): Asked[] {
  const asked: Asked[] = [];
  vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
    const accept = (init?.headers as Record<string, string> | undefined)?.accept;
    asked.push({ url, accept });
    const a = answer(url, asked);
    return typeof a === 'function' ? a(init?.signal ?? undefined) : a;
  });
  return asked;
}

export const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A watch response: these events, one JSON line each; then the stream ends, or stays open until the request is aborted. */
export function watchStream(events: unknown[], stayOpen = false): (signal: AbortSignal | undefined) => Response {
  return (signal) =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          for (const e of events) controller.enqueue(new TextEncoder().encode(`${JSON.stringify(e)}\n`));
          if (!stayOpen) return controller.close();
          signal?.addEventListener('abort', () => controller.error(new DOMException('aborted', 'AbortError')));
        },
      }),
      { status: 200 },
    );
}
