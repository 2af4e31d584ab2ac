import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'vitest';
import { FROZEN_BIN } from '../support/cli.js';
import { startTcpDelayRelay } from '../support/tcp-delay.js';
import { MOBY_SCRIPT, mobyScriptFor, type LocalMobyScript } from '../support/moby-script.js';
import { image, layer, pushBlob, pushBlobFile, pushImage, pushManifest } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import {
  frozenCold,
  frozenPeakRss,
  inScratch,
  interleavedMedians,
  log,
  MB,
  timed,
  writeLargeLayer,
  type BenchImage,
  type Row,
} from './harness.js';
import { makeCertificates } from '../support/tls.js';
import { FLOOR_ARIA2, FLOOR_H2, measureFar, pushBigLayerImage } from './far.js';

/**
 * `npm run bench`: frozen against the floor (curl fetching the same blobs) and its peers, every tool run as a child
 * process against the same local registry, medians of BENCH_RUNS interleaved runs (default 5). Prints a table and the targets.
 */
const RTT_MS = 50;
const PLAIN_NODE = fileURLToPath(new URL('plain-node.mjs', import.meta.url));
const RAW_NODE = fileURLToPath(new URL('raw-node.mjs', import.meta.url));
const PLAIN_NODE_TOOL = 'plain Node: undici + sha256, no cache or layout';
const RAW_NODE_TOOL = 'fastest Node: raw sockets + sha256, no HTTP library';
const NODE_START_TOOL = 'Node start-up alone: node -e 0';
const MOBY_TOOL = "moby's download-frozen-image-v2.sh";
/**
 * Another build of frozen to compare with in the same run (its bin/frozen.js, e.g. a worktree of an earlier commit,
 * built): its cold and warm pulls and peak RSS get rows of their own, interleaved with this build's.
 */
const BASELINE = process.env.BENCH_BASELINE;
const BASELINE_COLD = 'baseline build: frozen cold';
const BASELINE_WARM = 'baseline build: frozen warm';
/** `BENCH_ONLY=tls`, `far` or `loopback`: only those scenarios (a quick run while working on the transport). */
const ONLY = process.env.BENCH_ONLY;
const TLS_SCENARIO = '40 small layers over TLS (private CA)';
const CA_FILE_TOOL = 'frozen cold --ca-file';
const EXTRA_CERTS_TOOL = 'frozen cold, CA in NODE_EXTRA_CA_CERTS';

test('bench', { timeout: 3_600_000 }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'frozen-bench-'));
  const registry = await startRegistry();
  // Far away: a TCP-level delay, so that handshakes and every new connection pay the round trip too.
  const proxy = await startTcpDelayRelay(registry.host, RTT_MS);
  try {
    log(`building and pushing bench images in ${work} …`);
    const [eight, slow] = await pushSmallImages(registry);
    const big = await pushBigLayerImage(registry, eight);
    if (ONLY === 'far') {
      const far = await measureFar(registry, work, slow, big);
      return printFarTable(far.rows, far.report);
    }
    const tlsRows = ONLY === 'loopback' ? [] : await measureTls(slow, registry, work);
    if (ONLY === 'tls') return printTlsTable(tlsRows);
    const rows: Row[] = [...tlsRows];
    for (const bench of [eight, slow]) rows.push(...(await measureImage(bench, registry.host, work, 'loopback')));
    if (ONLY === 'loopback') return printLoopback(rows, await hugeRows(registry, work));
    rows.push(...(await measureImage(slow, proxy.host, work, `+${RTT_MS} ms RTT`, { warm: false })));
    const levels = [2, 4, 8, 16];
    const sweep = await interleavedMedians(
      levels.map((level) => () => frozenCold(`${proxy.host}/${slow.repo}`, work, ['--concurrency', String(level)])),
    );
    levels.forEach((level, i) =>
      rows.push({
        scenario: `40 small layers +${RTT_MS} ms RTT`,
        tool: `frozen cold --concurrency ${level}`,
        seconds: sweep[i]!,
      }),
    );
    const far = await measureFar(registry, work, slow, big);
    const huge = await hugeRows(registry, work);
    rows.push(...huge.rows);
    printTable(rows, huge.rss, huge.baselineRss);
    printFarTable(far.rows, far.report);
  } finally {
    await proxy.stop();
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  }
});

