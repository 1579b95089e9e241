// Written by `imagefill web add`; a later run updates it unless you edited it (then it is kept).
"use client";

import { useEffect, useState } from "react";
import { api } from "./api";
import type { SpendSummary } from "./imagefill";

const REFRESH_MS = 60_000;

/** This month's spend per provider, read when the panel opens and once a minute after. `erro` is
 * for a person (pt-BR); the panel keeps working without it. */
export function useGastos(): { gastos: SpendSummary | null; erro: string | null } {
  const [gastos, setGastos] = useState<SpendSummary | null>(null);
  const [erro, setErro] = useState<string | null>(null);
  useEffect(() => {
    let ativo = true;
    const ler = () =>
      api
        .spend()
        .then((resumo) => {
          if (ativo) {
            setGastos(resumo);
            setErro(null);
          }
        })
        .catch((exc: Error) => {
          if (ativo) setErro(`Gastos indisponíveis: ${exc.message}`);
        });
    void ler();
    const timer = setInterval(ler, REFRESH_MS);
    return () => {
      ativo = false;
      clearInterval(timer);
    };
  }, []);
  return { gastos, erro };
}
