import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import { splice, type TunnelStream } from '@hawser/protocol';
import { AgentErrorCodes } from './errors.js';
import type { Logger } from './log.js';
import type { RelayTarget } from './relay-target.js';
import { endWithStatus, relayResponse, writeUpstreamHead } from './relay-response.js';
import type { RequestHead } from '@hawser/contract';

/**
 * exec, attach, port-forward: the head asks for an upgrade. The agent makes
 * the upgrade request itself and answers with a 101 head (then raw bytes
 * both ways, spliced between the stream and the API server's socket) or
 * with the API server's refusal (head and body). Stream bytes before the
 * 101 stay queued in the stream (its window holds them) and go upstream
 * only once the API server has switched protocols.
 */
export function relayUpgrade(opts: { stream: TunnelStream; head: RequestHead; headers: OutgoingHttpHeaders; target: RelayTarget; log: Logger }): void {
  const { stream, head, headers, target, log } = opts;
  headers.connection = 'Upgrade';
  headers.upgrade = head.upgrade;
  stream.pause();
  // Upgraded connections are never returned to a pool, so each gets a
  // fresh connection with the same trust and credentials.
  const https = target.url.protocol !== 'http:';
  const tls = https ? (target.agent as HttpsAgent).options : {};
  const send = https ? httpsRequest : httpRequest;
  const upstream = send(target.url, { method: head.method, path: head.target, headers, agent: false, ca: tls.ca, cert: tls.cert, key: tls.key });
  let upgraded = false;
  stream.once('close', () => {
    if (!upgraded) upstream.destroy();
  });
  upstream.on('upgrade', (up: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
    upgraded = true;
    if (stream.destroyed || !writeUpstreamHead(stream, up, true)) return void upSocket.destroy();
    if (upHead.length) stream.write(upHead);
    // The stream faces the operator: when it closes, what they sent last
    // gets the splice's flush deadline to reach the API server.
    splice(stream, upSocket);
    stream.resume();
  });
  // No upgrade: the API server refused (403, 404, 400). Its refusals of the
  // agent's own rights are said in the operator's terms, as for any request
  // (own-refusal.ts); everything else goes on as it came.
  upstream.on('response', (up: IncomingMessage) => {
    if (stream.destroyed) return void up.destroy();
    relayResponse(stream, up);
    stream.resume();
  });
  upstream.on('error', (err) => {
    if (upgraded || stream.destroyed) return;
    log.warn({ code: AgentErrorCodes.UPSTREAM_FAILED, err: err.message, requestId: head.requestId }, 'API server upgrade request failed');
    stream.resume();
    endWithStatus(stream, 502, AgentErrorCodes.UPSTREAM_FAILED, `hawser-agent could not reach the API server: ${err.message}`);
  });
  upstream.end();
}