/**
 * The 2 GB image, made last: writing it leaves the disk busy for a while, which would slow the small scenarios. Its
 * rows, and the peak memory of a cold pull of it (this build's and the baseline's).
 */
async function hugeRows(registry: RunningRegistry, work: string) {
  log('building and pushing the 2 GB image …');
  const huge = await pushHugeImage(registry, work);
  const rows = await measureImage(huge, registry.host, work, 'loopback');
  const rss = await frozenPeakRss(`${registry.host}/${huge.repo}`, work);
  const baselineRss = BASELINE ? await frozenPeakRss(`${registry.host}/${huge.repo}`, work, BASELINE) : undefined;
  return { rows, rss, baselineRss };
}

/** `BENCH_ONLY=loopback`: the loopback scenarios alone, for a regression check against BENCH_BASELINE. */
function printLoopback(rows: readonly Row[], huge: Awaited<ReturnType<typeof hugeRows>>): void {
  const all = [...rows, ...huge.rows].filter((r) => /^(frozen|baseline|curl)/.test(r.tool));
  const lines = ['', '| scenario | tool | median s |', '|---|---|---:|'];
  for (const r of all) lines.push(`| ${r.scenario} | ${r.tool} | ${Number(r.seconds).toFixed(3)} |`);
  lines.push('', `frozen peak RSS, cold pull of the 2 GB layer: ${(huge.rss / MB).toFixed(1)} MB`);
  if (huge.baselineRss !== undefined) lines.push(`baseline build's peak RSS: ${(huge.baselineRss / MB).toFixed(1)} MB`);
  log(lines.join('\n'));
}

/**
 * A registry over TLS with a private CA, trusted the two ways users trust one: `--ca-file`, or the CA in
 * NODE_EXTRA_CA_CERTS. Both should cost the same (the TLS context is made once per run either way).
 */
async function measureTls(bench: BenchImage, plain: RunningRegistry, work: string): Promise<Row[]> {
  const certs = await makeCertificates();
  const secure = await startRegistry({
    tls: { certificate: certs.certificate, key: certs.key, ca: certs.ca },
    storage: plain.storage,
  });
  try {
    log(`measuring ${TLS_SCENARIO}`);
    const ref = `${secure.host}/${bench.repo}`;
    const builds: [string, string][] = [
      ['', FROZEN_BIN],
      ...(BASELINE ? [['baseline build: ', BASELINE] as [string, string]] : []),
    ];
    const tools = builds.flatMap(([prefix, bin]): [string, () => Promise<number>][] => [
      // Neither run inherits a NODE_EXTRA_CA_CERTS of the machine's (this one sets it to the whole system bundle,
      // which --ca-file would parse once more): the two differ only in how the private CA is given.
      [
        `${prefix}${CA_FILE_TOOL}`,
        () => frozenCold(ref, work, ['--ca-file', certs.ca], bin, { NODE_EXTRA_CA_CERTS: '' }),
      ],
      [`${prefix}${EXTRA_CERTS_TOOL}`, () => frozenCold(ref, work, [], bin, { NODE_EXTRA_CA_CERTS: certs.ca })],
    ]);
    const medians = await interleavedMedians(tools.map(([, run]) => run));
    return tools.map(([tool], i) => ({ scenario: TLS_SCENARIO, tool, seconds: medians[i]! }));
  } finally {
    await secure.stop();
  }
}

function printTlsTable(rows: readonly Row[]): void {
  log(
    [
      '',
      '| scenario | tool | median s |',
      '|---|---|---:|',
      ...rows.map((r) => `| ${r.scenario} | ${r.tool} | ${Number(r.seconds).toFixed(3)} |`),
    ].join('\n'),
  );
  log(`\nTarget:\n- ${tlsTarget(rows)}`);
}

/** `--ca-file` costs no more than NODE_EXTRA_CA_CERTS (within the machine's noise, 5 %). */
function tlsTarget(rows: readonly Row[]): string {
  const time = (tool: string) => rows.find((r) => r.tool === tool)?.seconds as number;
  const ratio = time(CA_FILE_TOOL) / time(EXTRA_CERTS_TOOL);
  return `${ratio <= 1.05 ? 'PASS' : 'FAIL'} --ca-file ≤ 1.05× NODE_EXTRA_CA_CERTS: ${ratio.toFixed(2)}×`;
}

