import type { ClientHttp2Session } from "node:http2";
import { request as httpsRequest } from "node:https";
import type { Readable } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { CertificateGrant } from "@pier/protocol";
import { certificateGrantValidator, edgePaths, identityLimits } from "@pier/protocol/wire";
import { refusedError } from "../channel.ts";
import { retryAfterMs } from "./retry-after.ts";
import { AgentError } from "../errors.ts";

/** Share of a certificate's lifetime after which the agent renews, and the most jitter it adds. */
export const renewalSchedule = { atShare: 2 / 3, jitterShare: 0.1 } as const;

/** Largest renewal answer read: a grant's three PEM fields at their limits, with room for JSON. */
const maxAnswerBytes = identityLimits.certificatePem + 2 * identityLimits.bundlePem + 4096;

/**
 * When to renew a certificate: at ⅔ of its lifetime plus a random jitter of up to 10 % of it
 * (KubeEdge's and smallstep's approach), so a fleet issued the same day does not renew in the
 * same minute. The lifetime counts from when the agent stored the certificate (or its notBefore,
 * if later), since the server back-dates notBefore by a few minutes for clock skew.
 *
 * @example
 * const at = renewalTime({ notBefore, notAfter, receivedAt });
 */
export function renewalTime(certificate: { notBefore: Date; notAfter: Date; receivedAt: Date }, random: () => number = Math.random): Date {
  const end = certificate.notAfter.getTime();
  const start = Math.min(end, Math.max(certificate.notBefore.getTime(), certificate.receivedAt.getTime()));
  const lifetime = end - start;
  return new Date(start + lifetime * (renewalSchedule.atShare + renewalSchedule.jitterShare * random()));
}

/**
 * When to renew after the server pushed `renew {withinSeconds}`: a random moment in that window
 * (the server spreads a CA rotation over it), never later than the scheduled renewal.
 *
 * @example
 * const at = pushedRenewalTime(600, scheduled);
 */
export function pushedRenewalTime(withinSeconds: number, scheduled: Date | undefined, now = Date.now(), random: () => number = Math.random): Date {
  const pushed = now + withinSeconds * 1000 * random();
  return new Date(scheduled === undefined ? pushed : Math.min(pushed, scheduled.getTime()));
}

/** What a renewal request came to. */
export type RenewalAnswer =
  | { readonly kind: "granted"; readonly grant: CertificateGrant }
  /** 429/503: the server spreads renewals; ask again after `retryAfterMs`. */
  | { readonly kind: "later"; readonly retryAfterMs: number; readonly error: AgentError }
  | { readonly kind: "failed"; readonly error: AgentError };

function answer(status: number, retryAfter: string | undefined, body: string): RenewalAnswer {
  if (status === 200) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { kind: "failed", error: refusedError(status, "The renewal answer is not JSON.") };
    }
    const result = certificateGrantValidator.safeParse(parsed);
    if (result.success) return { kind: "granted", grant: result.data };
    const issue = result.error.issues[0];
    return { kind: "failed", error: refusedError(status, `The renewal answer is not a certificate grant (${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}).`) };
  }
  const error = refusedError(status, body);
  if (status === 429 || status === 503) return { kind: "later", retryAfterMs: retryAfterMs(retryAfter, body) ?? 30_000, error };
  return { kind: "failed", error };
}

function transportFailure(error: Error): RenewalAnswer {
  const cause = `The renewal request got no answer: ${error.message}.`;
  return { kind: "failed", error: new AgentError("connect_failed", cause, { cause: error, explained: { code: "renewal_no_answer", cause, fix: "Nothing to do if it passes; the agent asks again with its backoff." } }) };
}

function collect(stream: Readable, onDone: (body: string) => void, onError: (error: Error) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on("data", (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxAnswerBytes) {
      onError(new Error(`The renewal answer exceeds ${maxAnswerBytes} bytes.`));
      stream.destroy();
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => onDone(Buffer.concat(chunks).toString("utf8")));
  stream.on("error", onError);
}

/**
 * `POST /api/edge/v1/certificate/renew {csr}` on the agent's live session connection (HTTP/2,
 * authenticated by the certificate being renewed).
 *
 * @example
 * const answer = await requestRenewal(session.http2, csrPem, signal);
 */
export function requestRenewal(http2: ClientHttp2Session, csr: string, signal: AbortSignal): Promise<RenewalAnswer> {
  return new Promise((resolve) => {
    const failed = (error: Error) => resolve(transportFailure(error));
    let stream: ReturnType<ClientHttp2Session["request"]>;
    try {
      stream = http2.request({ ":method": "POST", ":path": edgePaths.renew, "content-type": "application/json" }, { signal });
    } catch (error) {
      failed(error as Error);
      return;
    }
    stream.on("response", (headers) => {
      const status = Number(headers[":status"]);
      const retryAfter = headers["retry-after"];
      collect(stream, (body) => resolve(answer(status, typeof retryAfter === "string" ? retryAfter : undefined, body)), failed);
    });
    stream.on("error", failed);
    stream.on("close", () => failed(new Error("the stream closed without an answer")));
    stream.end(JSON.stringify({ csr }));
  });
}

/**
 * The same request over HTTP/1.1 on an already verified TLS socket that presents the
 * certificate being renewed: how a polling agent renews (it has no session connection).
 *
 * @example
 * const answer = await requestRenewalOnce(socket, host, csrPem);
 */
export function requestRenewalOnce(socket: TLSSocket, host: string, csr: string): Promise<RenewalAnswer> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ csr });
    const failed = (error: Error) => resolve(transportFailure(error));
    const request = httpsRequest(
      { createConnection: () => socket, host, method: "POST", path: edgePaths.renew, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (response) => {
        const retryAfter = response.headers["retry-after"];
        collect(
          response,
          (text) => {
            socket.end();
            resolve(answer(response.statusCode ?? 0, retryAfter, text));
          },
          failed,
        );
      },
    );
    request.on("error", failed);
    request.end(body);
  });
}
