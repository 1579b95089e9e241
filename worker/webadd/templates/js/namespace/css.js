/**
 * The panel's only styles. Every rule hangs from the one root class `.imagefill-painel`, so nothing here
 * reaches the host app. A string rendered in a <style> element rather than a CSS file: that works in
 * both routers and under any CSS pipeline the app configures (create-next-app 16.4's Tailwind rule
 * turns every *.css, CSS modules included, into global CSS). Light by default; dark with the system
 * setting or the app's own `dark` class (or data-theme) on <html>, light again when the app forces
 * `light`. Colours are chosen for >= 4.5:1 text contrast in both modes (checked in Chromium by
 * tests/browser/test_web_add_into_fresh_apps.py).
 */
export const RAIZ = "imagefill-painel";
export const ESTILOS = `
.imagefill-painel {
  --fundo: #f5f6f8;
  --cartao: #ffffff;
  --texto: #1d2430;
  --suave: #5d6778;
  --borda: #dde1e7;
  --link: #1f5fbf;
  --azul: #1f5fbf;
  --verde: #1a7a43;
  --amarelo: #8a5a00;
  --vermelho: #b3261e;
  --botao-azul: #1f5fbf;
  --botao-verde: #1a7a43;
  --no-botao: #ffffff;
  --barra: #e9ecf1;
  --selecao: #d6e4fa;
  --aviso-ok: #e6f4ec;
  --aviso-ok-borda: #b5dcc4;
  --aviso-erro: #fbe9e7;
  --aviso-erro-borda: #efbcb6;
  --aviso-erro-texto: #7d1f18;
  --foto: #ffffff;
  color-scheme: light;
  font-family: "DejaVu Sans", "Segoe UI", Roboto, Arial, sans-serif;
  font-size: 16px;
  line-height: 1.4;
  color: var(--texto);
  background: var(--fundo);
  min-height: 100%;
  text-align: left;
}

@media (prefers-color-scheme: dark) {
  .imagefill-painel {
    --fundo: #0f141b;
    --cartao: #19202a;
    --texto: #e8ecf2;
    --suave: #a9b3c2;
    --borda: #323c4a;
    --link: #7fb0ff;
    --azul: #7fb0ff;
    --verde: #5fd08e;
    --amarelo: #f0b429;
    --vermelho: #ff8a80;
    --botao-azul: #2f6fd0;
    --botao-verde: #1f7a44;
    --barra: #2a3340;
    --selecao: #23406e;
    --aviso-ok: #16321f;
    --aviso-ok-borda: #2d6a43;
    --aviso-erro: #3b1714;
    --aviso-erro-borda: #7d2d26;
    --aviso-erro-texto: #ffb4ab;
    color-scheme: dark;
  }
}

html.dark .imagefill-painel,
[data-theme="dark"] .imagefill-painel {
  --fundo: #0f141b;
  --cartao: #19202a;
  --texto: #e8ecf2;
  --suave: #a9b3c2;
  --borda: #323c4a;
  --link: #7fb0ff;
  --azul: #7fb0ff;
  --verde: #5fd08e;
  --amarelo: #f0b429;
  --vermelho: #ff8a80;
  --botao-azul: #2f6fd0;
  --botao-verde: #1f7a44;
  --barra: #2a3340;
  --selecao: #23406e;
  --aviso-ok: #16321f;
  --aviso-ok-borda: #2d6a43;
  --aviso-erro: #3b1714;
  --aviso-erro-borda: #7d2d26;
  --aviso-erro-texto: #ffb4ab;
  color-scheme: dark;
}

html.light .imagefill-painel,
[data-theme="light"] .imagefill-painel {
  --fundo: #f5f6f8;
  --cartao: #ffffff;
  --texto: #1d2430;
  --suave: #5d6778;
  --borda: #dde1e7;
  --link: #1f5fbf;
  --azul: #1f5fbf;
  --verde: #1a7a43;
  --amarelo: #8a5a00;
  --vermelho: #b3261e;
  --botao-azul: #1f5fbf;
  --botao-verde: #1a7a43;
  --barra: #e9ecf1;
  --selecao: #d6e4fa;
  --aviso-ok: #e6f4ec;
  --aviso-ok-borda: #b5dcc4;
  --aviso-erro: #fbe9e7;
  --aviso-erro-borda: #efbcb6;
  --aviso-erro-texto: #7d1f18;
  color-scheme: light;
}

.imagefill-painel *,
.imagefill-painel *::before,
.imagefill-painel *::after {
  box-sizing: border-box;
}
.imagefill-painel h1,
.imagefill-painel h2,
.imagefill-painel h3,
.imagefill-painel p,
.imagefill-painel dd,
.imagefill-painel dt,
.imagefill-painel span,
.imagefill-painel label,
.imagefill-painel summary {
  color: inherit;
}
.imagefill-painel h1,
.imagefill-painel h2,
.imagefill-painel h3 {
  font-weight: 700;
  line-height: 1.25;
}
.imagefill-painel a {
  color: var(--link);
  text-decoration: underline;
}
.imagefill-painel button {
  font: inherit;
  color: var(--texto);
  border: 1px solid var(--borda);
  background: var(--cartao);
  border-radius: 6px;
  padding: 6px 12px;
  cursor: pointer;
}
.imagefill-painel button:disabled {
  opacity: 0.7;
  cursor: default;
}
.imagefill-painel input {
  font: inherit;
  color: var(--texto);
  background: var(--cartao);
  padding: 6px 8px;
  border: 1px solid var(--borda);
  border-radius: 6px;
}
.imagefill-painel kbd {
  font: 12px/1 "DejaVu Sans Mono", monospace;
  color: var(--texto);
  border: 1px solid var(--borda);
  border-bottom-width: 2px;
  border-radius: 4px;
  padding: 2px 5px;
  background: var(--cartao);
}
.imagefill-painel .pagina { max-width: 1280px; margin: 0 auto; padding: 20px; }
.imagefill-painel .topo { display: flex; justify-content: space-between; align-items: baseline; }
.imagefill-painel .topo h1 { margin: 0 0 12px; font-size: 24px; }
.imagefill-painel .usuario { color: var(--suave); font-size: 14px; }
.imagefill-painel .modo { color: var(--suave); font-size: 13px; margin-left: auto; margin-right: 16px; }
.imagefill-painel .faixa { display: grid; grid-template-columns: minmax(280px, 1fr) 2fr; gap: 16px; align-items: start; }
.imagefill-painel .backfill,
.imagefill-painel .contadores,
.imagefill-painel .revisao,
.imagefill-painel .recusa {
  color: var(--texto); background: var(--cartao); border: 1px solid var(--borda); border-radius: 10px; padding: 14px;
}
.imagefill-painel .backfill form { display: flex; gap: 10px; align-items: end; }
.imagefill-painel .backfill label { display: flex; flex-direction: column; font-size: 13px; color: var(--suave); }
.imagefill-painel .backfill input { width: 90px; }
.imagefill-painel .backfill button[type="submit"] {
  background: var(--botao-azul); color: var(--no-botao); border-color: var(--botao-azul); font-weight: 600;
}
.imagefill-painel .barra { display: flex; height: 12px; background: var(--barra); border-radius: 6px; overflow: hidden; margin-top: 12px; }
.imagefill-painel .seg { transition: width 0.3s; }
.imagefill-painel .seg.ok { background: var(--verde); }
.imagefill-painel .seg.revisar { background: var(--amarelo); }
.imagefill-painel .seg.erro { background: var(--vermelho); }
.imagefill-painel .lote-texto { margin: 6px 0 0; font-size: 14px; }
.imagefill-painel .contadores { display: grid; grid-template-columns: repeat(7, 1fr); gap: 8px; margin: 0; }
.imagefill-painel .contador { text-align: center; }
.imagefill-painel .contador dt { font-size: 12px; color: var(--suave); }
.imagefill-painel .contador dd { margin: 2px 0 0; font-size: 26px; font-weight: 700; color: var(--texto); }
.imagefill-painel .contador.ok dd { color: var(--verde); }
.imagefill-painel .contador.revisar dd { color: var(--amarelo); }
.imagefill-painel .contador.erro dd { color: var(--vermelho); }
.imagefill-painel .contador.cinza dd { color: var(--suave); }
.imagefill-painel .aviso {
  display: flex; justify-content: space-between; gap: 12px; margin: 12px 0 0; padding: 10px 14px;
  border-radius: 8px; font-size: 15px; color: var(--texto);
}
.imagefill-painel .aviso.ok { background: var(--aviso-ok); border: 1px solid var(--aviso-ok-borda); }
.imagefill-painel .aviso.erro {
  background: var(--aviso-erro); border: 1px solid var(--aviso-erro-borda); color: var(--aviso-erro-texto); font-weight: 600;
}
.imagefill-painel .aviso button { border: 0; background: transparent; color: inherit; font-size: 18px; padding: 0 4px; }
.imagefill-painel .revisao { margin-top: 16px; }
.imagefill-painel .revisao-topo { display: flex; justify-content: space-between; align-items: baseline; gap: 16px; flex-wrap: wrap; }
.imagefill-painel .revisao h2 { margin: 0; font-size: 20px; }
.imagefill-painel .total {
  background: var(--amarelo); color: var(--cartao); border-radius: 12px; padding: 1px 10px; font-size: 15px;
}
.imagefill-painel .atalhos { margin: 0; color: var(--suave); font-size: 13px; }
.imagefill-painel .vazio { color: var(--suave); font-size: 16px; }
.imagefill-painel .gastos { margin: 0 0 12px; font-size: 14px; color: var(--suave); }
.imagefill-painel .lista { list-style: none; margin: 12px 0 0; padding: 0; display: flex; flex-direction: column; gap: 12px; }
.imagefill-painel .item {
  border: 2px solid var(--borda); border-radius: 10px; padding: 12px; display: grid;
  grid-template-columns: 320px 1fr; grid-template-areas: "produto candidatas" "acoes candidatas";
  grid-template-rows: auto 1fr; gap: 8px 16px;
}
.imagefill-painel .item.selecionado { border-color: var(--azul); box-shadow: 0 0 0 3px var(--selecao); }
.imagefill-painel .produto { grid-area: produto; }
.imagefill-painel .produto h3 { margin: 0 0 6px; font-size: 17px; }
.imagefill-painel .produto p { margin: 0; display: flex; flex-direction: column; gap: 2px; font-size: 14px; }
.imagefill-painel .marca { font-weight: 600; }
.imagefill-painel .cinza { color: var(--suave); font-weight: normal; }
.imagefill-painel .ean { font-family: "DejaVu Sans Mono", monospace; color: var(--suave); }
.imagefill-painel .ultimo-erro { color: var(--vermelho); margin-top: 6px !important; }
.imagefill-painel .candidatas {
  grid-area: candidatas; list-style: none; margin: 0; padding: 0; display: flex; gap: 12px; flex-wrap: wrap;
}
.imagefill-painel .candidata { width: 180px; display: flex; flex-direction: column; gap: 4px; }
.imagefill-painel .candidata .foto {
  position: relative; padding: 0; width: 180px; height: 180px; background: var(--foto); border: 2px solid var(--borda);
  color: #1d2430; /* a picture that fails to load shows its alt text on the white box, in both modes */
  display: flex; align-items: center; justify-content: center; overflow: hidden;
}
.imagefill-painel .candidata.escolhida .foto { border: 3px solid var(--verde); }
.imagefill-painel .candidata img { max-width: 100%; max-height: 100%; object-fit: contain; }
.imagefill-painel .numero {
  position: absolute; top: 4px; left: 4px; background: rgba(29, 36, 48, 0.85); color: #ffffff; border-radius: 4px;
  font-size: 12px; padding: 1px 6px;
}
.imagefill-painel .meta { display: flex; justify-content: space-between; font-size: 13px; }
.imagefill-painel .fonte { color: var(--suave); }
.imagefill-painel .confianca { font-weight: 700; }
.imagefill-painel .motivo { margin: 0; font-size: 12px; color: var(--suave); line-height: 1.3; }
.imagefill-painel button.aprovar {
  background: var(--botao-verde); color: var(--no-botao); border-color: var(--botao-verde); font-weight: 600;
}
.imagefill-painel .sem-candidatas { grid-area: candidatas; color: var(--suave); margin: 0; align-self: center; }
.imagefill-painel .acoes {
  grid-area: acoes; display: flex; gap: 6px; align-items: flex-start; flex-wrap: wrap; align-content: flex-start;
}
.imagefill-painel .acoes button { font-size: 14px; padding: 5px 10px; }
.imagefill-painel .acoes button.rejeitar { color: var(--vermelho); border-color: var(--aviso-erro-borda); }
.imagefill-painel .colar { display: flex; gap: 6px; width: 100%; }
.imagefill-painel .colar input { flex: 1; min-width: 0; font-size: 14px; }
.imagefill-painel .links summary { cursor: pointer; color: var(--link); font-size: 14px; }
.imagefill-painel .links ul { margin: 6px 0 0; padding-left: 18px; font-size: 14px; list-style: disc; }
.imagefill-painel .abas { display: flex; gap: 6px; margin-top: 16px; }
.imagefill-painel .abas button[aria-selected="true"],
.imagefill-painel .modos button[aria-pressed="true"] {
  background: var(--botao-azul); color: var(--no-botao); border-color: var(--botao-azul); font-weight: 600;
}
.imagefill-painel .revisao > h2 { margin: 0 0 10px; }
.imagefill-painel .modos { display: flex; gap: 6px; }
.imagefill-painel .precisao { margin: 0 0 14px; }
.imagefill-painel .precisao h3 { margin: 0 0 8px; font-size: 16px; }
.imagefill-painel .precisao table { border-collapse: collapse; font-size: 14px; color: var(--texto); }
.imagefill-painel .precisao th,
.imagefill-painel .precisao td { border-bottom: 1px solid var(--borda); padding: 4px 10px; text-align: left; color: var(--texto); }
.imagefill-painel .precisao th { color: var(--suave); font-weight: 600; }
.imagefill-painel .precisao tr.geral td { font-weight: 700; }
.imagefill-painel .numero-tabela { text-align: right; font-variant-numeric: tabular-nums; }
.imagefill-painel .limiar { margin: 8px 0 0; font-size: 14px; }
.imagefill-painel .auditoria .aviso { margin-bottom: 8px; }
.imagefill-painel .auditada {
  border: 2px solid var(--borda); border-radius: 10px; padding: 12px; display: grid;
  grid-template-columns: 180px 300px 1fr; grid-template-areas: "foto produto julgamento" "foto acoes julgamento";
  grid-template-rows: auto 1fr; gap: 8px 16px;
}
.imagefill-painel .auditada.selecionado { border-color: var(--azul); box-shadow: 0 0 0 3px var(--selecao); }
.imagefill-painel .auditada .foto {
  grid-area: foto; width: 180px; height: 180px; background: var(--foto); border: 2px solid var(--borda);
  border-radius: 6px; color: #1d2430; display: flex; align-items: center; justify-content: center; overflow: hidden;
}
.imagefill-painel .auditada .foto img { max-width: 100%; max-height: 100%; object-fit: contain; }
.imagefill-painel .julgamento { grid-area: julgamento; display: flex; flex-direction: column; gap: 4px; }
.imagefill-painel .julgamento p { margin: 0; }
.imagefill-painel .quando { font-size: 13px; color: var(--suave); }
.imagefill-painel .veredito { font-weight: 700; color: var(--verde); }
.imagefill-painel .veredito.wrong { color: var(--vermelho); }
.imagefill-painel button.confirmar {
  background: var(--botao-verde); color: var(--no-botao); border-color: var(--botao-verde); font-weight: 600;
}
.imagefill-painel button.mais { margin-top: 12px; }
.imagefill-painel .recusa { max-width: 560px; margin: 60px auto; }
.imagefill-painel .recusa h1 { margin-top: 0; color: var(--vermelho); font-size: 22px; }
.imagefill-painel .carregando { color: var(--suave); }
`;
