import type { FuzzTarget } from "../harness.ts";
import { apiBodiesTarget } from "./api-bodies.ts";
import { certificateTarget } from "./certificate.ts";
import { clientHelloTarget } from "./client-hello.ts";
import { crlTarget } from "./crl.ts";
import { csrTarget } from "./csr.ts";
import { derTarget } from "./der.ts";
import { edgeKeyTarget } from "./edge-key.ts";
import { framingTarget } from "./framing.ts";
import { pemTarget } from "./pem.ts";
import { proxyProtocolTarget } from "./proxy-protocol.ts";

/** Every fuzz target, in the order `npm run fuzz` runs them. */
export const targets: readonly FuzzTarget[] = [derTarget, pemTarget, certificateTarget, csrTarget, crlTarget, clientHelloTarget, proxyProtocolTarget, framingTarget, edgeKeyTarget, apiBodiesTarget];
