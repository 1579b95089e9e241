"use client";

import type { CatalogueCounters, ReviewPage } from "./imagefill";
import type { ConfigAoVivo } from "./aoVivo";
import { usePainel } from "./usePainel";
import { Atalhos } from "./Atalhos";
import { Backfill } from "./Backfill";
import { Contadores } from "./Contadores";
import { ItemRevisao } from "./ItemRevisao";

export function Painel({
  initialCounters,
  initialPage,
  userEmail,
  realtime = null,
}: {
  initialCounters: CatalogueCounters;
  initialPage: ReviewPage;
  userEmail: string;
  realtime?: ConfigAoVivo | null;
}) {
  const painel = usePainel(initialCounters, initialPage, realtime);
  return (
    <div className="painel" data-ready={painel.ready ? "true" : undefined}>
      <header className="topo">
        <h1>Monitoramento de imagens</h1>
        <span className="modo" data-testid="modo" data-mode={painel.live ? "live" : "poll"}>
          {painel.live ? "ao vivo" : `atualizando a cada ${painel.pollSeconds} s`}
        </span>
        <span className="usuario">{userEmail}</span>
      </header>
      <section className="faixa">
        <Backfill busy={painel.backfillBusy} batch={painel.batch} onStart={painel.startBackfill} />
        <Contadores counters={painel.counters} />
      </section>
      {painel.notice && (
        <div className={`aviso ${painel.notice.kind}`} role={painel.notice.kind === "erro" ? "alert" : "status"}>
          <span>{painel.notice.text}</span>
          <button type="button" onClick={painel.dismissNotice} aria-label="Fechar aviso">
            ×
          </button>
        </div>
      )}
      <section className="revisao">
        <div className="revisao-topo">
          <h2>
            Para revisar <span className="total">{painel.total}</span>
          </h2>
          <Atalhos />
        </div>
        {painel.items.length === 0 ? (
          <p className="vazio">Nada para revisar agora. 🎉</p>
        ) : (
          <ol className="lista">
            {painel.items.map((item) => (
              <ItemRevisao
                key={item.product_id}
                item={item}
                selected={painel.selected?.product_id === item.product_id}
                candidateIndex={painel.selected?.product_id === item.product_id ? painel.candidateIndex : 0}
                pasteRef={painel.selected?.product_id === item.product_id ? painel.pasteRef : undefined}
                onSelect={() => painel.select(item.product_id)}
                onChooseCandidate={(index) => {
                  painel.select(item.product_id);
                  painel.setCandidateIndex(index);
                }}
                onApprove={(url) => painel.approve(item, url)}
                onReject={(retry) => painel.reject(item, retry)}
                onPaste={(url) => painel.pasteUrl(item, url)}
                onBrowserSearch={() => painel.browserSearch(item)}
              />
            ))}
          </ol>
        )}
      </section>
    </div>
  );
}
