import { TlsFront, connectionIdentity, type RoutingPolicy } from "../tls/tls-front.ts";
import type { TlsMaterial } from "../tls/tls-material.ts";
import { type EdgeResponse, type EdgeRouteOptions, createEdgeRoutes } from "./edge-routes.ts";

/** The edge routes on a real TLS listener on loopback; dispose it to close the listener. */
export interface EdgeListener extends AsyncDisposable {
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
 * with `material`; other paths answer 404. The default policy `whole-listener` requires a client
 * certificate chaining to `material`'s CA.
 *
 * @example
 * await using listener = await listenEdgeRoutes(await loadTlsMaterial({ ...server, caPath, role: "server" }), { edge, mtlsRequired: () => true, tunnels, log });
 * await TestAgent.connect({ port: listener.port, ca, cert, key, edgeId: "device-1" });
 */
export async function listenEdgeRoutes(
  material: TlsMaterial,
  routeOptions: Omit<EdgeRouteOptions, "identify"> & Partial<Pick<EdgeRouteOptions, "identify">>,
  policy: RoutingPolicy = { mode: "whole-listener" },
): Promise<EdgeListener> {
  const routes = createEdgeRoutes({ identify: identifyByClientCertificate, ...routeOptions });
  const front = new TlsFront({
    material: { server: material },
    policy,
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
