/**
 * `--include-referrers`: what refers to an image kept in its OCI layout, against a real registry (Distribution 2.8,
 * which has no referrers API): cosign's tag-scheme signature (`sha256-<hex>.sig`, made as cosign makes it, see
 * test/support/cosign.ts) and an OCI 1.1 artifact (an SBOM whose `subject` is the image), listed, as the OCI
 * distribution spec tells clients to on such a registry, in the referrers tag schema (an index at `sha256-<hex>`).
 * A front that serves the referrers API (OCI distribution spec 1.1) proves that path.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { containerdWanted, startContainerd } from '../support/containerd.js';
import { pushSignature, signingKey, simpleSigningPayload } from '../support/cosign.js';
import { useRegistry } from '../support/fixture.js';
import {
  blob,
  descriptor,
  oneLayerImage,
  pushBlob,
  pushImage,
  pushManifest,
  sha256,
  type Blob,
  type BuiltImage,
} from '../support/images.js';
import { tarDirectory } from '../support/load.js';
import { startWildFront, type WildFront } from '../support/wild-front.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-referrers-'));
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SPDX = 'application/spdx+json';

interface Pushed {
  readonly img: BuiltImage;
  readonly signature: Blob;
  readonly payload: Blob;
  readonly sbom: { readonly manifest: Blob; readonly config: Blob; readonly layer: Blob };
  /** A second SBOM, which only the referrers API front lists. */
  readonly sbom2: { readonly manifest: Blob; readonly config: Blob; readonly layer: Blob };
}

/** An SBOM as an OCI 1.1 artifact (`artifactType`, the empty config, `subject`), as `oras attach` pushes it. */
function sbomArtifact(subject: Blob, name = 'app'): Pushed['sbom'] {
  const config = blob(Buffer.from('{}'), 'application/vnd.oci.empty.v1+json');
  const layer = blob(Buffer.from(`{"spdxVersion":"SPDX-2.3","name":"${name}"}`), SPDX);
  const body = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: SPDX,
    config: descriptor(config),
    layers: [descriptor(layer)],
    subject: descriptor(subject),
    annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
  };
  return { manifest: blob(Buffer.from(JSON.stringify(body)), OCI_MANIFEST), config, layer };
}

const fixture = useRegistry<Pushed>(async (target) => {
  const img = await oneLayerImage('referred');
  await pushImage(target, 'signed/app', img, '1');
  const name = `${new URL(target.url).host}/signed/app`;
  const payload = simpleSigningPayload(name, img.manifest.digest);
  const signature = await pushSignature(target, 'signed/app', img.manifest.digest, [{ payload, key: signingKey() }]);
  const sbom = sbomArtifact(img.manifest);
  const sbom2 = sbomArtifact(img.manifest, 'app-2');
  for (const artifact of [sbom, sbom2]) {
    for (const b of [artifact.config, artifact.layer]) await pushBlob(target, 'signed/app', b);
    await pushManifest(target, 'signed/app', artifact.manifest.digest, artifact.manifest);
  }
  // The referrers tag schema: what a client pushes where the registry has no referrers API.
  const listing = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...descriptor(sbom.manifest), artifactType: SPDX }],
  };
  const tagIndex = blob(Buffer.from(JSON.stringify(listing)), 'application/vnd.oci.image.index.v1+json');
  await pushManifest(target, 'signed/app', `sha256-${img.manifest.digest.slice(7)}`, tagIndex);
  return { img, signature, payload: blob(payload, 'application/vnd.dev.cosign.simplesigning.v1+json'), sbom, sbom2 };
});

interface IndexJson {
  manifests: {
    mediaType: string;
    digest: string;
    size: number;
    artifactType?: string;
    annotations?: Record<string, string>;
  }[];
}

async function pullWithReferrers(host: string): Promise<{ output: string; index: IndexJson }> {
  const output = join(await tempDir(), 'layout');
  const result = await runCli([
    'pull',
    '-q',
    '--format',
    'oci',
    '--include-referrers',
    '-o',
    output,
    `${host}/signed/app:1`,
  ]);
  expect([result.code, result.stderr]).toEqual([0, '']);
  return { output, index: JSON.parse(await readFile(join(output, 'index.json'), 'utf8')) as IndexJson };
}

async function expectBlobs(output: string, blobs: readonly Blob[]): Promise<void> {
  for (const b of blobs)
    expect(sha256(await readFile(join(output, 'blobs', 'sha256', b.digest.slice(7))))).toBe(b.digest);
}

