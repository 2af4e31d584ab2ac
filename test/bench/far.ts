/**
 * The far-registry scenarios of `npm run bench`, every one behind TCP delay relays (handshakes pay the round trip):
 * (a) 40 small layers over TLS at 100 and 200 ms RTT, against curl over HTTP/2 with every blob multiplexed (the
 * floor), skopeo, @snyk/snyk-docker-pull and moby's script; (b) a 200 MB layer at 100 ms RTT with each connection
 * paced to 16 MB/s, against `aria2c -x8 -s8` (the floor: it verifies nothing) and skopeo; (c) a Docker-Hub-like pull
 * (token host, registry, blobs redirected to a CDN host, each its own origin over TLS) at 100 ms RTT: its time and
 * its round trips, host by host.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FROZEN_BIN } from '../support/cli.js';
import { image, pushImage } from '../support/images.js';
import { MOBY_SCRIPT, mobyScriptFor } from '../support/moby-script.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startTcpDelayRelay, type TcpDelayRelay } from '../support/tcp-delay.js';
import { startTlsFront, type TlsFront } from '../support/tls-front.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';
import { startWildFront } from '../support/wild-front.js';
import { frozenCold, inScratch, interleavedMedians, log, MB, timed, type BenchImage, type Row } from './harness.js';

const exec = promisify(execFile);
const SNYK_VERSION = '3.17.1';
export const FLOOR_H2 = 'curl --parallel over HTTP/2 (the floor)';
export const FLOOR_ARIA2 = 'aria2c -x8 -s8 (the floor)';
const PACED_BYTES_PER_SECOND = 16 * MB;

type Tool = [string, () => Promise<number>];

/**
 * A cold frozen pull trusting the bench's CA with `--ca-file`, as users trust a private registry, and not the
 * machine's NODE_EXTRA_CA_CERTS: this machine sets it to the whole system bundle, which Node parses at start-up and
 * `--ca-file` adds once more (the TLS scenario in run.ts does the same). curl, aria2 and skopeo are given the CA alone.
 */
function frozenFar(ref: string, work: string, extra: string[]): Promise<number> {
  return frozenCold(ref, work, extra, FROZEN_BIN, { NODE_EXTRA_CA_CERTS: '' });
}

/** Every far scenario; `forty` is the 40-layer image and `big` an image whose only layer has 200 MB. */
export async function measureFar(
  registry: RunningRegistry,
  work: string,
  forty: BenchImage,
  big: BenchImage,
): Promise<{ rows: Row[]; report: string[] }> {
  const certs = await makeCertificates();
  const secure = await startRegistry({
    tls: { certificate: certs.certificate, key: certs.key, ca: certs.ca },
    storage: registry.storage,
  });
  try {
    const snyk = await installSnyk(work);
    const rows: Row[] = [];
    for (const rtt of [100, 200]) rows.push(...(await smallLayersOverTls(secure, certs, forty, rtt, work, snyk)));
    rows.push(...(await oneBigLayer(secure, certs, big, work)));
    const hub = await dockerHubLike(registry, certs, forty, work);
    rows.push(...hub.rows);
    return { rows, report: hub.report };
  } finally {
    await secure.stop();
  }
}

/** (a): the 40-layer image over TLS, `rtt` ms away. */
async function smallLayersOverTls(
  secure: RunningRegistry,
  certs: TestCertificates,
  bench: BenchImage,
  rtt: number,
  work: string,
  snyk: string | undefined,
): Promise<Row[]> {
  const scenario = `40 small layers, TLS, ${rtt} ms RTT`;
  log(`measuring ${scenario}`);
  const relay = await startTcpDelayRelay(secure.host, rtt);
  const moby = MOBY_SCRIPT ? await mobyScriptFor(MOBY_SCRIPT, `https://${relay.host}`) : undefined;
  try {
    const ref = `${relay.host}/${bench.repo}`;
    const tools: Tool[] = [
      ['frozen cold', () => frozenFar(ref, work, ['--ca-file', certs.ca])],
      [FLOOR_H2, () => curlHttp2(relay.host, bench, certs.ca, work)],
      ['skopeo → docker-archive', () => skopeoTls(ref, certs, work)],
      ...(snyk ? [['@snyk/snyk-docker-pull', () => snykPull(snyk, relay.host, bench, certs.ca, work)] as Tool] : []),
      ...(moby
        ? [
            [
              "moby's download-frozen-image-v2.sh",
              () =>
                inScratch(
                  work,
                  async (dir) =>
                    (await timed('bash', [moby.path, join(dir, 'out'), bench.repo], { CURL_CA_BUNDLE: certs.ca }))
                      .seconds,
                ),
            ] as Tool,
          ]
        : []),
    ];
    return await medianRows(scenario, tools);
  } finally {
    await moby?.stop();
    await relay.stop();
  }
}

