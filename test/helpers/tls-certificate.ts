/**
 * Certificates for the TLS tests, made with the openssl command (Debian's openssl): a CA,
 * and server certificates it signed for localhost, 127.0.0.1 and ::1, each with its own
 * key (two, so a test can replace one with the other), and one for the same names that the
 * CA did not sign (self-signed), which a client trusting the CA must refuse. Made once per
 * test file, in a temporary folder removed at once: the PEM text is all a test needs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCertificates {
  /** The CA's certificate (PEM): a client that trusts it verifies the servers'. */
  ca: string;
  /** Two server identities signed by the CA, for the same names. */
  servers: { key: string; cert: string }[];
  /** A self-signed server identity for the same names: no client that trusts only the CA accepts it. */
  untrusted: { key: string; cert: string };
}

let made: TestCertificates | null = null;

export function testCertificates(): TestCertificates {
  if (made !== null) return made;
  const dir = mkdtempSync(join(tmpdir(), 'ringwire-certs-'));
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  try {
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=ringwire test CA']);
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
    const servers = [1, 2].map((n) => {
      openssl(['req', ...ec, '-keyout', `s${n}.key`, '-out', `s${n}.csr`, '-subj', '/CN=localhost']);
      openssl([
        'x509',
        '-req',
        '-in',
        `s${n}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `s${n}.pem`,
        '-days',
        '2',
        '-extfile',
        'san.ext',
      ]);
      return { key: readFileSync(join(dir, `s${n}.key`), 'utf8'), cert: readFileSync(join(dir, `s${n}.pem`), 'utf8') };
    });
    openssl([
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'u.key',
      '-out',
      'u.pem',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ]);
    const untrusted = { key: readFileSync(join(dir, 'u.key'), 'utf8'), cert: readFileSync(join(dir, 'u.pem'), 'utf8') };
    made = { ca: readFileSync(join(dir, 'ca.pem'), 'utf8'), servers, untrusted };
    return made;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
