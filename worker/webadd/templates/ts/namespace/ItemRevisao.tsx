"use client";

import { useEffect, useRef, useState, type RefObject } from "react";
import type { Candidate, ReviewItem } from "./imagefill";
import { searchLinks } from "./searchLinks";

const SOURCE_LABELS: Record<Candidate["source"], string> = {
  openfoodfacts: "Open Food Facts",
  search_api: "Busca de imagens",
  browser: "Navegador",
  manual: "URL colada",
};

function confidence(value: number | null): string {
  return value === null || value === undefined ? "sem nota" : `${Math.round(Number(value) * 100)}%`;
}

export function ItemRevisao({
  item,
  selected,
  candidateIndex,
  pasteRef,
  onSelect,
  onChooseCandidate,
  onApprove,
  onReject,
  onPaste,
  onBrowserSearch,
}: {
  item: ReviewItem;
  selected: boolean;
  candidateIndex: number;
  pasteRef?: RefObject<HTMLInputElement | null>;
  onSelect: () => void;
  onChooseCandidate: (index: number) => void;
  onApprove: (url: string) => void;
  onReject: (retry: boolean) => void;
  onPaste: (url: string) => void;
  onBrowserSearch: () => void;
}) {
  const [url, setUrl] = useState("");
  const ref = useRef<HTMLLIElement>(null);
  useEffect(() => {
    if (selected) ref.current?.scrollIntoView({ block: "nearest" });
  }, [selected]);
  const chosen = Math.min(candidateIndex, Math.max(item.candidates.length - 1, 0));
  return (
    <li
      ref={ref}
      className={`item ${selected ? "selecionado" : ""}`}
      data-product-id={item.product_id}
      aria-current={selected ? "true" : undefined}
      onClick={onSelect}
    >
      <div className="produto">
        <h3>{item.name}</h3>
        <p>
          {item.brand ? <span className="marca">{item.brand}</span> : <span className="marca cinza">sem marca</span>}
          <span className="ean">EAN {item.ean ?? "—"}</span>
        </p>
        {item.last_error && <p className="ultimo-erro">Último erro: {item.last_error}</p>}
      </div>
      {item.candidates.length > 0 ? (
        <ul className="candidatas">
          {item.candidates.map((candidate, index) => (
            <li key={candidate.url} className={`candidata ${selected && index === chosen ? "escolhida" : ""}`}>
              <button
                type="button"
                className="foto"
                title="Escolher esta imagem"
                onClick={(event) => {
                  event.stopPropagation();
                  onChooseCandidate(index);
                }}
              >
                {/* eslint-disable-next-line @next/next/no-img-element -- any host; see next.config.ts */}
                <img src={candidate.url} alt={`Candidata ${index + 1} para ${item.name}`} loading="eager" />
                <span className="numero">{index + 1}</span>
              </button>
              <div className="meta">
                <span className="fonte">{SOURCE_LABELS[candidate.source] ?? candidate.source}</span>
                <span className="confianca">{confidence(candidate.confidence)}</span>
              </div>
              {candidate.reason && <p className="motivo">{candidate.reason}</p>}
              <button
                type="button"
                className="aprovar"
                onClick={(event) => {
                  event.stopPropagation();
                  onApprove(candidate.url);
                }}
              >
                Aprovar
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p className="sem-candidatas">Nenhuma candidata. Cole a URL de uma imagem ou busque no navegador.</p>
      )}
      <div className="acoes" onClick={(event) => event.stopPropagation()}>
        <button type="button" className="rejeitar" onClick={() => onReject(false)} disabled={item.candidates.length === 0}>
          Rejeitar
        </button>
        <button type="button" onClick={() => onReject(true)}>
          Rejeitar e tentar de novo
        </button>
        <form
          className="colar"
          onSubmit={(event) => {
            event.preventDefault();
            onPaste(url);
          }}
        >
          <input
            ref={pasteRef}
            type="url"
            placeholder="Colar URL da imagem"
            value={url}
            onChange={(event) => setUrl(event.target.value)}
            aria-label={`URL da imagem para ${item.name}`}
          />
          <button type="submit">Usar URL</button>
        </form>
        <button type="button" onClick={onBrowserSearch}>
          Buscar no navegador
        </button>
        <details className="links">
          <summary>Buscar eu mesmo</summary>
          <ul>
            {searchLinks(item).map((link) => (
              <li key={link.href}>
                <a href={link.href} target="_blank" rel="noreferrer noopener">
                  {link.label}
                </a>
              </li>
            ))}
          </ul>
        </details>
      </div>
    </li>
  );
}
