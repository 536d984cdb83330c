// Node 20 refuses --cpu-prof in NODE_OPTIONS; this does the same from
// --import: samples the whole process and writes
// $BENCH_PROFILE_DIR/<script>-<pid>.cpuprofile when it exits. The
// in-process inspector session answers synchronously, so it works in an
// 'exit' handler. Usage: NODE_OPTIONS="--import ./bench/lib/profile-preload.mjs"
// BENCH_PROFILE_DIR=/tmp/x (the agent in bench:relay: BENCH_AGENT_NODE_OPTIONS).
import process from 'node:process';
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 200 });
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      const script = basename(process.argv[1] ?? 'node').replace(/\.[cm]?[jt]s$/, '');
      writeFileSync(join(dir, `${script}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
