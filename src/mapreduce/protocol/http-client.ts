// The client side of the control protocol and of the bulk-data routes, over node:http or
// node:https (keep-alive; security.ts): JSON control requests, and streamed bodies for bulk data. Network failures
// reject with HttpError (status 0 = no answer).

import { createReadStream, createWriteStream, statSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { pipeline } from "node:stream/promises";
import { RaftworkError } from "../../util/errors.js";
import { readFileAt } from "../format/read-at.js";
import { clientSide } from "./security.js";

/** A request failed: `status` is the HTTP status of an error reply, 0 when none came. */
export class HttpError extends RaftworkError {
  readonly code = "MR_HTTP_FAILED";

  constructor(
    readonly status: number,
    message: string,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

interface Options {
  method?: string;
  timeoutMs?: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Aborting it fails the request at once (HttpError, status 0). */
  signal?: AbortSignal | undefined;
}

function request(url: string, opts: Options): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const side = clientSide();
    const req = side.request(url, {
      method: opts.method ?? "GET",
      agent: side.agent,
      headers: { ...side.headers, ...opts.headers },
      timeout: opts.timeoutMs ?? 30_000,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    req.on("response", resolve);
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in time`)));
    req.on("error", (err) => reject(new HttpError(0, `${url}: ${err.message}`)));
    req.end(opts.body);
  });
}

/** Reads a whole body, request or response, up to `limit` bytes (a larger one is refused). */
export async function readBody(res: IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(0, `response larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function jsonReply(url: string, res: IncomingMessage): Promise<unknown> {
  const text = (await readBody(res)).toString("utf8");
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const status = res.statusCode ?? 0;
  if (status >= 400) {
    const msg = (body as { error?: unknown } | undefined)?.error;
    throw new HttpError(status, typeof msg === "string" ? msg : `${url}: HTTP ${status}`, body);
  }
  return body;
}

/** POSTs `body` as JSON and returns the parsed JSON reply; HttpError on status >= 400. */
export async function postJson(
  url: string,
  body: unknown,
  opts: { timeoutMs?: number; signal?: AbortSignal | undefined } = {},
): Promise<unknown> {
  const res = await request(url, {
    ...opts,
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
  });
  return jsonReply(url, res);
}

/** GETs a body into memory. */
export async function getBuffer(url: string, onBytes?: (n: number) => void): Promise<Buffer> {
  const res = await request(url, {});
  if ((res.statusCode ?? 0) !== 200) await jsonReply(url, res);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      onBytes?.(chunk.length);
    }
  } catch (err) {
    throw new HttpError(0, `${url}: ${(err as Error).message}`);
  }
  if (!res.complete) throw new HttpError(0, `${url}: connection closed mid-body`);
  return Buffer.concat(chunks);
}

/**
 * GETs a body into memory when its declared length is at most `maxInMemory` bytes (no copy
 * to disk and back for the common small body), else straight into the file `path`. Returns
 * the body, or `path`.
 */
export async function getBufferOrFile(
  url: string,
  maxInMemory: number,
  path: string,
  onBytes?: (n: number) => void,
): Promise<Buffer | string> {
  const res = await request(url, {});
  if ((res.statusCode ?? 0) !== 200) await jsonReply(url, res);
  const length = Number(res.headers["content-length"]);
  try {
    if (Number.isSafeInteger(length) && length <= maxInMemory) {
      const body = Buffer.allocUnsafe(length);
      let at = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (at + chunk.length > length) throw new Error("body longer than its content-length");
        chunk.copy(body, at);
        at += chunk.length;
        onBytes?.(chunk.length);
      }
      if (at !== length || !res.complete) throw new Error("connection closed mid-body");
      return body;
    }
    res.on("data", (chunk: Buffer) => onBytes?.(chunk.length));
    await pipeline(res, createWriteStream(path));
  } catch (err) {
    throw new HttpError(0, `${url}: ${(err as Error).message}`);
  }
  if (!res.complete) throw new HttpError(0, `${url}: connection closed mid-body`);
  return path;
}

/**
 * Bodies up to this size are read with one synchronous call and sent with one write: a
 * stream of 64 KiB reads through the thread pool took 15-40 ms for a 700 KB file on two
 * busy cores, one call takes under 1 ms.
 */
export const SMALL_BODY = 4 << 20;

/** PUTs a file as the body and returns the parsed JSON reply. */
export async function uploadFile(
  url: string,
  path: string,
  onBytes?: (n: number) => void,
): Promise<unknown> {
  const size = statSync(path).size;
  const body = size <= SMALL_BODY ? readFileAt(path, 0, size) : undefined;
  if (body && body.length !== size) throw new Error(`${path} changed while read`);
  return new Promise((resolve, reject) => {
    const side = clientSide();
    const req = side.request(url, {
      method: "PUT",
      agent: side.agent,
      timeout: 60_000,
      headers: { ...side.headers, "content-length": size },
    });
    req.on("response", (res) => jsonReply(url, res).then(resolve, reject));
    req.on("timeout", () => req.destroy(new Error(`no answer from ${url} in time`)));
    req.on("error", (err) => reject(new HttpError(0, `${url}: ${err.message}`)));
    if (body) {
      req.end(body);
      onBytes?.(size);
      return;
    }
    const file = createReadStream(path);
    if (onBytes) file.on("data", (chunk) => onBytes(chunk.length));
    pipeline(file, req).catch((err: Error) => reject(new HttpError(0, `${url}: ${err.message}`)));
  });
}
