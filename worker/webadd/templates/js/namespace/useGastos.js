"use client";
import { useEffect, useState } from "react";
import { api } from "./api";
const REFRESH_MS = 60_000;
/** This month's spend per provider, read when the panel opens and once a minute after. `erro` is
 * for a person (pt-BR); the panel keeps working without it. */
export function useGastos() {
    const [gastos, setGastos] = useState(null);
    const [erro, setErro] = useState(null);
    useEffect(() => {
        let ativo = true;
        const ler = () => api
            .spend()
            .then((resumo) => {
            if (ativo) {
                setGastos(resumo);
                setErro(null);
            }
        })
            .catch((exc) => {
            if (ativo)
                setErro(`Gastos indisponíveis: ${exc.message}`);
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
