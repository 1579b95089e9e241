export class ApiError extends Error {
    status;
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}
async function call(path, init) {
    let response;
    try {
        response = await fetch(path, {
            ...init,
            headers: { "Content-Type": "application/json", ...(init?.headers ?? {}) },
            cache: "no-store",
        });
    }
    catch {
        throw new ApiError(0, "Sem conexão com o servidor. Verifique a rede e tente de novo.");
    }
    const body = (await response.json().catch(() => null));
    if (!response.ok) {
        throw new ApiError(response.status, body?.error?.message ?? `Erro ${response.status} no servidor.`);
    }
    return body;
}
export const api = {
    review: (limit) => call(`/api/imagefill/review?limit=${limit}`),
    progress: (batchId) => call(`/api/imagefill/progress${batchId ? `?batch_id=${encodeURIComponent(batchId)}` : ""}`),
    backfill: (limit) => call(`/api/imagefill/backfill?limit=${encodeURIComponent(String(limit))}`, { method: "POST" }),
    approve: (productId, url) => call("/api/imagefill/approve", {
        method: "POST",
        body: JSON.stringify({ product_id: productId, url }),
    }),
    reject: (productId, reason, retry) => call("/api/imagefill/reject", {
        method: "POST",
        body: JSON.stringify({ product_id: productId, reason, retry }),
    }),
    spend: () => call("/api/imagefill/spend"),
    audit: (mode, limit, before = null) => call(`/api/imagefill/audit?mode=${mode}&limit=${limit}` +
        (before ? `&before_at=${encodeURIComponent(before.before_at)}&before_id=${before.before_id}` : "")),
    auditFigures: () => call("/api/imagefill/audit-figures"),
    confirmApproval: (approvalId) => call("/api/imagefill/audit-confirm", {
        method: "POST",
        body: JSON.stringify({ approval_id: approvalId }),
    }),
    undoApproval: (approvalId) => call("/api/imagefill/audit-undo", {
        method: "POST",
        body: JSON.stringify({ approval_id: approvalId }),
    }),
    browserSearch: (productId) => call("/api/imagefill/browser-search", {
        method: "POST",
        body: JSON.stringify({ product_id: productId }),
    }),
};