/** (b): one 200 MB layer over TLS, 100 ms away, each connection paced to 16 MB/s. */
async function oneBigLayer(
  secure: RunningRegistry,
  certs: TestCertificates,
  bench: BenchImage,
  work: string,
): Promise<Row[]> {
  const scenario = 'one 200 MB layer, TLS, 100 ms RTT, 16 MB/s a connection';
  log(`measuring ${scenario}`);
  const relay = await startTcpDelayRelay(secure.host, 100, { bytesPerSecond: PACED_BYTES_PER_SECOND });
  try {
    const ref = `${relay.host}/${bench.repo}`;
    const ca = ['--ca-file', certs.ca];
    const tools: Tool[] = [
      ['frozen cold (default: --segments 8)', () => frozenFar(ref, work, ca)],
      ['frozen cold --segments 4', () => frozenFar(ref, work, [...ca, '--segments', '4'])],
      ['frozen cold --segments 16', () => frozenFar(ref, work, [...ca, '--segments', '16'])],
      ['frozen cold --segments 1 (one stream)', () => frozenFar(ref, work, [...ca, '--segments', '1'])],
      [FLOOR_ARIA2, () => aria2(relay.host, bench, certs.ca, work)],
      ['skopeo → docker-archive', () => skopeoTls(ref, certs, work)],
    ];
    return await medianRows(scenario, tools);
  } finally {
    await relay.stop();
  }
}

/**
 * (c): Docker Hub's shape: the registry answers 401 with a realm on a token host of its own, and redirects blob GETs
 * to signed URLs on a CDN host. Each of the three is its own origin over TLS (HTTP/2), 100 ms away.
 */
async function dockerHubLike(
  registry: RunningRegistry,
  certs: TestCertificates,
  bench: BenchImage,
  work: string,
): Promise<{ rows: Row[]; report: string[] }> {
  const scenario = 'Docker-Hub-like (token host, registry, CDN), 100 ms RTT';
  log(`measuring ${scenario}`);
  const wild = await startWildFront(registry.url, { token: { field: 'token', methods: ['GET'] }, storage: {} });
  const fronts: TlsFront[] = [];
  const relays: TcpDelayRelay[] = [];
  const farOrigin = async (upstream: string) => {
    const front = await startTlsFront(`http://${upstream}`, certs);
    fronts.push(front);
    const relay = await startTcpDelayRelay(front.host, 100);
    relays.push(relay);
    return relay.host;
  };
  try {
    const registryHost = await farOrigin(wild.host);
    const tokenHost = await farOrigin(wild.host);
    const cdnHost = await farOrigin(wild.storageHost);
    wild.publicOrigins.token = `https://${tokenHost}`;
    wild.publicOrigins.storage = `https://${cdnHost}`;
    const ref = `${registryHost}/${bench.repo}`;
    const rows = await medianRows(scenario, [['frozen cold', () => frozenFar(ref, work, ['--ca-file', certs.ca])]]);
    const roles = { [registryHost]: 'registry', [tokenHost]: 'token host', [cdnHost]: 'CDN' };
    return { rows, report: await roundTrips(ref, certs, work, roles) };
  } finally {
    for (const relay of relays) await relay.stop();
    for (const front of fronts) await front.stop();
    await wild.stop();
  }
}

