/**
 * The upstream in a process of its own, as the kube-apiserver is in
 * production: the agent process then pays only for relaying, not also for
 * producing the bytes. Driven by bench/lib/agent-process.ts over IPC.
 */
import { startUpstream } from './upstream.js';

const upstream = await startUpstream();
process.on('message', (msg: { type: string; id: number }) => {
  void (async () => {
    switch (msg.type) {
      case 'events-sent':
        return process.send?.({ id: msg.id, value: upstream.eventsSent() });
      case 'stop-events':
        upstream.stopEvents();
        return process.send?.({ id: msg.id, value: 0 });
      case 'exit':
        await upstream.close();
        process.exit(0);
    }
  })();
});
process.on('disconnect', () => process.exit(0));
process.send?.({ id: 0, value: upstream.port });
