// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
/**
 * The one module that calls Imagefill's RPCs (worker/sql/07_review_rpcs.sql and 40_browser_search.sql).
 * Always with the caller's own session: the database decides who may do what (is_image_operator()).
 */
import type { SupabaseClient } from "@supabase/supabase-js";

export type ImageSource = "openfoodfacts" | "search_api" | "browser" | "manual";

export interface Candidate {
  url: string;
  source: ImageSource;
  confidence: number | null;
  reason: string | null;
  query?: string | null;
  width?: number | null;
  height?: number | null;
}

export interface ReviewItem {
  product_id: string;
  name: string;
  brand: string | null;
  ean: string | null;
  gtin: string | null;
  image_status: string;
  candidates: Candidate[];
  last_error: string | null;
}

export interface ReviewPage {
  items: ReviewItem[];
  total: number;
}

export interface CatalogueCounters {
  total: number;
  queued: number;
  running: number;
  ok: number;
  needs_review: number;
  error: number;
  missing: number;
  invalid_ean: number;
}

export interface BatchProgress {
  batch_id: string;
  total: number;
  queued: number;
  running: number;
  ok: number;
  needs_review: number;
  error: number;
  done: number;
}

export interface BackfillResult {
  batch_id: string | null;
  enqueued: number;
  new: number;
  adopted: number;
}

export interface ApproveResult {
  job_id: string;
  product_id: string;
  source: ImageSource;
  status: string;
}

export interface RejectResult {
  product_id: string;
  rejected: number;
  job_id: string | null;
}

export interface BrowserSearchResult {
  enqueued: boolean;
  product_id: string;
  job_id: string | null;
  reason?: string;
}

/** An RPC refused the call; `status` is what our routes answer, `message` is for a person. */
export class ImagefillError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly hint: string | null = null,
  ) {
    super(message);
  }
}

interface RpcFailure {
  code?: string;
  message?: string;
  hint?: string | null;
}

/** SQLSTATE → the status our routes answer. The RPCs raise 42501 for a non-operator, 22023 (or a
 * cast error, 22P02) for bad input and P0002 for an unknown product or batch. */
export function statusFor(code: string | undefined): number {
  if (!code) return 500;
  if (code === "42501") return 403;
  if (code === "PGRST301" || code === "PGRST302" || code === "PGRST303") return 401;
  if (code === "P0002") return 404;
  if (code === "22023" || code === "P0001" || code.startsWith("22")) return 400;
  if (code === "PGRST202") return 500;
  return 500;
}

function fail(error: RpcFailure): never {
  const status = statusFor(error.code);
  const message =
    status === 500
      ? `Erro inesperado no banco de dados (${error.code ?? "sem código"}): ${error.message ?? ""}. Tente de novo; se persistir, avise o administrador.`
      : (error.message ?? "Erro desconhecido.");
  throw new ImagefillError(status, error.code ?? "unknown", message, error.hint ?? null);
}

async function rpc<T>(supabase: SupabaseClient, fn: string, args: Record<string, unknown>): Promise<T> {
  const { data, error } = await supabase.rpc(fn, args);
  if (error) fail(error);
  return data as T;
}

export function isImageOperator(supabase: SupabaseClient): Promise<boolean> {
  return rpc<boolean>(supabase, "is_image_operator", {});
}

export function enqueueBackfill(supabase: SupabaseClient, limit: number): Promise<BackfillResult> {
  return rpc(supabase, "enqueue_image_backfill", { p_limit: limit });
}

export function catalogueCounters(supabase: SupabaseClient): Promise<CatalogueCounters> {
  return rpc(supabase, "image_backfill_progress", {});
}

export function batchProgress(supabase: SupabaseClient, batchId: string): Promise<BatchProgress> {
  return rpc(supabase, "image_backfill_progress", { p_batch_id: batchId });
}

export async function reviewQueue(supabase: SupabaseClient, limit = 20, offset = 0): Promise<ReviewPage> {
  const rows = await rpc<(ReviewItem & { total_count: number })[]>(supabase, "image_review_queue", {
    p_limit: limit,
    p_offset: offset,
  });
  return {
    items: rows.map(({ total_count: _total, ...item }) => ({ ...item, product_id: String(item.product_id) })),
    total: rows.length > 0 ? Number(rows[0].total_count) : 0,
  };
}

export function approveImage(supabase: SupabaseClient, productId: string, url: string): Promise<ApproveResult> {
  return rpc(supabase, "approve_product_image", { p_product_id: productId, p_url: url });
}

export function rejectImage(
  supabase: SupabaseClient,
  productId: string,
  reason: string,
  retry: boolean,
): Promise<RejectResult> {
  return rpc(supabase, "reject_product_image", { p_product_id: productId, p_reason: reason, p_retry: retry });
}

export function requestBrowserSearch(supabase: SupabaseClient, productId: string): Promise<BrowserSearchResult> {
  return rpc(supabase, "request_browser_search", { p_product_id: productId });
}
