"use client";
import { useState } from "react";
import { usePainel } from "./usePainel";
import { useAuditoria } from "./useAuditoria";
import { ListaAuditoria } from "./ListaAuditoria";
import { PrecisaoMedida } from "./PrecisaoMedida";
import { Atalhos } from "./Atalhos";
import { Backfill } from "./Backfill";
import { Contadores } from "./Contadores";
import { Gastos } from "./Gastos";
import { ItemRevisao } from "./ItemRevisao";
export function Painel({ initialCounters, initialPage, userEmail, realtime = null, }) {
    const [aba, setAba] = useState("revisar");
    const painel = usePainel(initialCounters, initialPage, realtime, aba === "revisar");
    const auditoria = useAuditoria(aba === "auditar");
    return (<div className="painel" data-ready={painel.ready ? "true" : undefined}>
      <header className="topo">
        <h1>Monitoramento de imagens</h1>
        <span className="modo" data-testid="modo" data-mode={painel.live ? "live" : "poll"}>
          {painel.live ? "ao vivo" : `atualizando a cada ${painel.pollSeconds} s`}
        </span>
        <span className="usuario">{userEmail}</span>
      </header>
      <section className="faixa">
        <Backfill busy={painel.backfillBusy} batch={painel.batch} onStart={painel.startBackfill}/>
        <Contadores counters={painel.counters}/>
      </section>
      <Gastos />
      {painel.notice && (<div className={`aviso ${painel.notice.kind}`} role={painel.notice.kind === "erro" ? "alert" : "status"}>
          <span>{painel.notice.text}</span>
          <button type="button" onClick={painel.dismissNotice} aria-label="Fechar aviso">
            ×
          </button>
        </div>)}
      <div className="abas" role="tablist" aria-label="Listas do painel">
        <button type="button" role="tab" aria-selected={aba === "revisar"} onClick={() => setAba("revisar")}>
          Para revisar
        </button>
        <button type="button" role="tab" aria-selected={aba === "auditar"} onClick={() => setAba("auditar")}>
          Aprovadas automaticamente
        </button>
      </div>
      {aba === "auditar" && (<section className="revisao" aria-label="Aprovadas automaticamente">
          <h2>Aprovadas automaticamente</h2>
          <PrecisaoMedida figures={auditoria.figures}/>
          <ListaAuditoria mode={auditoria.mode} items={auditoria.items} loaded={auditoria.loaded} hasMore={auditoria.hasMore} selectedId={auditoria.selected?.approval_id ?? null} notice={auditoria.notice} onMode={auditoria.setMode} onSelect={(item) => auditoria.select(item.approval_id)} onConfirm={auditoria.confirm} onUndo={auditoria.undo} onMore={auditoria.loadMore} onDismiss={auditoria.dismissNotice}/>
        </section>)}
      <section className="revisao" hidden={aba !== "revisar"}>
        <div className="revisao-topo">
          <h2>
            Para revisar <span className="total">{painel.total}</span>
          </h2>
          <Atalhos />
        </div>
        {painel.items.length === 0 ? (<p className="vazio">Nada para revisar agora. 🎉</p>) : (<ol className="lista">
            {painel.items.map((item) => (<ItemRevisao key={item.product_id} item={item} selected={painel.selected?.product_id === item.product_id} candidateIndex={painel.selected?.product_id === item.product_id ? painel.candidateIndex : 0} pasteRef={painel.selected?.product_id === item.product_id ? painel.pasteRef : undefined} onSelect={() => painel.select(item.product_id)} onChooseCandidate={(index) => {
                    painel.select(item.product_id);
                    painel.setCandidateIndex(index);
                }} onApprove={(url) => painel.approve(item, url)} onReject={(retry) => painel.reject(item, retry)} onPaste={(url) => painel.pasteUrl(item, url)} onBrowserSearch={() => painel.browserSearch(item)}/>))}
          </ol>)}
      </section>
    </div>);
}
