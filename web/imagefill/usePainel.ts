// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
"use client";
/** The panel's state and behaviour: optimistic decisions, polling, keyboard. Components render it. */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError } from "./api";
import type { BatchProgress, CatalogueCounters, ReviewItem, ReviewPage } from "./imagefill";
import { useAoVivo, type ConfigAoVivo } from "./aoVivo";

export const PAGE_SIZE = 50;
const REVIEW_POLL_MS = 4000;
const PROGRESS_POLL_MS = 5000;
const PROGRESS_POLL_RUNNING_MS = 1000;
/** A decision the server may not show yet in a list fetched before it landed. */
const DECISION_MEMORY_MS = 15000;
export const DEFAULT_REJECT_REASON = "Imagem não corresponde ao produto";

export type Notice = { kind: "ok" | "erro"; text: string } | null;
type Decision = { action: "approved" | "retry" | "rejected" | "browser"; at: number };

function ordered(items: ReviewItem[]): ReviewItem[] {
  // Items someone can decide with one key first; those without candidates wait at the end.
  return [...items.filter((i) => i.candidates.length > 0), ...items.filter((i) => i.candidates.length === 0)];
}

function message(exc: unknown): string {
  return exc instanceof ApiError ? exc.message : "Erro inesperado. Tente de novo.";
}

