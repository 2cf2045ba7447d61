// How every etcd service answers a unary call: the handler's promise resolves the response or
// rejects with a GrpcError (anything else is reported as Unknown with its message), and a
// throw inside the handler is caught too, so no call is left unanswered.
import type * as Grpc from "@grpc/grpc-js";
import { fromServiceError } from "./errors.js";

export type Wire = Record<string, unknown>;

export type UnaryHandler = (
  call: Grpc.ServerUnaryCall<Wire, Wire>,
  callback: Grpc.sendUnaryData<Wire>,
) => void;

/** A grpc-js unary handler from an async function of the request and its metadata. */
export function unary(fn: (req: Wire, md: Grpc.Metadata) => Promise<Wire> | Wire): UnaryHandler {
  return (call, callback) => {
    let p: Promise<Wire>;
    try {
      p = Promise.resolve(fn(call.request, call.metadata));
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (resp) => callback(null, resp),
      (err: unknown) => callback(fromServiceError(err)),
    );
  };
}
