/** The panel's calls to our own routes (same origin; the session travels in the cookies). */
import type {
  ApproveResult,
  AuditCursor,
  AuditFigures,
  AuditMode,
  AuditPage,
  AuditResult,
  BackfillResult,
  BatchProgress,
  BrowserSearchResult,
  CatalogueCounters,
  RejectResult,
  ReviewPage,
  SpendSummary,
} from "./imagefill";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, {
      ...init,
      headers: { "Content-Type": "application/json", ...(init?.headers ?? {}) },
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "Sem conexão com o servidor. Verifique a rede e tente de novo.");
  }
  const body = (await response.json().catch(() => null)) as { error?: { message?: string } } | null;
  if (!response.ok) {
    throw new ApiError(response.status, body?.error?.message ?? `Erro ${response.status} no servidor.`);
  }
  return body as T;
}

export const api = {
  review: (limit: number) => call<ReviewPage>(`/api/imagefill/review?limit=${limit}`),
  progress: (batchId: string | null) =>
    call<{ catalogue: CatalogueCounters; batch: BatchProgress | null }>(
      `/api/imagefill/progress${batchId ? `?batch_id=${encodeURIComponent(batchId)}` : ""}`,
    ),
  backfill: (limit: number) =>
    call<BackfillResult>(`/api/imagefill/backfill?limit=${encodeURIComponent(String(limit))}`, { method: "POST" }),
  approve: (productId: string, url: string) =>
    call<ApproveResult>("/api/imagefill/approve", {
      method: "POST",
      body: JSON.stringify({ product_id: productId, url }),
    }),
  reject: (productId: string, reason: string, retry: boolean) =>
    call<RejectResult>("/api/imagefill/reject", {
      method: "POST",
      body: JSON.stringify({ product_id: productId, reason, retry }),
    }),
  spend: () => call<SpendSummary>("/api/imagefill/spend"),
  audit: (mode: AuditMode, limit: number, before: AuditCursor | null = null) =>
    call<AuditPage>(
      `/api/imagefill/audit?mode=${mode}&limit=${limit}` +
        (before ? `&before_at=${encodeURIComponent(before.before_at)}&before_id=${before.before_id}` : ""),
    ),
  auditFigures: () => call<AuditFigures>("/api/imagefill/audit-figures"),
  confirmApproval: (approvalId: number) =>
    call<AuditResult>("/api/imagefill/audit-confirm", {
      method: "POST",
      body: JSON.stringify({ approval_id: approvalId }),
    }),
  undoApproval: (approvalId: number) =>
    call<AuditResult>("/api/imagefill/audit-undo", {
      method: "POST",
      body: JSON.stringify({ approval_id: approvalId }),
    }),
  browserSearch: (productId: string) =>
    call<BrowserSearchResult>("/api/imagefill/browser-search", {
      method: "POST",
      body: JSON.stringify({ product_id: productId }),
    }),
};