/** `keyboard`: false while another list (the audit) is on screen and owns the keys. */
export function usePainel(
  initialCounters: CatalogueCounters,
  initialPage: ReviewPage,
  realtime: ConfigAoVivo | null = null,
  keyboard = true,
) {
  const [counters, setCounters] = useState(initialCounters);
  const [batch, setBatch] = useState<BatchProgress | null>(null);
  const [batchId, setBatchId] = useState<string | null>(null);
  const [serverItems, setServerItems] = useState<ReviewItem[]>(initialPage.items);
  const [total, setTotal] = useState(initialPage.total);
  const [decisions, setDecisions] = useState<Map<string, Decision>>(new Map());
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [candidateIndex, setCandidateIndex] = useState(0);
  const [notice, setNotice] = useState<Notice>(null);
  const [backfillBusy, setBackfillBusy] = useState(false);
  const pasteRef = useRef<HTMLInputElement | null>(null);

  const items = useMemo(() => {
    const now = Date.now();
    const visible: ReviewItem[] = [];
    for (const item of serverItems) {
      const decision = decisions.get(item.product_id);
      const fresh = decision && now - decision.at < DECISION_MEMORY_MS;
      if (fresh && (decision.action === "approved" || decision.action === "retry")) continue;
      if (fresh && decision.action === "rejected") visible.push({ ...item, candidates: [] });
      else visible.push(item);
    }
    return ordered(visible);
  }, [serverItems, decisions]);

  const selectedIndex = Math.max(
    0,
    items.findIndex((i) => i.product_id === selectedId),
  );
  const selected = items.length > 0 ? items[Math.min(selectedIndex, items.length - 1)] : null;

  const refreshReview = useCallback(async () => {
    try {
      const page = await api.review(PAGE_SIZE);
      setServerItems(page.items);
      setTotal(page.total);
    } catch (exc) {
      setNotice({ kind: "erro", text: message(exc) });
    }
  }, []);

  const refreshProgress = useCallback(async () => {
    try {
      const progress = await api.progress(batchId);
      setCounters(progress.catalogue);
      setBatch(progress.batch);
    } catch (exc) {
      setNotice({ kind: "erro", text: message(exc) });
    }
  }, [batchId]);

  const running = batch !== null && batch.done < batch.total;
  // Live (Realtime): each ping is answered with one fetch and nothing polls; otherwise, polling.
  const live = useAoVivo(realtime, (topic) => (topic === "progress" ? refreshProgress() : refreshReview()));
  useEffect(() => {
    if (live) return;
    const timer = setInterval(refreshProgress, running ? PROGRESS_POLL_RUNNING_MS : PROGRESS_POLL_MS);
    return () => clearInterval(timer);
  }, [refreshProgress, running, live]);
  useEffect(() => {
    if (live) return;
    const timer = setInterval(refreshReview, REVIEW_POLL_MS);
    return () => clearInterval(timer);
  }, [refreshReview, live]);
  useEffect(() => {
    // A batch that just finished changes the review list: fetch it now, not at the next tick.
    if (batch && batch.done === batch.total) void refreshReview();
  }, [batch, refreshReview]);

  const select = useCallback((id: string | null) => {
    setSelectedId(id);
    setCandidateIndex(0);
  }, []);

  const move = useCallback(
    (step: number) => {
      if (items.length === 0) return;
      const next = Math.min(Math.max(selectedIndex + step, 0), items.length - 1);
      select(items[next].product_id);
    },
    [items, selectedIndex, select],
  );

  /** The optimistic part: the item leaves (or changes) at once, the next one is selected. */
  const decide = useCallback(
    async (item: ReviewItem, action: Decision["action"], run: () => Promise<unknown>, done: string) => {
      const position = items.findIndex((i) => i.product_id === item.product_id);
      const after = items.filter((i) => i.product_id !== item.product_id);
      const following = after[Math.min(position, after.length - 1)] ?? null;
      setDecisions((prev) => new Map(prev).set(item.product_id, { action, at: Date.now() }));
      if (action !== "browser") select(following ? following.product_id : null);
      try {
        await run();
        setNotice({ kind: "ok", text: done });
        if (after.length < 10) void refreshReview();
      } catch (exc) {
        setDecisions((prev) => {
          const copy = new Map(prev);
          copy.delete(item.product_id);
          return copy;
        });
        select(item.product_id);
        setNotice({ kind: "erro", text: `${item.name}: ${message(exc)}` });
      }
    },
    [items, select, refreshReview],
  );

  const approve = useCallback(
    (item: ReviewItem, url: string) =>
      decide(item, "approved", () => api.approve(item.product_id, url), `Aprovada: ${item.name}. O worker está gravando a imagem.`),
    [decide],
  );
  const approveSelected = useCallback(() => {
    if (!selected || selected.candidates.length === 0) return;
    const candidate = selected.candidates[Math.min(candidateIndex, selected.candidates.length - 1)];
    void approve(selected, candidate.url);
  }, [selected, candidateIndex, approve]);

  const reject = useCallback(
    (item: ReviewItem, retry: boolean) =>
      decide(
        item,
        retry ? "retry" : "rejected",
        () => api.reject(item.product_id, DEFAULT_REJECT_REASON, retry),
        retry
          ? `Rejeitada: ${item.name}. Uma nova busca automática foi enfileirada.`
          : `Rejeitada: ${item.name}. Essas imagens não serão propostas de novo.`,
      ),
    [decide],
  );

  const pasteUrl = useCallback(
    (item: ReviewItem, url: string) => {
      const trimmed = url.trim();
      if (!trimmed) {
        setNotice({ kind: "erro", text: "Cole o endereço (URL) de uma imagem antes de aprovar." });
        return;
      }
      void approve(item, trimmed);
    },
    [approve],
  );

  const browserSearch = useCallback(
    (item: ReviewItem) =>
      decide(
        item,
        "browser",
        () => api.browserSearch(item.product_id),
        `Busca no navegador pedida para ${item.name}. As imagens encontradas aparecerão aqui como candidatas.`,
      ),
    [decide],
  );

  const startBackfill = useCallback(async (limit: number) => {
    setBackfillBusy(true);
    try {
      const result = await api.backfill(limit);
      if (result.batch_id) {
        setBatchId(result.batch_id);
        setNotice({ kind: "ok", text: `${result.enqueued} produtos enfileirados.` });
        const progress = await api.progress(result.batch_id);
        setCounters(progress.catalogue);
        setBatch(progress.batch);
      } else {
        setNotice({ kind: "ok", text: "Nenhum produto sem imagem com EAN válido para enfileirar." });
      }
    } catch (exc) {
      setNotice({ kind: "erro", text: message(exc) });
    } finally {
      setBackfillBusy(false);
    }
  }, []);

  useEffect(() => {
    if (!keyboard) return;
    function onKey(event: KeyboardEvent) {
      const target = event.target as HTMLElement | null;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) {
        if (event.key === "Escape") target.blur();
        return;
      }
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key.toLowerCase();
      if (key === "a" || key === "enter") approveSelected();
      else if (key === "r" && selected) void reject(selected, false);
      else if (key === "t" && selected) void reject(selected, true);
      else if (key === "j" || key === "arrowdown") move(1);
      else if (key === "k" || key === "arrowup") move(-1);
      else if (key === "u") pasteRef.current?.focus();
      else if (key === "b" && selected) void browserSearch(selected);
      else if (/^[1-9]$/.test(key) && selected && Number(key) <= selected.candidates.length)
        setCandidateIndex(Number(key) - 1);
      else return;
      event.preventDefault();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [keyboard, approveSelected, reject, move, browserSearch, selected]);

  // Keys pressed before hydration would be lost: the panel says when it listens (tests wait for it).
  const [ready, setReady] = useState(false);
  useEffect(() => setReady(true), []);

  return {
    ready,
    live,
    pollSeconds: (running ? PROGRESS_POLL_RUNNING_MS : REVIEW_POLL_MS) / 1000,
    counters,
    batch,
    items,
    total,
    selected,
    candidateIndex,
    notice,
    backfillBusy,
    pasteRef,
    select,
    setCandidateIndex,
    approve,
    reject,
    pasteUrl,
    browserSearch,
    startBackfill,
    dismissNotice: () => setNotice(null),
  };
}
