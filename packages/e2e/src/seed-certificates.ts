import { bash } from "./run.ts";

/** The FQDN the seeds leave to the reader (`<YOURFQDNHERE>`): loopback, so agents can dial it. */
export const seedServerName = "localhost";

/**
 * The seeds' commands, verbatim (blog posts, "Create a CA, server and client certificate"):
 * RSA 8192 CA, RSA 4096 server and client keys, openssl x509 -req with an extfile for the
 * SAN/EKU. Writes ca.cert/ca.key, server.cert/server.key and client.cert/client.key in `dir`.
 * The three keys are independent, so the two RSA 4096 keys are made while the CA's RSA 8192
 * key is (its generation alone takes 10 s to over a minute on a loaded machine); the signing
 * steps wait for them. This runs once per test run.
 */
export function makeSeedCertificates(dir: string): void {
  const result = bash(
    `
openssl genrsa -out server.key 4096 2>server.key.log & server=$!
openssl genrsa -out client.key 4096 2>client.key.log & client=$!
openssl req -newkey rsa:8192 -nodes -keyout ca.key -x509 -days 365 -out ca.cert -batch
wait $server || { cat server.key.log >&2; exit 1; }
wait $client || { cat client.key.log >&2; exit 1; }
rm -f server.key.log client.key.log
openssl req -new -key server.key -out server.csr -batch
openssl x509 -req -days 365 -in server.csr -CA ca.cert -CAkey ca.key -CAcreateserial -out server.cert -extfile <(printf "subjectAltName=DNS:${seedServerName}\\nextendedKeyUsage=serverAuth")
openssl req -new -key client.key -out client.csr -batch -subj "/CN=client"
openssl x509 -req -days 365 -in client.csr -CA ca.cert -CAkey ca.key -CAcreateserial -out client.cert -extfile <(printf "extendedKeyUsage=clientAuth")
`,
    // RSA 8192 generation time varies widely (a random prime search); 120 s was once exceeded under load.
    { cwd: dir, timeoutMs: 600_000 },
  );
  if (result.status !== 0) throw new Error(`The seeds' openssl commands failed:\n${result.output}`);
}
