"use client";
import { useState } from "react";
export function Backfill({ busy, batch, onStart, }) {
    const [limit, setLimit] = useState(50);
    const running = batch !== null && batch.done < batch.total;
    const pct = (n) => (batch && batch.total > 0 ? `${(100 * n) / batch.total}%` : "0%");
    return (<div className="backfill">
      <form onSubmit={(event) => {
            event.preventDefault();
            onStart(limit);
        }}>
        <label>
          Limite
          <input type="number" min={1} max={10000} value={limit} onChange={(event) => setLimit(Number(event.target.value))} aria-label="Limite de produtos do lote"/>
        </label>
        <button type="submit" disabled={busy || running}>
          {busy ? "Enfileirando…" : running ? "Lote em andamento…" : "Backfill imagens"}
        </button>
      </form>
      {batch && (<div className="lote" aria-label="Progresso do lote">
          <div className="barra" role="progressbar" aria-valuemin={0} aria-valuemax={batch.total} aria-valuenow={batch.done}>
            <span className="seg ok" style={{ width: pct(batch.ok) }}/>
            <span className="seg revisar" style={{ width: pct(batch.needs_review) }}/>
            <span className="seg erro" style={{ width: pct(batch.error) }}/>
          </div>
          <p className="lote-texto" data-testid="lote">
            {running ? "Processando" : "Lote concluído"}: {batch.done} de {batch.total} · ok {batch.ok} · revisar{" "}
            {batch.needs_review} · erro {batch.error}
            {running && ` · na fila ${batch.queued} · rodando ${batch.running}`}
          </p>
        </div>)}
    </div>);
}
