/**
 * The console's fleet page with 1,000 clusters: `npm run bench:console
 * [-- --clusters 1000 --runs 7]`.
 *
 * A real `hawser server` (in this process, embedded store, the built
 * console) over a synthetic fleet: the clusters are written straight into
 * its store with agent versions and last-seen times, and two in three get a
 * stand-in tunnel in its registry, so the fleet shows them connected
 * (no agent runs; the fleet page only reads the registry and the store).
 * Headless Chromium (Debian's, through playwright-core) signs in with an
 * API token, then for each run opens /fleet in a new page and records, in
 * the page, when the fleet table first holds every cluster (ms from the
 * navigation's start, performance.now()). Then, on one page: typing a
 * filter and clicking a sort header, each timed from the input event to
 * the next frame after React's commit.
 * Results: stdout and bench/results/console-first-render.{md,json}.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { createServer, type HawserServer } from '../packages/server/src/index.js';

const root = resolve(import.meta.dirname, '..');
const argValue = (name: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const CLUSTERS = Number(argValue('clusters') ?? 1000);
const RUNS = Number(argValue('runs') ?? 7);
const CHROMIUM = process.env.HAWSER_CHROMIUM ?? '/usr/bin/chromium';
const log = (l: string) => process.stderr.write(`console-bench: ${l}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** An operator token from the admin API (read tier). */
function operatorToken(server: HawserServer, adminToken: string): Promise<string> {
  const body = JSON.stringify({ user: 'bench', groups: ['bench-readers'] });
  return new Promise((done, fail) => {
    const req = request(
      `${server.context.publicUrl}/api/v1/tokens`,
      { method: 'POST', ca: server.context.ca.certPem, headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => (res.statusCode === 201 ? done((JSON.parse(text) as { token: string }).token) : fail(new Error(`token: ${res.statusCode} ${text}`))));
      },
    );
    req.on('error', fail);
    req.end(body);
  });
}

