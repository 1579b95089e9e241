// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
/**
 * The one module that calls Imagefill's RPCs (worker/sql/07_review_rpcs.sql, 40_browser_search.sql and
 * 70_approval_audit.sql).
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

/** This month's spend of one paid provider (worker/sql/66_spend_views.sql). */
export interface ProviderSpend {
  provider: string;
  month_usd: number;
  month_requests: number;
  day_usd: number;
  reserved_usd: number;
  monthly_requests_cap: number | null;
}

/** The spend against the caps the workers run with (null: no cap, or no worker started yet). */
export interface SpendSummary {
  providers: ProviderSpend[];
  monthly_usd_cap: number | null;
  daily_usd_cap: number | null;
  caps_recorded_at: string | null;
  month_resets_at: string;
  day_resets_at: string;
}

/** One automatic approval in the audit list (public.image_audit_queue). */
export interface AuditItem {
  approval_id: number;
  product_id: string;
  name: string;
  brand: string | null;
  ean: string | null;
  image_url: string;
  original_url: string | null;
  source: ImageSource;
  site: string | null;
  confidence: number;
  band: number;
  reason: string | null;
  approved_at: string;
  verdict: "confirmed" | "wrong" | null;
  audited_at: string | null;
  is_current: boolean;
  in_sample: boolean;
}

export type AuditMode = "sample" | "all";

export interface AuditCursor {
  before_at: string;
  before_id: number;
}

export interface AuditPage {
  items: AuditItem[];
  /** The next page's cursor; null on the last page. */
  next: AuditCursor | null;
}

export interface AuditResult {
  approval_id: number;
  product_id: string;
  verdict: "confirmed" | "wrong";
  superseded?: boolean;
  job_id?: string | null;
  status?: string;
}

/** One row of public.image_audit_precision(): source/band null = every source/band. */
export interface PrecisionRow {
  source: ImageSource | null;
  band: number | null;
  audited: number;
  correct: number;
  measured_precision: number;
  wilson_low: number;
  wilson_high: number;
}

/** One row of public.image_audit_threshold(): the audited approvals with confidence >= threshold. */
export interface ThresholdRow {
  threshold: number;
  audited: number;
  correct: number;
  wilson_low: number | null;
  target: number;
  meets_target: boolean;
}

export interface AuditFigures {
  precision: PrecisionRow[];
  threshold: ThresholdRow[];
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
 * cast error, 22P02) for bad input and P0002 for an unknown product, batch or approval. */
export function statusFor(code: string | undefined): number {
  if (!code) return 500;
  if (code === "42501") return 403;
  if (code === "PGRST301" || code === "PGRST302" || code === "PGRST303") return 401;
  if (code === "P0002") return 404;
  // The audit's refusals: undo of a person's approval (IF020), confirm after an undo (IF021).
  if (code === "IF020" || code === "IF021") return 409;
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

export function spendSummary(supabase: SupabaseClient): Promise<SpendSummary> {
  return rpc(supabase, "image_spend_summary", {});
}

export function requestBrowserSearch(supabase: SupabaseClient, productId: string): Promise<BrowserSearchResult> {
  return rpc(supabase, "request_browser_search", { p_product_id: productId });
}

export async function auditQueue(
  supabase: SupabaseClient,
  mode: AuditMode,
  limit = 50,
  before: AuditCursor | null = null,
): Promise<AuditPage> {
  const rows = await rpc<AuditItem[]>(supabase, "image_audit_queue", {
    p_mode: mode,
    p_limit: limit,
    ...(before ? { p_before_at: before.before_at, p_before_id: before.before_id } : {}),
  });
  const items = rows.map((row) => ({ ...row, product_id: String(row.product_id) }));
  const last = items[items.length - 1];
  return { items, next: items.length === limit && last ? { before_at: last.approved_at, before_id: last.approval_id } : null };
}

export function confirmAutoApproval(supabase: SupabaseClient, approvalId: number): Promise<AuditResult> {
  return rpc(supabase, "confirm_auto_approval", { p_approval_id: approvalId });
}

export function undoAutoApproval(
  supabase: SupabaseClient,
  approvalId: number,
  reason: string | null = null,
): Promise<AuditResult> {
  return rpc(supabase, "undo_auto_approval", { p_approval_id: approvalId, ...(reason ? { p_reason: reason } : {}) });
}

export async function auditFigures(supabase: SupabaseClient): Promise<AuditFigures> {
  const [precision, threshold] = await Promise.all([
    rpc<PrecisionRow[]>(supabase, "image_audit_precision", {}),
    rpc<ThresholdRow[]>(supabase, "image_audit_threshold", {}),
  ]);
  return { precision, threshold };
}
