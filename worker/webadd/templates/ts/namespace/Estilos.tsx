import { ESTILOS } from "./css";

/** The panel's stylesheet, inline (as HTML, so quotes in selectors are not escaped). */
export function Estilos() {
  return <style data-imagefill="" dangerouslySetInnerHTML={{ __html: ESTILOS }} />;
}