async function pushSmallImages(registry: RunningRegistry): Promise<[BenchImage, BenchImage]> {
  const target = { url: registry.url };
  // Docker schema2 images with gzip layers: the only kind moby's script pulls.
  const small = await Promise.all(
    Array.from({ length: 7 }, (_, i) =>
      layer([{ type: 'file', name: `layer${i}/data`, content: randomBytes(1 * MB) }]),
    ),
  );
  const big = await layer([{ type: 'file', name: 'big/data', content: randomBytes(200 * MB) }]);
  const eight = image({ layers: [...small.slice(0, 4), big, ...small.slice(4)] });
  await pushImage(target, 'bench/eight', eight, '1');

  const forty = image({
    layers: await Promise.all(
      Array.from({ length: 40 }, (_, i) => layer([{ type: 'file', name: `l${i}`, content: randomBytes(50_000) }])),
    ),
  });
  await pushImage(target, 'bench/forty', forty, '1');
  return [
    { name: '8 layers, one 200 MB', repo: 'bench/eight:1', image: eight },
    { name: '40 small layers', repo: 'bench/forty:1', image: forty },
  ];
}

async function pushHugeImage(registry: RunningRegistry, work: string): Promise<BenchImage> {
  const target = { url: registry.url };
  const hugeLayer = await writeLargeLayer(join(work, 'huge.tar.gz'), 2000 * MB);
  const huge = image({ layers: [hugeLayer] });
  await pushBlobFile(target, 'bench/huge', join(work, 'huge.tar.gz'), hugeLayer.digest);
  await rm(join(work, 'huge.tar.gz'));
  await pushBlob(target, 'bench/huge', huge.config);
  await pushManifest(target, 'bench/huge', '1', huge.manifest);
  return { name: 'one 2 GB layer', repo: 'bench/huge:1', image: huge };
}

async function measureImage(
  bench: BenchImage,
  host: string,
  work: string,
  where: string,
  options = { warm: true },
): Promise<Row[]> {
  const scenario = `${bench.name} ${where}`;
  const ref = `${host}/${bench.repo}`;
  log(`measuring ${scenario}`);
  // Gigabytes just written (bench images, earlier runs) would otherwise be flushed to disk during the runs.
  execFileSync('sync');
  const moby = MOBY_SCRIPT ? await mobyScriptFor(MOBY_SCRIPT, `http://${host}`) : undefined;
  try {
    return await inScratch(work, async (warmDir) => {
      const warm = options.warm ? await primedCache(ref, warmDir) : undefined;
      const baselineWarm =
        options.warm && BASELINE ? await primedCache(ref, join(warmDir, 'baseline'), BASELINE) : undefined;
      const tools: [string, () => Promise<number>][] = [
        ['curl (the floor)', () => curlBlobs(host, bench, work)],
        [PLAIN_NODE_TOOL, () => plainNode(host, bench, work)],
        [RAW_NODE_TOOL, () => rawNode(host, bench, work)],
        [NODE_START_TOOL, nodeStart],
        ['frozen cold', () => frozenCold(ref, work)],
        ...(warm ? [['frozen warm', warm] as [string, () => Promise<number>]] : []),
        ...(BASELINE
          ? [[BASELINE_COLD, () => frozenCold(ref, work, [], BASELINE)] as [string, () => Promise<number>]]
          : []),
        ...(baselineWarm ? [[BASELINE_WARM, baselineWarm] as [string, () => Promise<number>]] : []),
        ['skopeo → docker-archive', () => skopeo(ref, work)],
        ...(moby ? [[MOBY_TOOL, () => mobyScript(moby, bench, work)] as [string, () => Promise<number>]] : []),
      ];
      const medians = await interleavedMedians(tools.map(([, run]) => run));
      return [
        ...tools.map(([tool], i) => ({ scenario, tool, seconds: medians[i]! })),
        ...(moby
          ? []
          : [{ scenario, tool: MOBY_TOOL, seconds: 'n/a: not installed (name it with FROZEN_MOBY_SCRIPT)' }]),
      ];
    });
  } finally {
    await moby?.stop();
  }
}

