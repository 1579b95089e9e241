const LABELS = [
    ["ok", "Com imagem", "ok"],
    ["needs_review", "Para revisar", "revisar"],
    ["error", "Com erro", "erro"],
    ["queued", "Na fila", ""],
    ["running", "Processando", ""],
    ["missing", "Sem imagem", ""],
    ["invalid_ean", "EAN inválido", "cinza"],
];
export function Contadores({ counters }) {
    return (<dl className="contadores" aria-label="Contadores do catálogo">
      {LABELS.map(([key, label, tone]) => (<div key={key} className={`contador ${tone}`} data-counter={key}>
          <dt>{label}</dt>
          <dd>{counters[key]}</dd>
        </div>))}
    </dl>);
}