describe('--include-referrers', () => {
  test('the cosign signature (manifest, config, payload) and the SBOM from the referrers tag schema, listed in index.json', async () => {
    const { output, index } = await pullWithReferrers(fixture.registry.host);
    const { img, signature, payload, sbom } = fixture.images;
    const signatureConfig = (JSON.parse(signature.bytes.toString()) as { config: { digest: string } }).config.digest;
    expect(index.manifests).toEqual([
      expect.objectContaining({ digest: img.manifest.digest }),
      {
        mediaType: OCI_MANIFEST,
        digest: sbom.manifest.digest,
        size: sbom.manifest.size,
        artifactType: SPDX,
      },
      {
        mediaType: OCI_MANIFEST,
        digest: signature.digest,
        size: signature.size,
        // As `cosign save` marks signatures in its layouts (sigstore/cosign pkg/oci/layout).
        annotations: { kind: 'dev.cosignproject.cosign/sigs' },
      },
    ]);
    await expectBlobs(output, [signature, payload, sbom.manifest, sbom.config, sbom.layer]);
    expect(existsSync(join(output, 'blobs', 'sha256', signatureConfig.slice(7)))).toBe(true);
  });

  test('a registry with the referrers API (OCI distribution spec 1.1) is asked there, not by the tag schema', async () => {
    const { img, sbom } = fixture.images;
    let front: WildFront | undefined;
    try {
      front = await startWildFront(fixture.registry.url, {
        referrers: (repository, digest) =>
          repository === 'signed/app' && digest === img.manifest.digest
            ? [{ ...descriptor(sbom.manifest), artifactType: SPDX }]
            : [],
      });
      const { output, index } = await pullWithReferrers(front.host);
      expect(index.manifests.map((m) => m.digest)).toContain(sbom.manifest.digest);
      await expectBlobs(output, [sbom.manifest, sbom.config, sbom.layer]);
      const paths = front.seen.map((s) => s.path);
      expect(paths).toContain(`/v2/signed/app/referrers/${img.manifest.digest}`);
      expect(paths).not.toContain(`/v2/signed/app/manifests/sha256-${img.manifest.digest.slice(7)}`);
    } finally {
      await front?.stop();
    }
  });

  test('a referrers listing in pages (Link: rel="next", as the OCI distribution spec pages it): every page is read', async () => {
    const { img, sbom, sbom2 } = fixture.images;
    let front: WildFront | undefined;
    try {
      front = await startWildFront(fixture.registry.url, {
        referrers: () => [sbom, sbom2].map((a) => ({ ...descriptor(a.manifest), artifactType: SPDX })),
        referrersPageSize: 1,
      });
      const { output, index } = await pullWithReferrers(front.host);
      const listed = index.manifests.map((m) => m.digest);
      expect(listed).toEqual(expect.arrayContaining([sbom.manifest.digest, sbom2.manifest.digest]));
      await expectBlobs(output, [sbom2.manifest, sbom2.config, sbom2.layer]);
      expect(front.seen.map((s) => s.path)).toContain(`/v2/signed/app/referrers/${img.manifest.digest}?n=1&last=1`);
    } finally {
      await front?.stop();
    }
  });

  test('outside an OCI layout, or offline, it is a usage error before anything is fetched', async () => {
    const output = join(await tempDir(), 'out');
    const ref = `${fixture.registry.host}/signed/app:1`;
    const intoDir = await runCli(['pull', '--include-referrers', '-o', output, ref]);
    expect([intoDir.code, intoDir.stderr]).toEqual([
      2,
      'frozen: error: referrers are kept in OCI layouts: --include-referrers needs --format oci\n',
    ]);
    const offline = await runCli([
      'pull',
      '--offline',
      '--format',
      'oci',
      '--include-referrers',
      '-o',
      output,
      `${ref}@${fixture.images.img.manifest.digest}`,
    ]);
    expect(offline.code).toBe(2);
    expect(offline.stderr).toMatch(/--include-referrers does not apply offline/);
    expect(existsSync(output)).toBe(false);
  });
});

describe('loaders read the layout with its referrers', () => {
  describe.runIf(containerdWanted)('containerd', () => {
    let containerd: Awaited<ReturnType<typeof startContainerd>>;
    beforeAll(async () => {
      containerd = await startContainerd();
    }, 60_000);
    afterAll(async () => containerd?.stop());

    test('ctr images import takes the image; the referrers, which carry no image name, do not get in its way', async () => {
      const { output } = await pullWithReferrers(fixture.registry.host);
      await containerd.ctr(['images', 'import', '--snapshotter', 'native', await tarDirectory(output)]);
      const { stdout } = await containerd.ctr(['images', 'ls', '-q']);
      expect(stdout.trim().split('\n')).toEqual([`${fixture.registry.host}/signed/app:1`]);
    }, 60_000);
  });
});
