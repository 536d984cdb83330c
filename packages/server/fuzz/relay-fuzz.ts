/**
 * Fuzz the relay end to end in one process (relay-fuzz-core.ts): random and
 * mutated HTTP/1.1 bytes through Node's real parser, the server's relay, the
 * protocol Session pair and the agent's real Relay, to a recording stand-in
 * API server; the oracle checks that every request reaching it is one the
 * server authorized, with that identity, method and target, and nothing else.
 *
 *   npm run fuzz                                   # protocol targets, then this one
 *   tsx packages/server/fuzz/relay-fuzz.ts --relay-inputs 20000 --seed 7
 *
 * Exits 1 on a finding, printing the seed, the input's index and the input.
 */
import { RelayFuzzFinding, runRelayFuzz, type RelayFuzzStats } from './relay-fuzz-core.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}
// Its own flag: the protocol targets' --iterations means something else.
const inputs = arg('relay-inputs', 1_000_000);
const seed = arg('seed', Date.now() % 1_000_000);
const concurrency = arg('concurrency', 192);

const line = (s: RelayFuzzStats): string =>
  `${s.inputs} inputs, ${s.parsed} requests parsed (${s.upgrades} upgrades), ${s.parserRefused} refused by Node's parser, ` +
  `${s.serverRefused} refused by the server, ${s.admitted} admitted, ${s.agentRefused} refused by the agent, ${s.forwarded} reached the API server, ` +
  `${s.admittedOther} admitted and ended otherwise; ${s.seconds.toFixed(1)} s, ${s.inputsPerSecond} inputs/s`;

// tsx maps every stack through source maps; the relay builds many errors (client resets), so that costs a tenth of the run.
process.setSourceMapsEnabled(false);
console.log(`relay fuzz: ${inputs} inputs, seed ${seed}, concurrency ${concurrency}`);
try {
  const stats = await runRelayFuzz({ inputs, seed, concurrency, progress: (s) => console.log(`  ${line(s)}`) });
  console.log(`relay fuzz: no finding (seed ${seed}): ${line(stats)}`);
  console.log(`audit events by status: ${Object.entries(stats.auditByStatus).map(([k, v]) => `${k}: ${v}`).join(', ')}`);
  process.exit(0);
} catch (err) {
  if (!(err instanceof RelayFuzzFinding)) throw err;
  console.error(`FINDING in relay fuzz (seed ${err.seed}, input ${err.index ?? 'unknown'}): ${err.message}`);
  console.error(`detail: ${typeof err.detail === 'string' ? err.detail : JSON.stringify(err.detail)}`);
  if (err.input !== undefined) console.error(`input: ${JSON.stringify(err.input.slice(0, 4000))}`);
  process.exit(1);
}
