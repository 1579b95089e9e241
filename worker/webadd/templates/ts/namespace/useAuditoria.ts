"use client";
/** The audit list's state and behaviour ("Aprovadas automaticamente"): the same optimistic decisions
 * as the review list (the selection moves to the next item at once, the RPC runs in the background),
 * the precision figures refreshed after the decisions land. Components render it. */
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { api, ApiError } from "./api";
import type { AuditCursor, AuditFigures, AuditItem, AuditMode } from "./imagefill";

export const AUDIT_PAGE_SIZE = 50;
const AUDIT_POLL_MS = 10000;
/** A verdict the server may not show yet in a list fetched before it landed. */
const DECISION_MEMORY_MS = 15000;
/** The figures are fetched once a run of quick decisions pauses, not after each one. */
const FIGURES_AFTER_DECISIONS_MS = 700;

export type AuditNotice = { kind: "ok" | "erro"; text: string } | null;
type Verdict = "confirmed" | "wrong";
type Decision = { verdict: Verdict; at: number };

function message(exc: unknown): string {
  return exc instanceof ApiError ? exc.message : "Erro inesperado. Tente de novo.";
}

/** `active`: the list is the one on screen, so it owns the keyboard and refreshes itself. */
export function useAuditoria(active: boolean) {
  const [mode, setModeState] = useState<AuditMode>("sample");
  const [serverItems, setServerItems] = useState<AuditItem[]>([]);
  const [next, setNext] = useState<AuditCursor | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [figures, setFigures] = useState<AuditFigures | null>(null);
  const [decisions, setDecisions] = useState<Map<number, Decision>>(new Map());
  const [selectedId, setSelectedId] = useState<number | null>(null);
  const [notice, setNotice] = useState<AuditNotice>(null);

  const items = useMemo(() => {
    const now = Date.now();
    const visible: AuditItem[] = [];
    for (const item of serverItems) {
      const decision = decisions.get(item.approval_id);
      const fresh = decision && now - decision.at < DECISION_MEMORY_MS;
      // The sample lists what is still to audit: a decided item leaves it. "Todas" keeps it, marked.
      if (fresh && mode === "sample") continue;
      visible.push(fresh ? { ...item, verdict: decision.verdict, is_current: decision.verdict !== "wrong" && item.is_current } : item);
    }
    return visible;
  }, [serverItems, decisions, mode]);

  const selectedIndex = Math.max(
    0,
    items.findIndex((i) => i.approval_id === selectedId),
  );
  const selected = items.length > 0 ? items[Math.min(selectedIndex, items.length - 1)] : null;

  // A refresh reads as many rows as are loaded (up to the RPC's 200), so pages added with
  // "Carregar mais" stay and the selection is not lost under the operator.
  const loadedCount = useRef(0);
  loadedCount.current = serverItems.length;
  const refreshList = useCallback(async (which: AuditMode) => {
    try {
      const page = await api.audit(which, Math.min(200, Math.max(AUDIT_PAGE_SIZE, loadedCount.current)));
      setServerItems(page.items);
      setNext(page.next);
      setLoaded(true);
    } catch (exc) {
      setNotice({ kind: "erro", text: message(exc) });
    }
  }, []);

  const refreshFigures = useCallback(async () => {
    try {
      setFigures(await api.auditFigures());
    } catch (exc) {
      setNotice({ kind: "erro", text: message(exc) });
    }
  }, []);

  const figuresTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshFiguresSoon = useCallback(() => {
    if (figuresTimer.current) clearTimeout(figuresTimer.current);
    figuresTimer.current = setTimeout(() => void refreshFigures(), FIGURES_AFTER_DECISIONS_MS);
  }, [refreshFigures]);
  useEffect(
    () => () => {
      if (figuresTimer.current) clearTimeout(figuresTimer.current);
    },
    [],
  );

  useEffect(() => {
    if (!active) return;
    void refreshList(mode);
    void refreshFigures();
    const timer = setInterval(() => {
      void refreshList(mode);
      void refreshFigures();
    }, AUDIT_POLL_MS);
    return () => clearInterval(timer);
  }, [active, mode, refreshList, refreshFigures]);

  const setMode = useCallback((which: AuditMode) => {
    setModeState(which);
    setLoaded(false);
    setServerItems([]);
    setSelectedId(null);
  }, []);

  const loadMore = useCallback(async () => {
    if (!next) return;
    try {
      const page = await api.audit(mode, AUDIT_PAGE_SIZE, next);
      setServerItems((prev) => [...prev, ...page.items]);
      setNext(page.next);
    } catch (exc) {
      setNotice({ kind: "erro", text: message(exc) });
    }
  }, [mode, next]);

  const move = useCallback(
    (step: number) => {
      if (items.length === 0) return;
      const target = Math.min(Math.max(selectedIndex + step, 0), items.length - 1);
      setSelectedId(items[target].approval_id);
    },
    [items, selectedIndex],
  );

  /** The optimistic part: the next item is selected at once; the verdict is sent in the background. */
  const decide = useCallback(
    async (item: AuditItem, verdict: Verdict) => {
      const position = items.findIndex((i) => i.approval_id === item.approval_id);
      const after = mode === "sample" ? items.filter((i) => i.approval_id !== item.approval_id) : items;
      const following = mode === "sample" ? after[Math.min(position, after.length - 1)] : after[position + 1];
      setDecisions((prev) => new Map(prev).set(item.approval_id, { verdict, at: Date.now() }));
      setSelectedId(following ? following.approval_id : item.approval_id);
      try {
        if (verdict === "confirmed") {
          await api.confirmApproval(item.approval_id);
          setNotice({ kind: "ok", text: `Confirmada: ${item.name}.` });
        } else {
          const result = await api.undoApproval(item.approval_id);
          setNotice({
            kind: "ok",
            text: result.superseded
              ? `Marcada como errada: ${item.name}. O produto já tinha uma imagem mais nova, que foi mantida.`
              : `Desfeita: ${item.name}. A imagem saiu do catálogo e o produto voltou para a busca automática.`,
          });
        }
        refreshFiguresSoon();
        if (mode === "sample" && after.length < 10) void refreshList(mode);
      } catch (exc) {
        setDecisions((prev) => {
          const copy = new Map(prev);
          copy.delete(item.approval_id);
          return copy;
        });
        setSelectedId(item.approval_id);
        setNotice({ kind: "erro", text: `${item.name}: ${message(exc)}` });
      }
    },
    [items, mode, refreshFiguresSoon, refreshList],
  );

  const confirm = useCallback((item: AuditItem) => decide(item, "confirmed"), [decide]);
  const undo = useCallback((item: AuditItem) => decide(item, "wrong"), [decide]);

  useEffect(() => {
    if (!active) return;
    function onKey(event: KeyboardEvent) {
      const target = event.target as HTMLElement | null;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const key = event.key.toLowerCase();
      if (key === "c" && selected) void confirm(selected);
      else if (key === "x" && selected) void undo(selected);
      else if (key === "j" || key === "arrowdown") move(1);
      else if (key === "k" || key === "arrowup") move(-1);
      else return;
      event.preventDefault();
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [active, selected, confirm, undo, move]);

  return {
    mode,
    setMode,
    items,
    loaded,
    hasMore: next !== null,
    loadMore,
    figures,
    selected,
    select: setSelectedId,
    confirm,
    undo,
    notice,
    dismissNotice: () => setNotice(null),
  };
}
