"use client";

import type { ProviderSpend, SpendSummary } from "./imagefill";
import { useGastos } from "./useGastos";

function usd(value: number | string): string {
  return `US$ ${Number(value).toFixed(2)}`;
}

function data(instant: string): string {
  return new Date(instant).toLocaleDateString("pt-BR", { timeZone: "UTC" });
}

function provedor(p: ProviderSpend): string {
  const cota = p.monthly_requests_cap != null ? ` de ${p.monthly_requests_cap}` : "";
  return `${p.provider} ${usd(p.month_usd)} (${p.month_requests}${cota} requisições)`;
}

/** This month's spend per paid provider against the caps (BUDGET_MONTHLY_USD, BUDGET_DAILY_USD). */
export function Gastos() {
  const { gastos, erro } = useGastos();
  if (erro) return <p className="gastos erro" role="status">{erro}</p>;
  if (!gastos) return null;
  return <p className="gastos" aria-label="Gastos do mês">{linha(gastos)}</p>;
}

function linha(gastos: SpendSummary): string {
  const total = gastos.providers.reduce((soma, p) => soma + Number(p.month_usd), 0);
  const teto =
    gastos.monthly_usd_cap != null
      ? `de ${usd(gastos.monthly_usd_cap)} (teto do mês; renova em ${data(gastos.month_resets_at)})`
      : "sem teto mensal";
  const atingido = gastos.monthly_usd_cap != null && total >= Number(gastos.monthly_usd_cap);
  const porProvedor = gastos.providers.length > 0 ? ` — ${gastos.providers.map(provedor).join(" · ")}` : "";
  const aviso = atingido ? " Teto atingido: as etapas pagas esperam a renovação; para seguir antes, aumente BUDGET_MONTHLY_USD." : "";
  return `Gasto no mês: ${usd(total)} ${teto}${porProvedor}.${aviso}`;
}
