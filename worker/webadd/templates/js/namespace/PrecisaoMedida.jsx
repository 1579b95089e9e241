const SOURCE_LABELS = {
    openfoodfacts: "Open Food Facts",
    search_api: "Busca de imagens",
    browser: "Navegador",
    manual: "URL colada",
};
const PERCENT = new Intl.NumberFormat("pt-BR", { style: "percent", maximumFractionDigits: 1 });
const DECIMAL = new Intl.NumberFormat("pt-BR", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
function band(value) {
    if (value === null)
        return "todas";
    const start = Number(value);
    return `${DECIMAL.format(start)}–${DECIMAL.format(Math.min(start + 0.05, 1))}`;
}
function key(row) {
    return `${row.source ?? "todas"}:${row.band ?? "todas"}`;
}
/** The precision measured by the audits (Wilson 95 %) and the suggested threshold, never applied. */
export function PrecisaoMedida({ figures }) {
    if (!figures)
        return <p className="vazio">Carregando a precisão medida…</p>;
    const suggested = figures.threshold.find((row) => row.meets_target) ?? null;
    const target = figures.threshold[0]?.target ?? null;
    const total = figures.precision.find((row) => row.source === null && row.band === null);
    return (<div className="precisao">
      <h3>Precisão medida pelas auditorias</h3>
      {figures.precision.length === 0 ? (<p className="vazio">Nenhuma aprovação auditada ainda: confirme ou desfaça itens da amostra.</p>) : (<table aria-label="Precisão medida por fonte e faixa de confiança">
          <thead>
            <tr>
              <th scope="col">Fonte</th>
              <th scope="col">Confiança</th>
              <th scope="col">Auditadas</th>
              <th scope="col">Corretas</th>
              <th scope="col">Precisão</th>
              <th scope="col">Intervalo (Wilson 95 %)</th>
            </tr>
          </thead>
          <tbody>
            {figures.precision.map((row) => (<tr key={key(row)} data-source={row.source ?? "todas"} data-band={row.band === null ? "todas" : Number(row.band).toFixed(2)} className={row.source === null && row.band === null ? "geral" : undefined}>
                <td>{row.source ? (SOURCE_LABELS[row.source] ?? row.source) : "Todas as fontes"}</td>
                <td>{band(row.band)}</td>
                <td className="numero-tabela">{row.audited}</td>
                <td className="numero-tabela">{row.correct}</td>
                <td className="numero-tabela">{PERCENT.format(row.measured_precision)}</td>
                <td className="numero-tabela">
                  {PERCENT.format(row.wilson_low)} – {PERCENT.format(row.wilson_high)}
                </td>
              </tr>))}
          </tbody>
        </table>)}
      <p className="limiar" data-testid="limiar-sugerido">
        {suggested
            ? `Limiar sugerido: com ${DECIMAL.format(Number(suggested.threshold))} a precisão medida seria ≥ ${PERCENT.format(suggested.target)} com ${suggested.audited} auditadas.`
            : target !== null
                ? `Nenhum limiar atinge ${PERCENT.format(target)} de precisão com as auditorias até agora (${total?.audited ?? 0} auditadas): continue auditando.`
                : "Sem auditorias, sem sugestão de limiar."}{" "}
        <span className="cinza">É só uma sugestão: o limiar do worker não muda sozinho.</span>
      </p>
    </div>);
}