/** One GET with the session cookie, timed to the last byte. */
function timedGet(server: HawserServer, path: string, cookie: string): Promise<number> {
  const t0 = performance.now();
  return new Promise((done, fail) => {
    const req = request(`${server.context.publicUrl}${path}`, { ca: server.context.ca.certPem, headers: { cookie } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? done(performance.now() - t0) : fail(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end();
  });
}

/** The synthetic fleet: store rows, versions, last-seen times, and stand-in tunnels for two in three. */
async function seed(server: HawserServer): Promise<number> {
  const { store, tunnels } = server.context;
  const regions = ['eu-west', 'eu-central', 'us-east', 'us-west', 'ap-south'];
  let connected = 0;
  for (let i = 0; i < CLUSTERS; i++) {
    const name = `cluster-${String(i).padStart(4, '0')}`;
    const cluster = await store.createCluster({ name, labels: { env: i % 3 === 0 ? 'prod' : 'staging', region: regions[i % regions.length]!, team: `team-${i % 17}` } });
    await store.updateAgentInfo(cluster.id, { agentVersion: '0.1.0', kubernetesVersion: `v1.3${i % 4}.2`, install: { agentMode: 'read-only', chartVersion: '0.1.0' } });
    if (i % 3 === 2) {
      await store.touchLastSeen(cluster.id, new Date(Date.now() - i * 60_000));
      continue;
    }
    connected++;
    tunnels.add({
      id: `bench-${i}`,
      clusterId: cluster.id,
      clusterName: name,
      connectedAt: new Date(),
      remoteAddress: '127.0.0.1',
      certificateFingerprint: `bench-${i}`,
      close: async () => undefined,
    });
  }
  return connected;
}

// The page-side code is plain JavaScript text: tsx (esbuild, keepNames)
// would wrap functions written here in a __name() helper the page lacks.

/** Set before any script of the page runs: when the fleet table first holds every cluster. */
const READY_PROBE = `(() => {
  const total = __TOTAL__;
  const check = () => {
    const table = document.querySelector('table[data-testid=fleet]');
    if (!table) return false;
    // A virtualized table says how many rows it holds; a plain one has them all.
    const count = Number(table.getAttribute('data-rows') ?? table.querySelectorAll('tbody tr[data-cluster]').length);
    return count === total && table.querySelector('tbody tr[data-cluster]') !== null;
  };
  new MutationObserver((_m, observer) => {
    if (window.__fleetReady === undefined && check()) {
      window.__fleetReady = performance.now();
      observer.disconnect();
    }
  }).observe(document, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-rows'] });
})();`;

/** Input event -> React commit -> the next frame painted, in the page. */
const INTERACTION = `async ([act, value]) => {
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  await frame();
  const t0 = performance.now();
  if (act === 'filter') {
    const input = document.querySelector('input[data-testid=fleet-filter]') ?? document.querySelector('section input');
    Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value').set.call(input, value);
    input.dispatchEvent(new Event('input', { bubbles: true }));
  } else {
    document.querySelector('[data-sort="' + value + '"]').click();
  }
  await frame();
  const table = document.querySelector('table[data-testid=fleet]');
  return { ms: performance.now() - t0, rows: Number(table.getAttribute('data-rows') ?? table.querySelectorAll('tbody tr[data-cluster]').length) };
}`;

/** Where the time before the table goes: the page, its script, the session check (ms from navigation start). */
const BREAKDOWN = `(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  const end = (part) => Math.round(res.find((r) => r.name.includes(part))?.responseEnd ?? -1);
  return { html: Math.round(nav.responseEnd), script: end('/assets/'), session: end('/console/v1/session'), domContentLoaded: Math.round(nav.domContentLoadedEventEnd) };
})()`;

async function interaction(page: Page, act: 'filter' | 'sort', value: string): Promise<{ ms: number; rows: number }> {
  return page.evaluate(`(${INTERACTION})(${JSON.stringify([act, value])})`) as Promise<{ ms: number; rows: number }>;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hawser-console-bench-'));
  const server = createServer(
    { dataDir, databaseUrl: 'memory://', listen: '127.0.0.1:0', agentListen: '127.0.0.1:0', logLevel: 'warn', tierGroups: { read: ['bench-readers'] } },
    { logDestination: { write: () => true } },
  );
  await server.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'] });
  try {
    const adminToken = readFileSync(server.context.adminTokenFile, 'utf8').trim();
    const t0 = performance.now();
    const connected = await seed(server);
    log(`seeded ${CLUSTERS} clusters (${connected} with a stand-in tunnel) in ${Math.round(performance.now() - t0)} ms`);
    const token = await operatorToken(server, adminToken);
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
    const signIn = await context.newPage();
    await signIn.goto(server.context.publicUrl);
    await signIn.fill('input[name=token]', token);
    await signIn.click('button[type=submit]');
    await signIn.waitForSelector('[data-testid=who]');
    await signIn.close();
    const cookie = (await context.cookies(server.context.publicUrl)).map((c) => `${c.name}=${c.value}`).join('; ');
    const serverMs: number[] = [];
    for (let i = 0; i < 6; i++) serverMs.push(await timedGet(server, '/console/v1/clusters', cookie));
    serverMs.shift();
    log(`GET /console/v1/clusters (${CLUSTERS} clusters, the fleet event's snapshot): ${serverMs.map((x) => x.toFixed(0)).join(', ')} ms`);
    await context.addInitScript({ content: READY_PROBE.replace('__TOTAL__', String(CLUSTERS)) });

    const firstRender: number[] = [];
    const breakdown: Record<string, number[]> = {};
    let page: Page | undefined;
    for (let run = 0; run <= RUNS; run++) {
      await page?.close();
      page = await context.newPage();
      await page.goto(`${server.context.publicUrl}/fleet`);
      const ms = (await (await page.waitForFunction(() => (globalThis as { __fleetReady?: number }).__fleetReady, undefined, { timeout: 60_000 })).jsonValue()) as number;
      const marks = (await page.evaluate(BREAKDOWN)) as Record<string, number>;
      // Run 0 warms the server's and the browser's caches; it is not counted.
      if (run > 0) {
        firstRender.push(ms);
        for (const [k, v] of Object.entries(marks)) (breakdown[k] ??= []).push(v);
      }
      log(`run ${run}: fleet table with ${CLUSTERS} clusters after ${ms.toFixed(0)} ms${run === 0 ? ' (warm-up)' : ''} ${JSON.stringify(marks)}`);
    }
    const filters = [];
    for (const value of ['prod', 'cluster-01', 'region=us-east', 'disconnected', '']) filters.push({ value, ...(await interaction(page!, 'filter', value)) });
    const sorts = [];
    for (const key of ['state', 'name', 'lastSeen', 'name']) {
      if (await page!.$(`[data-sort="${key}"]`)) sorts.push({ key, ...(await interaction(page!, 'sort', key)) });
    }
    const jsHeap = (await page!.evaluate('performance.memory ? performance.memory.usedJSHeapSize : 0')) as number;
    const result = {
      clusters: CLUSTERS,
      connected,
      runs: RUNS,
      serverSnapshotMedianMs: median(serverMs),
      breakdownMedianMs: Object.fromEntries(Object.entries(breakdown).map(([k, v]) => [k, median(v)])),
      firstRenderMs: { median: median(firstRender), min: Math.min(...firstRender), max: Math.max(...firstRender), all: firstRender.map((x) => Math.round(x)) },
      filter: filters.map((f) => ({ ...f, ms: Math.round(f.ms) })),
      sort: sorts.map((s) => ({ ...s, ms: Math.round(s.ms) })),
      pageJsHeapMB: Math.round(jsHeap / 1e5) / 10,
      chromium: browser.version(),
    };
    const md = [
      `| fleet page, ${CLUSTERS} clusters (${connected} connected) | ms |`,
      '| --- | --- |',
      `| navigation -> table with every cluster, median of ${RUNS} (min-max) | ${result.firstRenderMs.median.toFixed(0)} (${result.firstRenderMs.min.toFixed(0)}-${result.firstRenderMs.max.toFixed(0)}) |`,
      `| server: GET /console/v1/clusters (the snapshot the fleet stream starts with), median of 5 | ${result.serverSnapshotMedianMs.toFixed(0)} |`,
      ...result.filter.map((f) => `| filter "${f.value}" (${f.rows} rows) | ${f.ms} |`),
      ...result.sort.map((s) => `| sort by ${s.key} | ${s.ms} |`),
      '',
      `Chromium ${result.chromium} headless; page JS heap ${result.pageJsHeapMB} MB. Medians before the table (ms from navigation start): ${Object.entries(result.breakdownMedianMs).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    ].join('\n');
    process.stdout.write(`${md}\n`);
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, 'bench/results/console-first-render.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(root, 'bench/results/console-first-render.md'), `${md}\n`);
  } finally {
    await browser.close();
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
