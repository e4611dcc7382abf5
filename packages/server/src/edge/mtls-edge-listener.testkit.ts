import { TlsFront, connectionIdentity } from "../tls/tls-front.ts";
import type { TlsMaterial } from "../tls/tls-material.ts";
import { type EdgeResponse, type EdgeRouteOptions, createEdgeRoutes } from "./edge-routes.ts";

/** The edge routes on a real mTLS listener on loopback; dispose it to close the listener. */
export interface MtlsEdgeListener extends AsyncDisposable {
  readonly front: TlsFront;
  readonly port: number;
}

/**
 * Who is on the other end, as the server's tunnel listener in `whole-listener` mode tells the
 * edge routes: authorized only over a verified client certificate, which is passed on.
 */
export const identifyByClientCertificate: EdgeRouteOptions["identify"] = (req) => {
  const who = connectionIdentity(req);
  return { authorized: who.mtls && who.authorized, remoteAddress: who.remoteAddress ?? "unknown", ...(who.peerCertificate ? { peerCertificate: who.peerCertificate } : {}) };
};

/**
 * Serves the edge routes (`identify` defaults to `identifyByClientCertificate`) on a TLS front
 * that requires a client certificate chaining to `material`'s CA; other paths answer 404.
 *
 * @example
 * await using listener = await listenMtlsEdgeRoutes(await loadTlsMaterial({ ...server, caPath, role: "server" }), { edge, mtlsRequired: () => true, tunnels, log });
 * await TestAgent.connect({ port: listener.port, ca, cert, key, edgeId: "device-1" });
 */
export async function listenMtlsEdgeRoutes(material: TlsMaterial, routeOptions: Omit<EdgeRouteOptions, "identify"> & Partial<Pick<EdgeRouteOptions, "identify">>): Promise<MtlsEdgeListener> {
  const routes = createEdgeRoutes({ identify: identifyByClientCertificate, ...routeOptions });
  const front = new TlsFront({
    material: { server: material },
    policy: { mode: "whole-listener" },
    handler: (req, res) => {
      if (routes(req, res as unknown as EdgeResponse)) return;
      const notFound = res as unknown as EdgeResponse;
      notFound.writeHead(404, {});
      notFound.end();
    },
  });
  const { port } = await front.listen(0, "127.0.0.1");
  return { front, port, [Symbol.asyncDispose]: () => front.close() };
}