/** Pulls once into a cache in `dir`; the function it returns times a re-pull (everything cached) into a new directory. */
async function primedCache(ref: string, dir: string, bin = FROZEN_BIN): Promise<() => Promise<number>> {
  const env = { FROZEN_CACHE: join(dir, 'cache') };
  await timed(process.execPath, [bin, 'pull', '-q', '-o', join(dir, 'first'), ref], env);
  let run = 0;
  return async () =>
    (await timed(process.execPath, [bin, 'pull', '-q', '-o', join(dir, `out${run++}`), ref], env)).seconds;
}

/** The manifest's URL and every blob's, as curl and the plain Node program fetch them: told up front, no manifest to parse first. */
function imageUrls(host: string, bench: BenchImage): { manifest: string; blobs: { url: string; hex: string }[] } {
  const [repo, tag] = bench.repo.split(':') as [string, string];
  const blobs = [bench.image.config, ...bench.image.layers].map((b) => ({
    url: `http://${host}/v2/${repo}/blobs/${b.digest}`,
    hex: b.digest.slice(7),
  }));
  return { manifest: `http://${host}/v2/${repo}/manifests/${tag}`, blobs };
}

/** The floor: one curl process fetching the manifest and every blob to files, 8 at a time. */
function curlBlobs(host: string, bench: BenchImage, work: string): Promise<number> {
  return inScratch(work, async (dir) => {
    const { manifest, blobs } = imageUrls(host, bench);
    const args = [
      '-sS',
      '--fail',
      '--parallel',
      '--parallel-max',
      '8',
      '-H',
      `Accept: ${bench.image.manifest.mediaType}`,
    ];
    args.push(manifest, '-o', join(dir, 'manifest'));
    for (const { url, hex } of blobs) args.push(url, '-o', join(dir, hex));
    return (await timed('curl', args)).seconds;
  });
}

/** A plain Node program (plain-node.mjs): curl's fetches on frozen's HTTP stack, each blob's sha256 checked. */
function plainNode(host: string, bench: BenchImage, work: string): Promise<number> {
  return nodeProgram(['--liftoff-only', PLAIN_NODE], host, bench, work);
}

/** The fastest verifying Node program found (raw-node.mjs): curl's fetches on bare sockets, each blob's sha256 checked. */
function rawNode(host: string, bench: BenchImage, work: string): Promise<number> {
  return nodeProgram([RAW_NODE], host, bench, work);
}

/** Times a Node program given an output folder, the manifest URL, its media type and the blob URLs. */
function nodeProgram(program: string[], host: string, bench: BenchImage, work: string): Promise<number> {
  return inScratch(work, async (dir) => {
    const { manifest, blobs } = imageUrls(host, bench);
    const args = [...program, dir, manifest, bench.image.manifest.mediaType, ...blobs.map((b) => b.url)];
    return (await timed(process.execPath, args)).seconds;
  });
}

/** What any Node program pays before its first line runs: the floor under frozen and the plain Node program. */
async function nodeStart(): Promise<number> {
  return (await timed(process.execPath, ['-e', '0'])).seconds;
}

function skopeo(ref: string, work: string): Promise<number> {
  return inScratch(work, async (dir) => {
    const args = [
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `docker-archive:${join(dir, 'image.tar')}:${ref}`,
    ];
    return (await timed('skopeo', args)).seconds;
  });
}

/** moby's script, pointed at the bench registry, pulling the image into a new directory (it has no cache). */
function mobyScript(moby: LocalMobyScript, bench: BenchImage, work: string): Promise<number> {
  return inScratch(work, async (dir) => (await timed('bash', [moby.path, join(dir, 'out'), bench.repo])).seconds);
}

