export function Atalhos() {
  return (
    <p className="atalhos" aria-label="Atalhos de teclado">
      <kbd>A</kbd> aprovar a melhor · <kbd>1</kbd>–<kbd>9</kbd> escolher candidata · <kbd>R</kbd> rejeitar ·{" "}
      <kbd>T</kbd> rejeitar e tentar de novo · <kbd>J</kbd>/<kbd>K</kbd> próximo/anterior · <kbd>U</kbd> colar URL ·{" "}
      <kbd>B</kbd> buscar no navegador
    </p>
  );
}
