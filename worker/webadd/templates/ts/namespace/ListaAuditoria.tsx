"use client";

import { useEffect, useRef } from "react";
import type { AuditItem, AuditMode, ImageSource } from "./imagefill";
import type { AuditNotice } from "./useAuditoria";

const SOURCE_LABELS: Record<ImageSource, string> = {
  openfoodfacts: "Open Food Facts",
  search_api: "Busca de imagens",
  browser: "Navegador",
  manual: "URL colada",
};

const WHEN = new Intl.DateTimeFormat("pt-BR", { dateStyle: "short", timeStyle: "short" });

function source(item: AuditItem): string {
  const label = SOURCE_LABELS[item.source] ?? item.source;
  return item.site ? `${label} · ${item.site}` : label;
}

function verdictLabel(item: AuditItem): string | null {
  if (item.verdict === "confirmed") return "Confirmada";
  if (item.verdict === "wrong") return "Desfeita (errada)";
  if (!item.is_current) return "Substituída depois";
  return null;
}

function ItemAuditoria({
  item,
  selected,
  onSelect,
  onConfirm,
  onUndo,
}: {
  item: AuditItem;
  selected: boolean;
  onSelect: () => void;
  onConfirm: () => void;
  onUndo: () => void;
}) {
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (selected) ref.current?.scrollIntoView({ block: "nearest" });
  }, [selected]);
  const verdict = verdictLabel(item);
  return (
    <li
      ref={ref}
      className={`auditada ${selected ? "selecionado" : ""}`}
      data-approval-id={item.approval_id}
      data-product-id={item.product_id}
      data-verdict={item.verdict ?? undefined}
      aria-current={selected ? "true" : undefined}
      onClick={onSelect}
    >
      <div className="foto">
        {/* eslint-disable-next-line @next/next/no-img-element -- any host; see next.config.ts */}
        <img src={item.image_url} alt={`Imagem aprovada para ${item.name}`} loading="eager" />
      </div>
      <div className="produto">
        <h3>{item.name}</h3>
        <p>
          {item.brand ? <span className="marca">{item.brand}</span> : <span className="marca cinza">sem marca</span>}
          <span className="ean">EAN {item.ean ?? "—"}</span>
        </p>
      </div>
      <div className="julgamento">
        <p className="meta">
          <span className="fonte">{source(item)}</span>
          <span className="confianca">{Math.round(Number(item.confidence) * 100)}%</span>
        </p>
        {item.reason && <p className="motivo">{item.reason}</p>}
        <p className="quando">
          Aprovada em <time dateTime={item.approved_at}>{WHEN.format(new Date(item.approved_at))}</time>
        </p>
        {verdict && <p className={`veredito ${item.verdict ?? ""}`}>{verdict}</p>}
      </div>
      <div className="acoes" onClick={(event) => event.stopPropagation()}>
        <button type="button" className="confirmar" onClick={onConfirm} disabled={item.verdict !== null}>
          Confirmar
        </button>
        <button type="button" className="rejeitar" onClick={onUndo} disabled={item.verdict === "wrong"}>
          Errada (desfazer)
        </button>
      </div>
    </li>
  );
}

export function ListaAuditoria({
  mode,
  items,
  loaded,
  hasMore,
  selectedId,
  notice,
  onMode,
  onSelect,
  onConfirm,
  onUndo,
  onMore,
  onDismiss,
}: {
  mode: AuditMode;
  items: AuditItem[];
  loaded: boolean;
  hasMore: boolean;
  selectedId: number | null;
  notice: AuditNotice;
  onMode: (mode: AuditMode) => void;
  onSelect: (item: AuditItem) => void;
  onConfirm: (item: AuditItem) => void;
  onUndo: (item: AuditItem) => void;
  onMore: () => void;
  onDismiss: () => void;
}) {
  return (
    <div className="auditoria" data-loaded={loaded ? "true" : undefined}>
      <div className="revisao-topo">
        <div className="modos" role="group" aria-label="O que listar">
          <button type="button" aria-pressed={mode === "sample"} onClick={() => onMode("sample")}>
            Amostra a auditar
          </button>
          <button type="button" aria-pressed={mode === "all"} onClick={() => onMode("all")}>
            Todas
          </button>
        </div>
        <p className="atalhos" aria-label="Atalhos de teclado da auditoria">
          <kbd>C</kbd> confirmar · <kbd>X</kbd> errada (desfazer) · <kbd>J</kbd>/<kbd>K</kbd> próximo/anterior
        </p>
      </div>
      {notice && (
        <div className={`aviso ${notice.kind}`} role={notice.kind === "erro" ? "alert" : "status"}>
          <span>{notice.text}</span>
          <button type="button" onClick={onDismiss} aria-label="Fechar aviso">
            ×
          </button>
        </div>
      )}
      {!loaded ? (
        <p className="vazio">Carregando as aprovações automáticas…</p>
      ) : items.length === 0 ? (
        <p className="vazio">
          {mode === "sample" ? "Nada a auditar na amostra agora. 🎉" : "Nenhuma aprovação automática ainda."}
        </p>
      ) : (
        <ol className="lista">
          {items.map((item) => (
            <ItemAuditoria
              key={item.approval_id}
              item={item}
              selected={selectedId === item.approval_id}
              onSelect={() => onSelect(item)}
              onConfirm={() => onConfirm(item)}
              onUndo={() => onUndo(item)}
            />
          ))}
        </ol>
      )}
      {loaded && hasMore && (
        <button type="button" className="mais" onClick={onMore}>
          Carregar mais
        </button>
      )}
    </div>
  );
}
