import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** A throwaway CA and a server certificate it signed for 127.0.0.1, made with openssl. */
export interface TestCertificates {
  readonly ca: string;
  readonly certificate: string;
  readonly key: string;
}

export async function makeCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'frozen-tls-'));
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => exec('openssl', args);
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=frozen test CA',
    '-keyout',
    path('ca.key'),
    '-out',
    path('ca.pem'),
  );
  await openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    path('server.key'),
    '-out',
    path('server.csr'),
  );
  await exec('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1\\n' > '${path('san.ext')}'`]);
  await openssl(
    'x509',
    '-req',
    '-in',
    path('server.csr'),
    '-CA',
    path('ca.pem'),
    '-CAkey',
    path('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    path('san.ext'),
    '-out',
    path('server.pem'),
  );
  return { ca: path('ca.pem'), certificate: path('server.pem'), key: path('server.key') };
}