function printTable(rows: Row[], peakRss: number, baselineRss?: number): void {
  const lines = [
    '',
    '| scenario | tool | median s | × curl | × plain Node | × skopeo |',
    '|---|---|---:|---:|---:|---:|',
  ];
  const reference = (scenario: string, tool: string) =>
    rows.find((r) => r.scenario === scenario && r.tool.startsWith(tool))?.seconds;
  const ratio = (value: number | string, base: number | string | undefined) =>
    typeof value === 'number' && typeof base === 'number' ? `${(value / base).toFixed(2)}` : '';
  for (const row of rows) {
    const seconds = typeof row.seconds === 'number' ? row.seconds.toFixed(3) : row.seconds;
    const scenario = row.scenario.replace(/ loopback$/, '');
    const ratios = ['curl', PLAIN_NODE_TOOL, 'skopeo'].map((tool) => ratio(row.seconds, reference(row.scenario, tool)));
    lines.push(`| ${scenario} | ${row.tool} | ${seconds} | ${ratios.join(' | ')} |`);
  }
  lines.push('', `frozen peak RSS, cold pull of the 2 GB layer: ${(peakRss / MB).toFixed(1)} MB`);
  if (baselineRss !== undefined)
    lines.push(`baseline build's peak RSS, same pull: ${(baselineRss / MB).toFixed(1)} MB`);
  lines.push('', 'Targets:');
  const target = (name: string, ok: boolean, detail: string) =>
    lines.push(`- ${ok ? 'PASS' : 'FAIL'} ${name}: ${detail}`);
  for (const scenario of [...new Set(rows.map((r) => r.scenario))].filter((s) => s.endsWith('loopback'))) {
    const cold = reference(scenario, 'frozen cold') as number;
    const curl = reference(scenario, 'curl') as number;
    const [plain, raw, start] = [PLAIN_NODE_TOOL, RAW_NODE_TOOL, NODE_START_TOOL].map(
      (tool) => (reference(scenario, tool) as number) / curl,
    );
    const detail = `${(cold / curl).toFixed(2)}× (plain Node: ${plain!.toFixed(2)}×, fastest Node: ${raw!.toFixed(2)}×, Node start-up alone: ${start!.toFixed(2)}×)`;
    target(`cold ≤ 1.5× curl (${scenario.replace(/ loopback$/, '')})`, cold <= 1.5 * curl, detail);
  }
  const warm = reference('40 small layers loopback', 'frozen warm') as number;
  target('warm 40-layer re-pull ≤ 0.3 s', warm <= 0.3, `${warm.toFixed(3)} s`);
  const slowScenario = `40 small layers +${RTT_MS} ms RTT`;
  const slowFrozen = reference(slowScenario, 'frozen cold') as number;
  const slowSkopeo = reference(slowScenario, 'skopeo') as number;
  target(
    `40-layer pull with ${RTT_MS} ms RTT ≤ 0.8× skopeo`,
    slowFrozen <= 0.8 * slowSkopeo,
    `${(slowFrozen / slowSkopeo).toFixed(2)}×`,
  );
  target('peak RSS ≤ 100 MB', peakRss <= 100 * MB, `${(peakRss / MB).toFixed(1)} MB`);
  lines.push(`- ${tlsTarget(rows)}`);
  log(lines.join('\n'));
}

/** The far scenarios: each tool's time and its ratio to the scenario's floor, then the targets. */
function printFarTable(rows: readonly Row[], report: readonly string[]): void {
  const floorOf = (scenario: string) =>
    rows.find((r) => r.scenario === scenario && (r.tool === FLOOR_H2 || r.tool === FLOOR_ARIA2))?.seconds;
  const lines = ['', '| far scenario | tool | median s | × floor |', '|---|---|---:|---:|'];
  for (const row of rows) {
    const floor = floorOf(row.scenario);
    const ratio = typeof floor === 'number' && typeof row.seconds === 'number' ? (row.seconds / floor).toFixed(2) : '';
    lines.push(`| ${row.scenario} | ${row.tool} | ${Number(row.seconds).toFixed(3)} | ${ratio} |`);
  }
  lines.push(...report, '', 'Targets:');
  for (const scenario of new Set(rows.map((r) => r.scenario))) {
    const floor = floorOf(scenario);
    const frozen = rows.find((r) => r.scenario === scenario && r.tool.startsWith('frozen cold'))?.seconds;
    if (typeof floor !== 'number' || typeof frozen !== 'number') continue;
    const limit = rows.some((r) => r.scenario === scenario && r.tool === FLOOR_ARIA2) ? 1.2 : 1.0;
    const ratio = frozen / floor;
    lines.push(`- ${ratio <= limit ? 'PASS' : 'FAIL'} ${scenario}: frozen ≤ ${limit}× floor: ${ratio.toFixed(2)}×`);
  }
  log(lines.join('\n'));
}
