// Per-call options for client-node's generated APIs: the caller's AbortSignal goes onto the request (node-fetch then
// destroys the socket when it fires, so an aborted write is not sent on later) and the User-Agent names the replica,
// so the API server's audit log tells which replica wrote.
import * as k8s from '@kubernetes/client-node';
import { CallOptions } from '../model';

export type ApiCallOptions = k8s.ConfigurationOptions<k8s.ObservableMiddleware>;

/** client-node options carrying `opts.signal` and the User-Agent, appended to `base` (e.g. a Content-Type header). */
export function apiCallOptions(
  userAgent: string,
  opts: CallOptions | undefined,
  base?: ApiCallOptions,
): ApiCallOptions {
  const header = k8s.setHeaderMiddleware('User-Agent', userAgent);
  const signal = opts?.signal;
  const middleware: k8s.ObservableMiddleware = {
    pre: (ctx) => {
      if (signal) ctx.setSignal(signal);
      return header.pre(ctx);
    },
    post: (res) => header.post(res),
  };
  return { ...base, middleware: [...(base?.middleware ?? []), middleware], middlewareMergeStrategy: 'append' };
}

/** `spiderpool-guard/<role> (<identity>)`: what the audit log shows as the caller. */
export function userAgentOf(role: string, identity: string): string {
  return `spiderpool-guard/${role} (${identity})`;
}
