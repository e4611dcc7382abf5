import { Duplex } from "node:stream";
import tls from "node:tls";
import { type TestCa, createTestPki, names, uiServerRequest } from "./tls-fixtures.testkit.ts";
import type { FrontMaterial } from "./tls-front.ts";
import { loadFrontMaterial } from "./tls-reloader.ts";

/** A test CA and the front material of a UI server certificate it issued; dispose it to remove their files. */
export interface UiFrontMaterial extends AsyncDisposable {
  readonly ca: TestCa;
  readonly material: FrontMaterial;
}

/**
 * Creates a CA named `caName` and loads a server certificate it issued for `names.ui` and
 * 127.0.0.1 as a TLS front's material.
 *
 * @example
 * ({ ca, material } = fixture = await uiFrontMaterial("limits"));
 */
export async function uiFrontMaterial(caName: string): Promise<UiFrontMaterial> {
  const pki = createTestPki();
  const ca = await pki.createCa(caName);
  const server = await pki.issue(ca, "ui", uiServerRequest());
  const material = await loadFrontMaterial({ server: { certPath: server.certPath, keyPath: server.keyPath } });
  return { ca, material, [Symbol.asyncDispose]: () => pki[Symbol.asyncDispose]() };
}

/** The bytes of a real ClientHello for `names.ui`, as Node's TLS client sends them. */
export function realClientHello(): Promise<Buffer> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      socket: new Duplex({
        read: () => undefined,
        write(chunk: Buffer, _encoding, callback) {
          resolve(Buffer.from(chunk));
          callback();
          setImmediate(() => socket.destroy());
        },
      }),
      servername: names.ui,
    });
    socket.on("error", () => undefined);
  });
}