/** A cold pull's requests and new connections per host, from its `--json` summary, as table lines. */
async function roundTrips(
  ref: string,
  certs: TestCertificates,
  work: string,
  roles: Record<string, string>,
): Promise<string[]> {
  const summary = await inScratch(work, async (dir) => {
    const { stdout } = await exec(
      process.execPath,
      [FROZEN_BIN, 'pull', '--json', '-o', join(dir, 'out'), '--ca-file', certs.ca, ref],
      { env: { ...process.env, FROZEN_CACHE: join(dir, 'cache') }, maxBuffer: 64 * MB },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as {
      totals: { requests: Record<string, number>; connections: Record<string, number> };
    };
  });
  const lines = ['', '| Docker-Hub-like cold pull, 100 ms RTT | requests | new connections |', '|---|---:|---:|'];
  for (const [host, role] of Object.entries(roles)) {
    lines.push(`| ${role} | ${summary.totals.requests[host] ?? 0} | ${summary.totals.connections[host] ?? 0} |`);
  }
  return lines;
}

async function medianRows(scenario: string, tools: readonly Tool[]): Promise<Row[]> {
  const medians = await interleavedMedians(tools.map(([, run]) => run));
  return tools.map(([tool], i) => ({ scenario, tool, seconds: medians[i]! }));
}

/** The floor of (a): the manifest with one curl, then every blob with another, multiplexed on one HTTP/2 connection. */
function curlHttp2(host: string, bench: BenchImage, ca: string, work: string): Promise<number> {
  const [repo, tag] = bench.repo.split(':') as [string, string];
  return inScratch(work, async (dir) => {
    const common = ['-sS', '--fail', '--http2', '--cacert', ca];
    const accept = ['-H', `Accept: ${bench.image.manifest.mediaType}`];
    const manifest = [...common, ...accept, `https://${host}/v2/${repo}/manifests/${tag}`, '-o', join(dir, 'm')];
    const blobs = [...common, '--parallel', '--parallel-max', '100'];
    for (const b of [bench.image.config, ...bench.image.layers])
      blobs.push(`https://${host}/v2/${repo}/blobs/${b.digest}`, '-o', join(dir, b.digest.slice(7)));
    return (await timed('curl', manifest)).seconds + (await timed('curl', blobs)).seconds;
  });
}

/** The floor of (b): aria2 fetching the manifest, then the layer in 8 ranges over 8 connections. */
function aria2(host: string, bench: BenchImage, ca: string, work: string): Promise<number> {
  const [repo, tag] = bench.repo.split(':') as [string, string];
  return inScratch(work, async (dir) => {
    const common = ['-q', '--ca-certificate', ca, '-d', dir, '--allow-overwrite=true', '--auto-file-renaming=false'];
    const manifest = [...common, `--header=Accept: ${bench.image.manifest.mediaType}`, '-o', 'manifest'];
    manifest.push(`https://${host}/v2/${repo}/manifests/${tag}`);
    const files = [bench.image.config, ...bench.image.layers].map(
      (b) => `https://${host}/v2/${repo}/blobs/${b.digest}`,
    );
    const blobs = [...common, '-x8', '-s8', '-j8', '-Z', ...files];
    return (await timed('aria2c', manifest)).seconds + (await timed('aria2c', blobs)).seconds;
  });
}

function skopeoTls(ref: string, certs: TestCertificates, work: string): Promise<number> {
  return inScratch(work, async (dir) => {
    const certDir = join(dir, 'certs');
    await mkdir(certDir);
    await writeFile(join(certDir, 'ca.crt'), await readFile(certs.ca));
    const args = [
      'copy',
      '--quiet',
      '--src-cert-dir',
      certDir,
      `docker://${ref}`,
      `docker-archive:${join(dir, 'i.tar')}`,
    ];
    return (await timed('skopeo', args)).seconds;
  });
}

/**
 * Installs @snyk/snyk-docker-pull (the most used npm package for pulling without docker) into a scratch folder for
 * the bench only; undefined, with a line saying why, when the npm registry cannot be reached.
 */
async function installSnyk(work: string): Promise<string | undefined> {
  const dir = join(work, 'snyk');
  await mkdir(dir, { recursive: true });
  try {
    await exec('npm', ['install', '--no-save', '--no-audit', '--no-fund', `@snyk/snyk-docker-pull@${SNYK_VERSION}`], {
      cwd: dir,
    });
  } catch (error) {
    log(`@snyk/snyk-docker-pull not measured: npm install failed (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
  const script = join(dir, 'pull.cjs');
  await writeFile(
    script,
    [
      "const { DockerPull } = require('@snyk/snyk-docker-pull');",
      'const [registry, repo, tag, staging] = process.argv.slice(2);',
      '// loadImage: false writes the image to the staging folder instead of handing it to a Docker daemon.',
      'new DockerPull().pull(registry, repo, tag, { stagingDirPath: staging, loadImage: false })',
      '  .then(() => undefined, (error) => { console.error(error); process.exit(1); });',
    ].join('\n'),
  );
  return script;
}

function snykPull(script: string, host: string, bench: BenchImage, ca: string, work: string): Promise<number> {
  const [repo, tag] = bench.repo.split(':') as [string, string];
  return inScratch(
    work,
    async (dir) => (await timed(process.execPath, [script, host, repo, tag, dir], { NODE_EXTRA_CA_CERTS: ca })).seconds,
  );
}

/** A 200 MB single-layer image made from the 200 MB layer of `eight`, pushed beside it. */
export async function pushBigLayerImage(registry: RunningRegistry, eight: BenchImage): Promise<BenchImage> {
  const big = eight.image.layers.reduce((a, b) => (b.size > a.size ? b : a));
  const one = image({ layers: [big] });
  const [repo] = eight.repo.split(':') as [string];
  await pushImage({ url: registry.url }, repo, one, 'one-layer');
  return { name: 'one 200 MB layer', repo: `${repo}:one-layer`, image: one };
}
